"""Data issues (dataval_core.data_issues) vs cleanlab Datalab's near_duplicate and outlier managers, on planted issues.

Into the bundled digits (a table of 64 pixel columns), MNIST (5,000 PNG files) and breast cancer (a table of 30
measurements), at seeded random rows, each 2 % of the rows (at least 4):

- **exact copies**: a row again (images: the same file bytes under a new name), same label;
- **near copies**: tables: the row plus Gaussian noise of 1-5 % of each column's spread; images: a JPEG
  re-encode (quality 70-95) or Gaussian pixel noise (1-4 % of the range), half each;
- **conflicting copies**: an exact (half) or near (half) copy with another label;
- **outliers**, rows from another dataset: digits and MNIST get grayscale patches of scikit-learn's two sample
  photos (8x8 at 0-16, or 28x28 PNG); breast cancer gets digits rows (30 pixel columns) rescaled to each
  breast-cancer column's mean and spread, so only the joint shape differs.

Two settings: no reference (every row valued: the whole set is the reference, leave-self-out) and a 20 %
reference (stratified, of the original rows; the planted rows are valued, so copies of reference rows are
*reference copies*). Truth per type over all rows: exact = rows whose content occurs more than once (planted or
natural), near = every planted copy and its source plus the exact ones, conflicting = planted conflicting
copies and their sources (plus natural exact copies with two labels), outlier = the planted foreign rows,
reference copy = valued copies of a reference row. Natural near duplicates are unknown, so they count against
precision.

Datalab gets the same raw feature matrix and labels, default settings. Its types are derived for the
comparison: exact = near_duplicate at distance 0; conflicting = near_duplicate whose set holds another label;
reference copy = a valued near_duplicate whose set holds a reference row.

``near_ratio`` and ``outlier_iqr`` are tuned on seeds 0 and 1 (mean F1 over all cases) and reported on seeds 2
and 3. ``--scale-n N --scale-m M`` also times the checks beside knn_shapley on N x M synthetic rows (d = 64).

    python benchmarks/data_issues.py                      # tune, held-out table, 100,000 x 5,000 scale
    python benchmarks/data_issues.py --scale-n 0 --datasets digits --tune-seeds 0 --test-seeds 1
"""
from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core.data_issues import find_issues
from dataval_core.dataset import Dataset
from dataval_core.embeddings.raw import raw_features
from dataval_core.io import load_dataset, load_frame
from dataval_core.samples import SAMPLE_DIR

TYPES = ("exact", "near", "conflicting", "outlier", "reference_copy")
RATIOS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
FENCES = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
KS = (5, 10, 20)
#: timed runs per tool and case (the median is reported)
REPEATS = 3
RATE = 0.02


@dataclass
class Case:
    """One planted dataset: the rows, their raw features and the truth per issue type (bool per row)."""

    name: str
    setting: str
    seed: int
    dataset: Dataset
    x: np.ndarray
    truth: dict[str, np.ndarray]


def photo_patches(n: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` grayscale patches (values 0-1) of scikit-learn's sample photos, each a random square crop resized."""
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(Image.fromarray(im).convert("L")) for im in load_sample_images().images]
    out = np.empty((n, side, side))
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        size = int(rng.integers(side * 2, side * 8))
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crop = Image.fromarray(photo[top:top + size, left:left + size]).resize((side, side), Image.BILINEAR)
        out[i] = np.asarray(crop) / 255.0
    return out


def plan(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint source rows for the planted copies, ``RATE`` of ``n`` each (at least 4)."""
    r = max(4, round(RATE * n))
    rows = rng.permutation(n)
    return {"exact": rows[:r], "near": rows[r:2 * r], "conflict": rows[2 * r:3 * r], "outliers": np.arange(r)}


def reference_mask(labels: np.ndarray, rng: np.random.Generator, frac: float = 0.2) -> np.ndarray:
    """A stratified ``frac`` of the rows."""
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        mask[rng.choice(rows, int(round(frac * len(rows))), replace=False)] = True
    return mask


def other_label(labels: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.choice(classes[classes != v]) for v in labels])


def planted_table(name: str, seed: int, setting: str) -> Case:
    """Digits or breast cancer with planted copies and foreign rows appended after the original rows."""
    label = {"digits": "label", "breast_cancer": "diagnosis"}[name]
    base = pd.read_csv(SAMPLE_DIR / f"{name}.csv")
    features = [c for c in base.columns if c != label]
    rng = np.random.default_rng([seed, 7])
    src = plan(len(base), rng)
    r = len(src["exact"])
    values, y = base[features].to_numpy(float), base[label].to_numpy()

    def noisy(rows):
        scale = values.std(axis=0) * rng.uniform(0.01, 0.05, (len(rows), 1))
        return values[rows] + rng.normal(0, 1, (len(rows), len(features))) * scale

    half = r // 2
    blocks = [values[src["exact"]], noisy(src["near"]),
              np.vstack([values[src["conflict"][:half]], noisy(src["conflict"][half:])]),
              foreign_rows(name, r, values, rng)]
    labels = [y[src["exact"]], y[src["near"]], other_label(y[src["conflict"]], pd.unique(y), rng),
              rng.choice(pd.unique(y), r)]
    planted = pd.DataFrame(np.vstack(blocks), columns=features).assign(**{label: np.concatenate(labels)})
    frame = pd.concat([base, planted], ignore_index=True)
    ds = load_frame(frame, label, name=name)
    kind = np.array([""] * len(base) + [k for k in ("exact", "near", "conflict", "outlier") for _ in range(r)])
    src_row = np.concatenate([np.full(len(base), -1), src["exact"], src["near"], src["conflict"], np.full(r, -1)])
    content = pd.util.hash_pandas_object(frame[features], index=False).to_numpy()
    return finish(name, seed, setting, ds, kind, src_row, content, rng)


def foreign_rows(name: str, r: int, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows from another dataset in the table's columns (digits: photo patches at 0-16; breast cancer: digits
    pixel columns rescaled to each column's mean and spread)."""
    if name == "digits":
        return np.round(photo_patches(r, 8, rng).reshape(r, 64) * 16)
    digits = pd.read_csv(SAMPLE_DIR / "digits.csv").drop(columns="label").to_numpy(float)
    start = int(rng.integers(0, 64 - values.shape[1]))
    block = digits[:, start:start + values.shape[1]]
    z = (block[rng.choice(len(block), r, replace=False)] - block.mean(0)) / np.where(block.std(0) > 0,
                                                                                   block.std(0), 1)
    return values.mean(0) + z * values.std(0)


def planted_mnist(seed: int, setting: str, work: Path) -> Case:
    """MNIST 5k as files (copies of the bundled PNGs) plus planted files, each named after what it is."""
    rng = np.random.default_rng([seed, 11])
    root = work / f"mnist_{seed}_{setting}"
    files = sorted((SAMPLE_DIR / "mnist").glob("*/*.png"))
    for f in files:
        (root / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, root / f.parent.name / f.name)
    src = plan(len(files), rng)
    r = len(src["exact"])
    made: dict[str, tuple[str, str]] = {}  # planted id -> (kind, id of the source image)

    def add(kind: str, source: Path | None, cls: str, name: str, data: bytes) -> None:
        write(root / cls / name, data)
        made[f"{cls}/{name}"] = (kind, f"{source.parent.name}/{source.name}" if source else "")

    for i, s in enumerate(src["exact"]):
        add("exact", files[s], files[s].parent.name, f"exact_{i}.png", files[s].read_bytes())
    for i, s in enumerate(src["near"]):
        add("near", files[s], files[s].parent.name, f"near_{i}.{'jpg' if i % 2 else 'png'}",
            near_image(files[s], i, rng))
    for i, s in enumerate(src["conflict"]):
        cls = str(rng.choice([c for c in "0123456789" if c != files[s].parent.name]))
        exact = i < r // 2
        add("conflict", files[s], cls, f"conflict_{i}.{'png' if exact else 'jpg'}",
            files[s].read_bytes() if exact else near_image(files[s], 1, rng))
    for i, patch in enumerate(photo_patches(r, 28, rng)):
        add("outlier", None, str(rng.integers(10)), f"foreign_{i}.png", png(patch))
    ds = load_dataset(root, name="mnist")
    row = {i: k for k, i in enumerate(ds.ids)}
    kind = np.array([made.get(i, ("", ""))[0] for i in ds.ids])
    src_row = np.array([row[made[i][1]] if i in made and made[i][1] else -1 for i in ds.ids])
    content = np.array([int.from_bytes(hashlib.sha256(p.read_bytes()).digest()[:8], "little")
                        for p in ds.image_paths()], dtype=np.uint64)
    return finish("mnist", seed, setting, ds, kind, src_row, content, rng)


def near_image(path: Path, i: int, rng: np.random.Generator) -> bytes:
    """A JPEG re-encode (odd ``i``) or a noisy PNG of the image at ``path``."""
    im = Image.open(path).convert("L")
    if i % 2:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=int(rng.integers(70, 96)))
        return buf.getvalue()
    px = np.asarray(im, dtype=float) / 255 + rng.normal(0, rng.uniform(0.01, 0.04), (28, 28))
    return png(np.clip(px, 0, 1))


def png(px: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.round(px * 255).astype(np.uint8), "L").save(buf, format="PNG")
    return buf.getvalue()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def finish(name: str, seed: int, setting: str, ds: Dataset, kind: np.ndarray, src_row: np.ndarray,
           content: np.ndarray, rng: np.random.Generator) -> Case:
    """The reference rows (20 % setting, original rows only) and the truth per type.

    ``kind``: what each row is ("" for an original row); ``src_row``: the row a planted copy copies, else -1;
    ``content``: a hash of each row's content, computed apart from dataval's own.
    """
    original = kind == ""
    is_ref = np.zeros(len(ds), dtype=bool)
    if setting == "reference":
        is_ref[original] = reference_mask(np.asarray(ds.labels)[original], rng)
        ds = ds.replace(is_target=is_ref)
    copy = src_row >= 0
    copied = copy.copy()
    copied[src_row[copy]] = True
    conflict = kind == "conflict"
    conflict[src_row[conflict]] = True
    dup = pd.Series(content).duplicated(keep=False).to_numpy()
    two_labels = pd.Series(ds.labels).groupby(content).transform("nunique").to_numpy() > 1
    ref_copy = (copy & is_ref[np.maximum(src_row, 0)]) | (~is_ref & np.isin(content, content[is_ref]))
    truth = {"exact": dup, "near": copied | dup, "conflicting": conflict | (dup & two_labels),
             "outlier": kind == "outlier", "reference_copy": ref_copy}
    return Case(name, setting, seed, ds, raw_features(ds).x, truth)


# -- detectors -----------------------------------------------------------------------------------------------
def ours(case: Case, params: dict[str, float]) -> tuple[dict[str, np.ndarray], float]:
    """dataval's flags per type and its time (content hashes and neighbours)."""
    start = time.perf_counter()
    f = find_issues(case.dataset, case.x, params=params).frame
    seconds = time.perf_counter() - start
    flags = {"exact": f["exact_group"].notna(), "near": f["near_group"].notna(),
             "conflicting": f["conflict"].fillna(False), "outlier": f["is_outlier"].fillna(False),
             "reference_copy": f["reference_copy"].fillna(False)}
    return {k: np.asarray(v, dtype=bool) for k, v in flags.items()}, seconds


def datalab(case: Case) -> tuple[dict[str, np.ndarray], float]:
    """Datalab's near_duplicate and outlier flags (defaults) and the types derived from its near-duplicate sets."""
    from cleanlab import Datalab

    labels = np.asarray(case.dataset.labels)
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    start = time.perf_counter()
    lab.find_issues(features=case.x.astype(np.float64), issue_types={"near_duplicate": {}, "outlier": {}})
    seconds = time.perf_counter() - start
    near = lab.get_issues("near_duplicate")
    flagged = near["is_near_duplicate_issue"].to_numpy(bool)
    sets = near["near_duplicate_sets"].to_numpy()
    is_ref = case.dataset.is_target
    other_label = np.array([f and bool(np.any(labels[np.asarray(s, dtype=int)] != labels[i]))
                            for i, (f, s) in enumerate(zip(flagged, sets))])
    holds_ref = np.array([f and bool(np.any(is_ref[np.asarray(s, dtype=int)])) for f, s in zip(flagged, sets)])
    flags = {"exact": flagged & (near["distance_to_nearest_neighbor"].to_numpy() <= 1e-12), "near": flagged,
             "conflicting": other_label, "outlier": lab.get_issues("outlier")["is_outlier_issue"].to_numpy(bool),
             "reference_copy": holds_ref & ~is_ref}
    return flags, seconds


def scores(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``flags`` against ``truth`` (precision 1 when nothing is flagged)."""
    tp = int((flags & truth).sum())
    p = tp / flags.sum() if flags.sum() else 1.0
    r = tp / truth.sum() if truth.sum() else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def applicable(case: Case, kind: str) -> bool:
    return kind != "reference_copy" or case.setting == "reference"


# -- tuning, held-out table, scale ----------------------------------------------------------------------------
def build_cases(names: list[str], seeds: list[int], work: Path) -> list[Case]:
    out = []
    for name in names:
        for seed in seeds:
            for setting in ("none", "reference"):
                out.append(planted_mnist(seed, setting, work) if name == "mnist" else
                           planted_table(name, seed, setting))
                print(f"planted {name} seed {seed} {setting}: {len(out[-1].dataset):,} rows", flush=True)
    return out


def tune(cases: list[Case]) -> tuple[dict[str, float], pd.DataFrame]:
    """The near_ratio with the best mean F1 on near, conflicting and reference copies, and the k and outlier_iqr
    with the best mean outlier F1, over ``cases``; and the grid's mean F1s."""
    rows = []
    for case in cases:
        for ratio in RATIOS:
            flags, _ = ours(case, {"near_ratio": ratio})
            f1 = [scores(flags[k], case.truth[k])[2] for k in ("near", "conflicting", "reference_copy")
                  if applicable(case, k)]
            rows.append({"near_ratio": ratio, "k": np.nan, "outlier_iqr": np.nan, "f1": float(np.mean(f1))})
        for k in KS:
            for fence in FENCES:
                flags, _ = ours(case, {"k": k, "outlier_iqr": fence})
                rows.append({"near_ratio": np.nan, "k": k, "outlier_iqr": fence,
                             "f1": scores(flags["outlier"], case.truth["outlier"])[2]})
    grid = pd.DataFrame(rows)
    near = grid[grid["k"].isna()].groupby("near_ratio", as_index=False)["f1"].mean()
    outlier = grid[grid["k"].notna()].groupby(["k", "outlier_iqr"], as_index=False)["f1"].mean()
    best = outlier.loc[outlier["f1"].idxmax()]
    chosen = {"near_ratio": float(near.loc[near["f1"].idxmax(), "near_ratio"]), "k": int(best["k"]),
              "outlier_iqr": float(best["outlier_iqr"])}
    near["parameter"], outlier["parameter"] = "near_ratio", "k, outlier_iqr"
    near["value"] = near["near_ratio"].map("{:g}".format)
    outlier["value"] = [f"{int(k)}, {f:g}" for k, f in zip(outlier["k"], outlier["outlier_iqr"])]
    return chosen, pd.concat([near, outlier])[["parameter", "value", "f1"]]


def timed(run, repeats: int = REPEATS) -> tuple[dict[str, np.ndarray], float]:
    """The flags of one run and the median of ``repeats`` runs' seconds (the machine may be shared)."""
    results = [run() for _ in range(repeats)]
    return results[0][0], float(np.median([seconds for _, seconds in results]))


def evaluate(cases: list[Case], params: dict[str, float]) -> pd.DataFrame:
    rows = []
    for case in cases:
        for tool, (flags, seconds) in (("dataval", timed(lambda: ours(case, params))),
                                       ("Datalab", timed(lambda: datalab(case)))):
            for kind in TYPES:
                if applicable(case, kind):
                    p, r, f1 = scores(flags[kind], case.truth[kind])
                    rows.append({"dataset": case.name, "setting": case.setting, "seed": case.seed, "type": kind,
                                 "tool": tool, "precision": p, "recall": r, "f1": f1, "seconds": seconds,
                                 "positives": int(case.truth[kind].sum())})
        print(f"evaluated {case.name} seed {case.seed} {case.setting}", flush=True)
    return pd.DataFrame(rows)


def scale(n: int, m: int, d: int = 64) -> str:
    """Seconds for the checks and for knn_shapley on the same synthetic n valued x m reference rows."""
    from dataval_core import Problem, get_valuator

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (10, d)).astype(np.float32)
    y = rng.integers(0, 10, n + m)
    x = centers[y] + rng.normal(size=(n + m, d)).astype(np.float32)
    is_ref = np.arange(n + m) >= n
    table = pd.DataFrame(x, columns=[f"f{i}" for i in range(d)])
    ds = Dataset(ids=np.arange(n + m).astype(str), labels=y, classes=tuple(map(str, range(10))),
                 task="classification", modality="table", is_target=is_ref, table=table,
                 label_column="label", feature_columns=tuple(table.columns))
    cpu, start = time.process_time(), time.perf_counter()
    issues = find_issues(ds, x)
    t_issues, c_issues = time.perf_counter() - start, time.process_time() - cpu
    cpu, start = time.process_time(), time.perf_counter()
    get_valuator("knn_shapley").fit(Problem.from_arrays(x[:n], y[:n], x[n:], y[n:]))
    t_knn, c_knn = time.perf_counter() - start, time.process_time() - cpu
    return (f"N = {n:,} valued x M = {m:,} reference rows, d = {d}: data issues {t_issues:.1f} s wall "
            f"({c_issues:.1f} s CPU; {issues.counts()['outliers']:,} outliers flagged), knn_shapley (k = 10) "
            f"{t_knn:.1f} s wall ({c_knn:.1f} s CPU): ratio {t_issues / t_knn:.2f} wall, {c_issues / c_knn:.2f} CPU.")


def f1_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean precision / recall / F1 per dataset, setting and type, dataval beside Datalab."""
    mean = results.groupby(["dataset", "setting", "type", "tool"], sort=False)[["precision", "recall", "f1"]].mean()
    wide = mean.unstack("tool")
    wide.columns = [f"{tool} {metric}" for metric, tool in wide.columns]
    order = [f"{t} {m}" for t in ("dataval", "Datalab") for m in ("precision", "recall", "f1")]
    return wide[order].reset_index()


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    cells = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    return head + "".join("| " + " | ".join(cells(v) for v in row) + " |\n"
                          for row in frame.itertuples(index=False))


def report(args, params: dict[str, float], grid: pd.DataFrame, results: pd.DataFrame, scale_line: str) -> str:
    per_type = results.groupby(["type", "tool"])["f1"].mean().unstack("tool")[["dataval", "Datalab"]]
    per_type = per_type.reset_index().rename(columns={"dataval": "dataval F1", "Datalab": "Datalab F1"})
    times = results.drop_duplicates(["dataset", "setting", "seed", "tool"]).groupby(["dataset", "tool"])[
        "seconds"].mean().unstack("tool")[["dataval", "Datalab"]].reset_index()
    times.columns = ["dataset", "dataval seconds", "Datalab seconds"]
    return "\n".join([
        "# Data issues vs cleanlab Datalab on planted issues", "",
        f"Machine: {machine_line()}", "", f"Command: `python {' '.join(sys.argv)}`", "",
        "What is planted and how the truth and Datalab's derived types are defined: the docstring of "
        "`benchmarks/data_issues.py`. Each planted type is 2 % of the rows (at least 4), at seeded random rows. "
        "Settings: `none` = no reference (the whole set, leave-self-out), `reference` = a stratified 20 % of the "
        "original rows. Both tools see the same raw features; Datalab runs with its defaults.", "",
        f"## Tuning (seeds {', '.join(map(str, args.tune_seeds))})", "",
        "Chosen: " + ", ".join(f"{k} = {v:g}" for k, v in params.items()) + ". Mean F1 over the tuning cases "
        "(near_ratio: the mean of the near, conflicting and reference-copy F1; k and outlier_iqr: the outlier "
        "F1):", "",
        markdown(grid), "",
        f"## Held out (seeds {', '.join(map(str, args.test_seeds))}), with the chosen parameters", "",
        "Mean F1 per type over every dataset and setting:", "", markdown(per_type), "",
        "Seconds per run, the median of 3 runs, averaged over seeds and settings (dataval: content hashes "
        "and the neighbour pass; Datalab: find_issues for near_duplicate and outlier):", "", markdown(times), "",
        "Per dataset, setting and type (mean over the held-out seeds):", "", markdown(f1_table(results)), "",
        "## Scale", "", scale_line or "(not run)", ""])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist", "breast_cancer"])
    ap.add_argument("--tune-seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--test-seeds", nargs="+", type=int, default=[2, 3])
    ap.add_argument("--scale-n", type=int, default=100_000, help="valued rows of the scale run (0: skip)")
    ap.add_argument("--scale-m", type=int, default=5_000, help="reference rows of the scale run")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "data_issues.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dataval-issues-") as work:
        params, grid = tune(build_cases(args.datasets, args.tune_seeds, Path(work)))
        print(f"chosen {params}", flush=True)
        results = evaluate(build_cases(args.datasets, args.test_seeds, Path(work)), params)
    results.to_csv(Path(args.out).with_suffix(".csv"), index=False)
    scale_line = scale(args.scale_n, args.scale_m) if args.scale_n else ""
    text = report(args, params, grid, results, scale_line)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
