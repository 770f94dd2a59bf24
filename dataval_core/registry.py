"""Name → valuator registry: one line per method.

Entries are dotted paths, so listing methods imports nothing heavy (no torch); the class is
imported when it is used or described (:meth:`ValuatorSpec.load`). What a method is (summary,
what a low value means, tasks, whether it needs a reference, cost) lives on its class
(:class:`~dataval_core.valuator.BaseValuator`), where the CLI, the app and docs/methods.md read it.
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

    def load(self) -> type[BaseValuator]:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


_REGISTRY: dict[str, ValuatorSpec] = {}


def register(name: str, target: str) -> ValuatorSpec:
    """Add a method; a duplicate name is an error."""
    if name in _REGISTRY:
        raise ValueError(f"A valuator named {name!r} is already registered.")
    spec = ValuatorSpec(name, target)
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


def get_valuator(name: str, params: Any = None, *, seed: int = 0, backend: Any = None) -> BaseValuator:
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
register("random", f"{_M}.baselines:RandomValuator")
register("knn_shapley", f"{_M}.knn_shapley:KNNShapleyValuator")
register("data_oob", f"{_M}.baselines:DataOOBValuator")
register("lossval", f"{_M}.lossval:LossValValuator")
register("dvgs", f"{_M}.dvgs:DVGSValuator")
register("dvemb", f"{_M}.dvemb:DVEmbValuator")
register("lava", f"{_M}.lava:LavaValuator")
register("sava", f"{_M}.sava:SavaValuator")
register("self_confidence", f"{_M}.self_confidence:SelfConfidenceValuator")
register("consensus", f"{_M}.consensus:ConsensusValuator")
