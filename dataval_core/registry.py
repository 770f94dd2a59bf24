"""Name → valuator registry.

Entries are dotted paths, so listing methods imports nothing heavy (no torch);
the class is imported on :func:`get_valuator`. Each method is documented in docs/methods.md.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .valuator import BaseValuator


@dataclass(frozen=True)
class ValuatorSpec:
    name: str
    target: str  # "module:ClassName"
    summary: str

    def load(self) -> type[BaseValuator]:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


_REGISTRY: dict[str, ValuatorSpec] = {}


def register(name: str, target: str, summary: str) -> ValuatorSpec:
    """Add a method; a duplicate name is an error."""
    if name in _REGISTRY:
        raise ValueError(f"A valuator named {name!r} is already registered.")
    spec = ValuatorSpec(name, target, summary)
    _REGISTRY[name] = spec
    return spec


def list_valuators() -> list[ValuatorSpec]:
    return list(_REGISTRY.values())


def get_spec(name: str) -> ValuatorSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(_REGISTRY)
        raise ValueError(f"Unknown method {name!r}; available methods: {valid}.") from None


def get_valuator(name: str, params: Any = None, *, seed: int = 0, backend: Any = None):
    """An instance of the named method with the given parameters (validated at fit);
    ``backend`` is where it runs its tasks (see ``dataval_core.backend``)."""
    return get_spec(name).load()(params, seed=seed, backend=backend)


def local_only_note(method: str) -> str | None:
    """One line for a user who sends ``method`` (registry name) to a cluster: None when the method hands
    its tasks to the backend, else that it computes in this process and which methods do not."""
    if get_spec(method).load().uses_backend:
        return None
    spread = ", ".join(s.name for s in list_valuators() if s.load().uses_backend)
    return (f"{method} has no tasks to spread and computes on this machine; the cluster runs only the "
            f"pretrained image embeddings for it (methods that use the cluster: {spread}).")


_M = "dataval_core.methods"
register("random", f"{_M}.baselines:RandomValuator", "Uniform random values: the floor every method is shown against.")
register("knn_shapley", f"{_M}.knn_shapley:KNNShapleyValuator",
         "Exact KNN-Shapley (Jia et al. 2019) against the target set; fast, strong baseline.")
register("data_oob", f"{_M}.baselines:DataOOBValuator",
         "Data-OOB (Kwon & Zou 2023): out-of-bag correctness over bagged models; needs no target.")
register("lossval", f"{_M}.lossval:LossValValuator",
         "LossVal (Wibiral et al. 2024): per-sample weights trained jointly with the model "
         "(weighted loss × Sinkhorn²).")
register("dvgs", f"{_M}.dvgs:DVGSValuator",
         "DVGS (Evans et al. 2024): gradient similarity to the target along training on the target; autoencoder mode.")
register("dvemb", f"{_M}.dvemb:DVEmbValuator",
         "Data Value Embedding (Wang et al. 2025): trajectory-specific leave-one-out influence, by training phase.")
register("lava", f"{_M}.lava:LavaValuator",
         "LAVA (Just et al. 2023): calibrated gradient of the OT distance to the target set; dense, exact.")
register("sava", f"{_M}.sava:SavaValuator",
         "SAVA (Kessler et al. 2025): LAVA by hierarchical OT over batch pairs; memory flat in N, streams from disk.")
register("self_confidence", f"{_M}.self_confidence:SelfConfidenceValuator",
         "Cross-validated model's probability of each row's own label (the cleanlab idea); needs no target.")
register("consensus", f"{_M}.consensus:ConsensusValuator",
         "Recommended: a portfolio (knn_shapley, data_oob, dvgs, sava) weighted by a self-probe with injected flips.")
