"""Fidelity of Data Value Embedding against the exact trajectory-specific leave-one-out.

For one SGD run (same init, same batch order) and every occurrence (sample z, epoch e):
retrain with z dropped from its batch in epoch e only, all other batches unchanged, and
measure the change of the mean target loss at the final model,

    TSLOO(z, e) = L_target(θ'_T) − L_target(θ_T)      (positive: removing z hurts, z helps).

DVEmb's estimate of the same quantity is ``Trajectory.contribution`` of that occurrence.
Also checked: removal from every epoch (the sample's value, sum of its occurrences).

Step size convention. DVEmb unrolls SGD on the *summed* batch loss with η_t = lr/|B_t|
(``dvemb.py``), so the main comparison keeps η_t = lr/|B_t| and simply omits z from the
sum. The variant "mean over the rest" re-normalises by |B_t| − 1 (the mean batch loss of
the remaining samples); it also rescales the other samples' steps, which DVEmb does not
model, and is reported as a secondary column.

Exact LOO runs are cheap here: the unperturbed run is replayed with ``torch.func`` (float64)
saving θ_t at every step; the runs that drop a member of step s's batch all restart from
θ_s, and are vmapped together (one model copy per dropped member) to the end.

    python benchmarks/fidelity_dvemb.py                      # all configurations, 3 seeds
    python benchmarks/fidelity_dvemb.py --seeds 0 --quick    # smoke
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from torch.func import functional_call, grad, vmap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core import torch_models
from dataval_core.methods.dvemb import dvemb_trajectory


@dataclass(frozen=True)
class Train:
    """The SGD run both sides share."""

    hidden: tuple[int, ...] = (32,)
    lr: float = 0.05
    epochs: int = 5
    batch_size: int = 32


@dataclass(frozen=True)
class Est:
    """DVEmb settings (the estimator side)."""

    grad_params: str = "all"
    proj_dim: int = 0
    dtype: str = "float64"
    method: str = "dvemb"  # or "exact-H": the same first-order unrolling with the true Hessian


def digits_problem(n: int, m: int, flip: float, seed: int):
    """``n`` valued + ``m`` target rows of sklearn digits, standardised, ``flip`` of valued labels moved."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(x))[:n + m]
    x, y = x[pick], y[pick]
    mu, sd = x.mean(0), x.std(0)
    x = (x - mu) / np.where(sd > 1e-6, sd, 1.0)  # over all rows: a pixel constant in one part stays finite
    yv = y[:n].copy()
    noisy = np.zeros(n, bool)
    idx = rng.choice(n, int(round(flip * n)), replace=False)
    noisy[idx] = True
    yv[idx] = (yv[idx] + rng.integers(1, 10, len(idx))) % 10
    return x[:n], yv, x[n:], y[n:], noisy


class Replay:
    """Functional float64 replay of dvemb's SGD run, for exact leave-one-out retraining."""

    def __init__(self, model: torch.nn.Module, x, y, xt, yt, batches: list[np.ndarray], lr: float):
        self.model = model
        self.x, self.y, self.xt, self.yt = x, y, xt, yt
        self.batches = [torch.as_tensor(b) for b in batches]
        self.lr = lr

        def batch_loss(params, w, xb, yb):
            out = functional_call(model, params, (xb,))
            return (w * torch_models.per_sample_loss(out, yb, "classification")).sum()

        def target_loss(params):
            return torch_models.per_sample_loss(functional_call(model, params, (xt,)), yt, "classification").mean()

        self.g_w = vmap(grad(batch_loss), in_dims=(0, 0, None, None))  # per-run weights
        self.g_1 = vmap(grad(batch_loss), in_dims=(0, None, None, None))  # shared weights
        self.t_loss = vmap(target_loss)
        self.batch_loss, self.target_loss = batch_loss, target_loss

    def _step(self, params, t, w=None):
        b = self.batches[t]
        eta = self.lr / len(b)
        xb, yb = self.x[b], self.y[b]
        g = self.g_1(params, torch.ones(len(b), dtype=xb.dtype), xb, yb) if w is None else self.g_w(params, w, xb, yb)
        return {k: p - eta * g[k] for k, p in params.items()}

    def run(self, params0: dict) -> tuple[list[dict], float]:
        """Unperturbed run from ``params0``: checkpoints θ_0..θ_T (one-copy batch) and final target loss."""
        params = {k: v.detach().unsqueeze(0) for k, v in params0.items()}
        ckpt = [params]
        for t in range(len(self.batches)):
            params = self._step(params, t)
            ckpt.append(params)
        return ckpt, float(self.t_loss(params)[0])

    def drop_one_step(self, ckpt, t: int, renorm: bool) -> np.ndarray:
        """Final target loss of the runs dropping each member of step t's batch (one run per member)."""
        b = len(self.batches[t])
        w = torch.ones(b, b, dtype=self.x.dtype)
        if renorm:
            w *= b / (b - 1)
        w.fill_diagonal_(0.0)
        params = {k: v.expand(b, *v.shape[1:]).clone() for k, v in ckpt[t].items()}
        params = self._step(params, t, w)
        for s in range(t + 1, len(self.batches)):
            params = self._step(params, s)
        return self.t_loss(params).numpy()

    def linearised(self, ckpt) -> np.ndarray:
        """First-order TSLOO with the exact Hessian, per occurrence in training order (the DVEmb formula
        η_t ∇L(θ_T)ᵀ ∏_{k>t}(I − η_k H_k) g_t(z) without the Gauss–Newton step): one adjoint pass,
        λ_T = ∇L(θ_T), λ_k = (I − η_k H_k) λ_{k+1} by Hessian-vector products."""
        from torch.func import jvp

        def squeeze(p):
            return {k: v[0] for k, v in p.items()}

        lam = grad(self.target_loss)(squeeze(ckpt[-1]))
        out = [None] * len(self.batches)
        for t in range(len(self.batches) - 1, -1, -1):
            b = self.batches[t]
            xb, yb = self.x[b], self.y[b]
            eta = self.lr / len(b)
            params = squeeze(ckpt[t])
            per = vmap(grad(self.batch_loss), in_dims=(None, 0, None, None))(
                params, torch.eye(len(b), dtype=xb.dtype), xb, yb)  # per-sample gradients at θ_t
            out[t] = eta * sum((per[k].reshape(len(b), -1) @ lam[k].reshape(-1)) for k in lam).numpy()
            ones = torch.ones(len(b), dtype=xb.dtype)
            hv = jvp(lambda p: grad(self.batch_loss)(p, ones, xb, yb), (params,), (lam,))[1]
            lam = {k: lam[k] - eta * hv[k] for k in lam}
        return np.concatenate(out)

    def drop_everywhere(self, ckpt, n: int, chunk: int = 100) -> np.ndarray:
        """Final target loss when sample i is removed from every epoch (one run per sample)."""
        out = np.empty(n)
        for lo in range(0, n, chunk):
            ids = torch.arange(lo, min(lo + chunk, n))
            params = {k: v.expand(len(ids), *v.shape[1:]).clone() for k, v in ckpt[0].items()}
            for t, bt in enumerate(self.batches):
                w = (bt[None, :] != ids[:, None]).to(self.x.dtype)
                params = self._step(params, t, w)
            out[lo:lo + len(ids)] = self.t_loss(params).numpy()
        return out


def exact_tsloo(train: Train, x, y, xt, yt, init_seed: int, batches, n: int):
    """Exact TSLOO per occurrence (training order) for both η conventions, plus all-epoch removal."""
    model = torch_models.make_mlp(x.shape[1], 10, train.hidden, seed=init_seed).double()
    params0 = {k: v.detach() for k, v in model.named_parameters()}
    rp = Replay(model, x, y, xt, yt, batches, train.lr)
    ckpt, base = rp.run(params0)
    fixed = np.concatenate([rp.drop_one_step(ckpt, t, renorm=False) for t in range(len(batches))]) - base
    renorm = np.concatenate([rp.drop_one_step(ckpt, t, renorm=True) for t in range(len(batches))]) - base
    everywhere = rp.drop_everywhere(ckpt, n) - base
    final = {k: v[0] for k, v in ckpt[-1].items()}
    return fixed, renorm, everywhere, final, rp.linearised(ckpt)


def run_config(train: Train, ests: list[Est], seed: int, n: int, m: int, flip: float) -> list[dict]:
    xv, yv, xt_, yt_, noisy = digits_problem(n, m, flip, seed)
    x64 = torch.as_tensor(xv, dtype=torch.float64)
    y = torch.as_tensor(yv, dtype=torch.long)
    xt64 = torch.as_tensor(xt_, dtype=torch.float64)
    yt = torch.as_tensor(yt_, dtype=torch.long)
    init_seed, order_seed, proj_seed = 1000 + seed, 2000 + seed, 3000 + seed
    rows, batches, exact = [], None, None
    for est in ests:
        if est.method == "exact-H":
            continue
        dt = torch.float64 if est.dtype == "float64" else torch.float32
        model = torch_models.make_mlp(xv.shape[1], 10, train.hidden, seed=init_seed).to(dt)
        t0 = time.perf_counter()
        traj = dvemb_trajectory(model, x64.to(dt), y, xt64.to(dt), yt, "classification", epochs=train.epochs,
                                batch_size=train.batch_size, lr=train.lr, order_seed=order_seed,
                                proj_dim=est.proj_dim, proj_seed=proj_seed, grad_params=est.grad_params)
        t_dvemb = time.perf_counter() - t0
        if exact is None:  # the exact side depends only on the training run
            batches = [traj.sample[traj.step == t] for t in range(traj.n_steps)]
            t0 = time.perf_counter()
            exact = exact_tsloo(train, x64, y, xt64, yt, init_seed, batches, n)
            t_exact = time.perf_counter() - t0
        fixed, renorm, everywhere, final, _ = exact
        drift = max(float((p.detach().double() - final[k]).abs().max()) for k, p in traj.model.named_parameters())
        rows.append(_scores(seed, train, est, traj.contribution, traj.sample, traj.epoch, exact, n))
        rows[-1].update(t_dvemb=t_dvemb, t_exact=t_exact, n_loo=len(fixed) * 2 + n, drift=drift)
        r = rows[-1]
        print(f"seed {seed} hidden {train.hidden} lr {train.lr} | {est.grad_params:<4} proj {est.proj_dim:<4} "
              f"{est.dtype}: ρ occ {r['rho_occ']:.3f} (first {r['rho_first']:.3f}, last {r['rho_last']:.3f}) "
              f"renorm {r['rho_renorm']:.3f} value {r['rho_value']:.3f} | dvemb {t_dvemb:.2f}s exact {t_exact:.1f}s "
              f"drift {drift:.1e}", flush=True)
    if any(e.method == "exact-H" for e in ests):
        lin = exact[4]
        sample = np.concatenate(batches)
        epoch = np.repeat(np.arange(train.epochs), n)
        rows.append(_scores(seed, train, Est(method="exact-H"), lin, sample, epoch, exact, n))
        rows[-1].update(t_dvemb=np.nan, t_exact=t_exact, n_loo=len(lin) * 2 + n, drift=0.0)
        print(f"seed {seed} hidden {train.hidden} lr {train.lr} | first order, exact Hessian: "
              f"ρ occ {rows[-1]['rho_occ']:.3f} value {rows[-1]['rho_value']:.3f}", flush=True)
    return rows


def _scores(seed, train, est, c, sample, epoch, exact, n) -> dict:
    fixed, renorm, everywhere = exact[:3]
    value = np.bincount(sample, weights=c, minlength=n)
    last = epoch == train.epochs - 1
    first = epoch == 0
    return {"seed": seed, **train.__dict__, **est.__dict__,
            "rho_occ": spearmanr(c, fixed)[0], "rho_first": spearmanr(c[first], fixed[first])[0],
            "rho_last": spearmanr(c[last], fixed[last])[0], "rho_renorm": spearmanr(c, renorm)[0],
            "pearson_occ": pearsonr(c, fixed)[0], "rho_value": spearmanr(value, everywhere)[0],
            "scale": float(np.dot(c, fixed) / np.dot(c, c))}


NOTES = """Findings.

* **Target ρ ≥ 0.8 is reached** per occurrence by DVEmb with all layers and no projection at lr ≤ 0.05
  (0.851 mean at lr 0.05, min 0.822; 0.961 at lr 0.02), and by output-layer-only gradients on the small
  model (0.846 at lr 0.05, 0.859 at 0.02). The per-sample value (all-epoch removal) is more faithful
  still: 0.955 / 0.986 (all layers). Projection costs fidelity: 1,024 dims 0.807, 256 dims 0.701
  (2,410 parameters).
* **Not reached at larger learning rates**: lr 0.2 → 0.58, lr 0.5 → 0.09. The diagnostic row `exact-H`
  (the same first-order unrolling with true Hessians) shows two separate error sources: (1) the
  Gauss–Newton step H ≈ Σ g gᵀ: exact-H 0.966 vs DVEmb 0.851 at lr 0.05, 0.813 vs 0.582 at lr 0.2;
  (2) the linearisation itself: even exact-H drops to 0.343 at lr 0.5, where a removal's effect is
  no longer first order over 50 steps. Early occurrences suffer most (ρ epoch 1 vs last epoch:
  0.771 vs 0.991 at lr 0.05), since their effect is propagated through the most steps.
* **The valuator's defaults** (MLP 128,32, output layer, lr 0.05): 0.618 mean [0.395, 0.785]. Its output
  layer has 330 gradient entries; before this benchmark they were projected to 256, which gave 0.483 on
  seed 0 (smoke run) vs 0.674 unprojected, so `dvemb_trajectory` now skips projections that would not
  at least halve the gradient (the "proj 256" row of this model is therefore unprojected and equals the
  "none" row). All layers projected to 1,024 reach 0.767 here (≈ 15× slower); the output layer is kept
  as the default because it detected flips better on digits (AUROC, see dvemb.py).
* float32 (how the valuator runs) gives the same ranking as float64 (identical ρ to 3 decimals;
  final parameters differ by ≤ 1e-7).
* `scale` > 1 (e.g. 1.42 at lr 0.05): DVEmb underestimates the size of the effect (the Gauss–Newton H
  overstates curvature and over-damps); exact-H is calibrated (≈ 1.0). Only the ranking matters for
  valuation.
* The step-size convention matters little: re-normalising the reduced batch (ρ renorm) lowers ρ by
  ≈ 0.05, as that removal also enlarges the other samples' steps, which DVEmb does not model."""


XH = Est(method="exact-H")
CONFIGS = [
    (Train(), [Est("all", 0), Est("all", 1024), Est("all", 256), Est("last", 0), Est("all", 0, "float32"), XH]),
    (Train(lr=0.02), [Est("all", 0), Est("last", 0), XH]),
    (Train(lr=0.2), [Est("all", 0), Est("all", 256), Est("last", 0), XH]),
    (Train(lr=0.5), [Est("all", 0), Est("last", 0), XH]),
    # the valuator's defaults: hidden 128,32, output layer only, projection 256 (float32 as the engine runs)
    (Train(hidden=(128, 32)), [Est("last", 256, "float32"), Est("last", 0), Est("all", 1024), XH]),
]


def to_markdown(rows: list[dict], command: str, n: int, m: int, flip: float) -> str:
    import pandas as pd

    df = pd.DataFrame(rows)
    df["hidden"] = df["hidden"].map(lambda h: ",".join(map(str, h)))
    keys = ["hidden", "lr", "epochs", "batch_size", "method", "grad_params", "proj_dim", "dtype"]
    g = df.groupby(keys, sort=False)
    cols = ["rho_occ", "rho_first", "rho_last", "rho_renorm", "pearson_occ", "rho_value", "scale"]
    mean, lo, hi = g[cols].mean(), g[cols].min(), g[cols].max()
    times = g[["t_dvemb", "t_exact", "n_loo"]].mean()

    def cell(k, c):
        return f"{mean.loc[k, c]:.3f} [{lo.loc[k, c]:.3f}, {hi.loc[k, c]:.3f}]"

    lines = [
        "# DVEmb fidelity vs exact trajectory-specific leave-one-out", "",
        f"Machine: {machine_line()}", "", f"Command: `{command}`", "",
        f"Data: sklearn digits, {n} valued rows ({flip:.0%} labels flipped to another class) and {m} clean target "
        "rows, features standardised over all rows. Model: ReLU MLP 64→hidden→10 (`torch_models.make_mlp`), "
        "plain SGD on "
        "the mean batch loss, same init, same batch order on both sides. Seeds: "
        f"{sorted(df.seed.unique().tolist())} (each seed: another row sample, flips, init, batch order and "
        "projection); cells are mean [min, max] over seeds.", "",
        "Exact side: for every (sample, epoch) occurrence the run is redone with the sample left out of that one "
        "batch (η_t = lr/|B_t| kept, the sample just missing from the summed batch loss: the quantity DVEmb "
        "unrolls), in float64, and ΔL = mean target loss(θ'_T) − loss(θ_T). "
        "`ρ renorm` compares with the other convention (mean loss over the |B|−1 remaining samples, which also "
        "enlarges every other sample's step). `ρ value`: the per-sample value (sum of occurrences) vs the exact "
        "loss change when the sample is removed from every epoch. `scale`: least-squares slope of exact on "
        "estimate (1 = calibrated). Estimate `exact-H` is a diagnostic, not a method: DVEmb's first-order "
        "formula η_t ∇L(θ_T)ᵀ ∏_{k>t}(I − η_k H_k) g_t(z) with the true batch Hessians (one adjoint pass of "
        "Hessian-vector products) instead of DVEmb's Gauss–Newton H ≈ Σ g gᵀ; it separates the error of "
        "linearising the training run from the error of the Gauss–Newton step.", "",
        "| hidden | lr | epochs | batch | estimate | grad_params | proj | dtype | ρ all occurrences | ρ epoch 1 "
        "| ρ last epoch | ρ renorm | Pearson | ρ value (all-epoch removal) | scale | dvemb s | exact s (runs) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in mean.index:
        h, lr, ep, bs, me, gp, pd_, dt = k
        lines.append(f"| {h} | {lr} | {ep} | {bs} | {me} | {gp} | {pd_ or 'none'} | {dt} | " +
                     " | ".join(cell(k, c) for c in cols) +
                     f" | {times.loc[k, 't_dvemb']:.2f} | {times.loc[k, 't_exact']:.1f}"
                     f" ({int(times.loc[k, 'n_loo'])}) |")
    lines += ["", "Times: seconds, 1 torch thread, wall clock on a shared machine (other jobs running); dvemb s is "
              "the whole `dvemb_trajectory` (training + recursion); exact s is computed once per training "
              "configuration (shown on every row of it) and covers all exact retrainings: both conventions for every "
              "occurrence plus the all-epoch removals (the run count in brackets), vmapped from saved checkpoints.",
              "", NOTES, ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--m", type=int, default=200)
    p.add_argument("--flip", type=float, default=0.2)
    p.add_argument("--quick", action="store_true", help="first configuration only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "fidelity_dvemb.md"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    configs = CONFIGS[:1] if args.quick else CONFIGS
    rows = []
    for seed in args.seeds:
        for train, ests in configs:
            rows += run_config(train, ests, seed, args.n, args.m, args.flip)
    Path(args.out).write_text(to_markdown(rows, "python " + " ".join(sys.argv), args.n, args.m, args.flip))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
