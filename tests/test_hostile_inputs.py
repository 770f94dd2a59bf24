"""Hostile inputs, each run through the CLI (a real subprocess) and through the app's loader.

Every row of :data:`CASES` builds a small file in a temporary folder and states the one
expected outcome: an error fragment, or ``None`` for a correct result. The CLI must then
exit non-zero with exactly one line on stderr holding the fragment, no traceback and no
output file; or exit 0 with one output row per input row. The app's loader (the functions
the Data page calls: ``ui.actions.table_columns`` and the cached loader behind
``ui.actions.load_upload``, then the default target split of ``ui.actions.prepare``) must
raise a ``DataError`` holding the same fragment, or load the same rows. Rows about CLI
options only (``--out``, ``--seed``, ``--param``) check the app's side where it has one
(parameters go through the same ``params.build``).

The CLI runs are forked children of one warm interpreter (``cliforks.py``: one process per
run, with its own exit status and stderr, without 2 s of start-up each), three at a time;
the cases in :data:`SPAWNED` also run as a plain ``python -m dataval_core.cli`` subprocess
and must give the same result.
"""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dataval_core.dataset import DataError
from dataval_core.params import build
from dataval_core.registry import get_spec

from imagefiles import png_bytes, png_claiming, write_zip

ROOT = Path(__file__).resolve().parents[1]
#: fast method for the runs that should succeed (the CLI default may be a slower ensemble)
RUN = ["--method", "knn_shapley"]


@dataclass(frozen=True)
class Case:
    """One hostile input: how to build it, the CLI arguments, and the expected outcome."""

    name: str
    make: Callable[[Path], Path]
    expect: str | None  # error fragment, or None for a correct result
    args: tuple[str, ...] = ("--label", "label")
    app: bool = True  # also through the app's loader (False: a CLI-only option)
    rows: int | None = None  # rows of the correct result (default: the table's or the images' count)
    params: dict = field(default_factory=dict)  # method parameters the app's form would pass


def _rng():
    return np.random.default_rng(0)


def good_frame(n: int = 30) -> pd.DataFrame:
    rng = _rng()
    return pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "label": ["a", "b", "c"] * (n // 3)})


def text_file(name: str, text: str | bytes):
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p
    return make


def csv_file(name: str, frame: pd.DataFrame, encoding: str = "utf-8", prefix: bytes = b""):
    return text_file(name, prefix + frame.to_csv(index=False).encode(encoding))


def parquet_file(name: str, table_fn: Callable[[], object]):
    def make(d: Path) -> Path:
        import pyarrow.parquet as pq

        p = d / name
        pq.write_table(table_fn(), p)
        return p
    return make


def zip_file(name: str, entries: dict[str, bytes], symlinks: dict[str, str] | None = None):
    return lambda d: write_zip(d / name, entries, symlinks)


def images(n_per_class: int = 3, size=(8, 8)) -> dict[str, bytes]:
    return {f"{c}/{i}.png": png_bytes(size, color=40 + 90 * k + i) for k, c in enumerate("ab")
            for i in range(n_per_class)}


def png16(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((6, 6), value, np.uint16)).save(buf, "PNG")
    return buf.getvalue()


def gif_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "GIF")
    return buf.getvalue()


def duplicate_entries(d: Path) -> Path:
    import warnings

    p = d / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(p, "w") as zf:
            for name, data in images().items():
                zf.writestr(name, data)
            zf.writestr("a/0.png", png_bytes(color=255))
    return p


def declared_bomb(d: Path) -> Path:
    """A zip whose entry declares 3 GiB uncompressed (the size fields are patched)."""
    p = write_zip(d / "bomb.zip", images())
    raw = bytearray(p.read_bytes())
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = raw.find(sig)
        raw[pos + at:pos + at + 4] = struct.pack("<I", 3 * 2**30)
    p.write_bytes(bytes(raw))
    return p


def encrypted(d: Path) -> Path:
    p = write_zip(d / "enc.zip", images())
    raw = bytearray(p.read_bytes())
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = raw.find(sig)
        raw[pos + at] |= 1
    p.write_bytes(bytes(raw))
    return p


def truncated(name: str, make_full: Callable[[Path], Path], keep: Callable[[bytes], bytes]):
    def make(d: Path) -> Path:
        full = make_full(d)
        p = d / name
        p.write_bytes(keep(full.read_bytes()))
        full.unlink()
        return p
    return make


def folder(name: str, files: dict[str, bytes], links: dict[str, Path] | None = None):
    def make(d: Path) -> Path:
        root = d / name
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        for rel, target in (links or {}).items():
            (root / rel).symlink_to(target)
        return root
    return make


def outside_link(d: Path) -> Path:
    secret = d / "secret.png"
    secret.write_bytes(png_bytes())
    return folder("linked", images(), {"a/evil.png": secret})(d)


def with_input_as_out(how: str):
    def make(d: Path) -> Path:
        p = csv_file("data.csv", good_frame())(d)
        if how == "link":
            (d / "out_link.csv").symlink_to(p)
        return p
    return make


def many_int_labels(d: Path) -> Path:
    rng = _rng()
    return csv_file("ints.csv", pd.DataFrame({"x": rng.normal(size=240), "label": np.repeat(np.arange(60), 4)}))(d)


def one_class_target(d: Path) -> Path:
    csv_file("target.csv", pd.DataFrame({"x": [1.0, 2.0], "z": [0.0, 1.0], "label": ["a", "a"]}))(d)
    return csv_file("data.csv", good_frame())(d)


BOM = b"\xef\xbb\xbf"
GOOD = good_frame()

CASES = [
    # -- CSV text
    Case("csv-empty-file", text_file("empty.csv", b""), "is empty"),
    Case("csv-header-only", text_file("header.csv", "x,z,label\n"), "has no rows"),
    Case("csv-blank-lines-only", text_file("blank.csv", "\n\n\n"), "no columns"),
    Case("csv-binary-garbage", text_file("garbage.csv", bytes(range(256)) * 40), "binary data"),
    Case("csv-nul-bytes", text_file("nul.csv", b"x,label\n1,a\x00\x00\n2,b\n"), "binary data"),
    Case("csv-utf8-bom", csv_file("bom.csv", GOOD, prefix=BOM), None),
    Case("csv-latin1", csv_file("latin.csv", GOOD.assign(label=["é", "ü", "ø"] * 10), "latin-1"), None),
    Case("csv-utf16-bom", csv_file("utf16.csv", GOOD, "utf-16"), None),
    Case("csv-crlf", text_file("crlf.csv", GOOD.to_csv(index=False).replace("\n", "\r\n")), None),
    Case("csv-semicolons", text_file("semi.csv", GOOD.to_csv(index=False, sep=";")), None),
    Case("csv-tabs", text_file("tabs.csv", GOOD.to_csv(index=False, sep="\t")), None),
    Case("csv-duplicate-label-column", text_file("dup.csv", "x,label,label\n" + "1,a,b\n2,b,a\n3,a,b\n" * 4),
         "duplicate column names: 'label'"),
    Case("csv-label-missing", csv_file("nolabel.csv", GOOD.drop(columns="label")), "'label' not found"),
    Case("csv-nan-labels", csv_file("nan.csv", GOOD.assign(label=["a", None, "b"] * 10)), "missing"),
    Case("csv-one-class", csv_file("one.csv", GOOD.assign(label="a")), "only one class"),
    Case("csv-only-label", csv_file("only.csv", GOOD[["label"]]), "no feature columns"),
    Case("csv-ragged-rows", text_file("ragged.csv", "x,label\n1,a\n2,b,3,4\n3,a\n"), "could not be parsed"),
    Case("csv-unterminated-quote", text_file("quote.csv", 'x,label\n1,"a\n2,b\n'), "could not be parsed"),
    Case("csv-infinite-feature", csv_file("inf.csv", GOOD.assign(x=[np.inf] + [1.0] * 29)), None),
    Case("csv-duplicate-ids", csv_file("ids.csv", GOOD.assign(sid=["s1"] * 30)), "not unique",
         args=("--label", "label", "--id-column", "sid")),
    Case("csv-many-int-labels-as-classes", many_int_labels, None,
         args=("--label", "label", "--task", "classification")),
    Case("file-wrong-suffix", text_file("data.txt", "x,label\n1,a\n"), "unsupported file type"),
    Case("file-no-suffix", text_file("data", "x,label\n1,a\n"), "unsupported file type"),
    # -- Parquet
    Case("parquet-good", lambda d: (GOOD.to_parquet(d / "good.parquet"), d / "good.parquet")[1], None),
    Case("parquet-list-column", parquet_file("list.parquet", lambda: __import__("pyarrow").table(
        {"x": [1.0, 2.0, 3.0], "tags": [[1], [2, 3], []], "label": ["a", "b", "a"]})), "nested"),
    Case("parquet-struct-column", parquet_file("struct.parquet", lambda: __import__("pyarrow").table(
        {"x": [1.0, 2.0, 3.0], "meta": [{"k": 1}, {"k": 2}, {"k": 3}], "label": ["a", "b", "a"]})), "nested"),
    Case("parquet-duplicate-columns", parquet_file("dup.parquet", lambda: __import__("pyarrow").Table.from_arrays(
        [__import__("pyarrow").array(v) for v in ([1.0, 2.0, 3.0], ["a", "b", "a"], ["b", "a", "b"])],
        names=["x", "label", "label"])), "duplicate column names"),
    Case("parquet-not-parquet", text_file("fake.parquet", "x,label\n1,a\n2,b\n"), "not a Parquet file"),
    Case("parquet-truncated", truncated("cut.parquet", lambda d: (GOOD.to_parquet(d / "f.parquet"),
                                                                  d / "f.parquet")[1],
                                        lambda b: b[:8] + b[len(b) // 2:]), "could not be read as Parquet"),
    # -- zips and image folders
    Case("zip-good", zip_file("good.zip", images()), None, args=()),
    Case("zip-slip", zip_file("slip.zip", {**images(), "../../escaped.png": png_bytes()}), "escapes its folder",
         args=()),
    Case("zip-absolute-path", zip_file("abs.zip", {**images(), "/tmp/evil.png": png_bytes()}), "absolute path",
         args=()),
    Case("zip-symlink-entry", zip_file("link.zip", images(), {"a/link.png": "../../etc/passwd"}), "symbolic link",
         args=()),
    Case("zip-duplicate-entries", duplicate_entries, "more than once: a/0.png", args=()),
    Case("zip-declared-bomb", declared_bomb, "the limit is", args=()),
    Case("zip-encrypted", encrypted, "encrypted", args=()),
    Case("zip-not-a-zip", text_file("fake.zip", "just text"), "not a zip archive", args=()),
    Case("zip-truncated", truncated("cut.zip", zip_file("f.zip", images()), lambda b: b[:60]), "not a zip",
         args=()),
    Case("zip-empty", zip_file("nothing.zip", {}), "contains no images", args=()),
    Case("image-pixel-bomb", zip_file("huge.zip", {**images(), "b/huge.png": png_claiming(20000, 20000)}),
         "too large", args=()),
    Case("image-zero-width", zip_file("zero.zip", {**images(), "b/zero.png": png_claiming(0, 5)}), "zero.png",
         args=()),
    Case("image-not-an-image", zip_file("text.zip", {**images(), "b/x.png": b"not a png"}), "not an image",
         args=()),
    Case("image-gif-named-png", zip_file("gif.zip", {**images(), "b/g.png": gif_bytes()}), "not an image",
         args=()),
    Case("image-truncated-png", zip_file("cutpng.zip", {**images(), "b/cut.png": png_bytes((30, 30))[:60]}),
         "cut.png", args=()),
    Case("image-outside-class-folder", zip_file("flat.zip", {**images(), "loose.png": png_bytes()}),
         "not inside a class folder", args=()),
    Case("image-one-per-class", zip_file("single.zip", {f"{c}/1.png": png_bytes(color=60 * k)
                                                        for k, c in enumerate("abc")}), "single image", args=()),
    Case("image-tiny-first", zip_file("tiny.zip", {"a/0.png": png_bytes((1, 1)), **images(size=(10, 10))}), None,
         args=()),
    Case("image-16-bit", zip_file("deep.zip", {f"{c}/{i}.png": png16(9000 + 40000 * k + 99 * i)
                                               for k, c in enumerate("ab") for i in range(3)}), None, args=()),
    Case("manifest-missing-file", zip_file("man.zip", {**{f"img/{i}.png": png_bytes() for i in range(2)},
                                                       "manifest.csv": b"path,label\nimg/0.png,a\nimg/9.png,b\n"}),
         "not in the upload", args=()),
    Case("manifest-escaping-path", zip_file("man2.zip", {"img/0.png": png_bytes(),
                                                         "manifest.csv": b"path,label\n../0.png,a\nimg/0.png,b\n"}),
         "relative to the upload root", args=()),
    Case("folder-symlink-outside", outside_link, "links outside", args=()),
    Case("folder-missing", lambda d: d / "no_such_folder", "no such file", args=(), app=False),
    # -- CLI options (the app has no --out or --seed; parameters go through the same params.build)
    Case("out-is-input", with_input_as_out("same"), "is the input", args=("--label", "label", "--out", "data.csv"),
         app=False),
    Case("out-symlink-to-input", with_input_as_out("link"), "is the input",
         args=("--label", "label", "--out", "out_link.csv"), app=False),
    Case("out-missing-folder", csv_file("data.csv", GOOD), "output folder does not exist",
         args=("--label", "label", "--out", "nowhere/values.csv"), app=False),
    Case("seed-negative", csv_file("data.csv", GOOD), "--seed", args=("--label", "label", "--seed", "-1"),
         app=False),
    Case("task-unknown", csv_file("data.csv", GOOD), "--task", args=("--label", "label", "--task", "clusters"),
         app=False),
    Case("target-frac-zero", csv_file("data.csv", GOOD), "--target-frac",
         args=("--label", "label", "--target-frac", "0"), app=False),
    Case("inject-noise-above-one", csv_file("data.csv", GOOD), "--inject-noise",
         args=("--label", "label", "--inject-noise", "1.5"), app=False),
    Case("param-unknown-key", csv_file("data.csv", GOOD), "unknown parameter 'kk'",
         args=("--label", "label", "--param", "kk=3"), app=False, params={"knn_shapley": {"kk": "3"}}),
    Case("target-file-one-class", one_class_target, "target file target.csv",
         args=("--label", "label", "--target", "target.csv"), app=False),
    Case("param-lava-label-weight-inf", csv_file("data.csv", GOOD), "'label_weight' parameter of lava",
         args=("--label", "label", "--method", "lava", "--param", "label_weight=inf"), app=False,
         params={"lava": {"label_weight": "inf"}}),
    Case("param-lava-memory-inf", csv_file("data.csv", GOOD), "'max_memory_gb' parameter of lava",
         args=("--label", "label", "--method", "lava", "--param", "max_memory_gb=inf"), app=False,
         params={"lava": {"max_memory_gb": "inf"}}),
    Case("param-lossval-hidden-huge", csv_file("data.csv", GOOD), "'hidden' parameter of lossval",
         args=("--label", "label", "--method", "lossval", "--param", "hidden=100000,100000"), app=False,
         params={"lossval": {"hidden": "100000,100000"}}),
    Case("param-sava-n-jobs-1024", csv_file("data.csv", GOOD), "'n_jobs' parameter of sava",
         args=("--label", "label", "--method", "sava", "--param", "n_jobs=1024"), app=False,
         params={"sava": {"n_jobs": "1024"}}),
    Case("param-data-oob-n-estimators-nan", csv_file("data.csv", GOOD), "'n_estimators' parameter of data_oob",
         args=("--label", "label", "--method", "data_oob", "--param", "n_estimators=nan"), app=False,
         params={"data_oob": {"n_estimators": "nan"}}),
    Case("param-knn-k-text", csv_file("data.csv", GOOD), "'k' parameter of knn_shapley",
         args=("--label", "label", "--param", "k=ten"), app=False, params={"knn_shapley": {"k": "ten"}}),
]
assert len({c.name for c in CASES}) == len(CASES)


@dataclass
class Built:
    path: Path
    workdir: Path
    out: Path
    returncode: int
    stderr: str


#: also run as a plain ``python -m dataval_core.cli`` subprocess, not only as a forked child
SPAWNED = {"out-is-input", "zip-good"}


def _job(case: Case, base: Path) -> dict:
    d = base / case.name
    d.mkdir()
    path = case.make(d)
    args = list(case.args)
    out = d / "values.csv"
    if "--out" in args:
        out = d / args[args.index("--out") + 1]
    else:
        args += ["--out", str(out)]
    argv = ["value", str(path), *args, *([] if "--method" in args else RUN), "--quiet"]
    return {"cwd": str(d), "argv": argv, "stdout": str(d / "cli.out"), "stderr": str(d / "cli.err"),
            "path": str(path), "out": str(out)}


def _spawn(job: dict) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "dataval_core.cli", *job["argv"]], capture_output=True, text=True,
                          timeout=120, cwd=job["cwd"], env=env)
    return proc.returncode, proc.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Built]:
    """Every case's CLI run: forked children of one warm interpreter, a few also as plain subprocesses."""
    base = tmp_path_factory.mktemp("hostile")
    jobs = [_job(c, base) for c in CASES]
    spawned_jobs = [(c.name, j) for c, j in zip(CASES, jobs) if c.name in SPAWNED]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        plain = {name: pool.submit(_spawn, job) for name, job in spawned_jobs}
        proc = subprocess.run([sys.executable, str(Path(__file__).with_name("cliforks.py")), "3"],
                              input=json.dumps(jobs), capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr
        codes = json.loads(proc.stdout)
        out = {}
        for case, job, code in zip(CASES, jobs, codes):
            out[case.name] = Built(Path(job["path"]), Path(job["cwd"]) / "app-work", Path(job["out"]), code,
                                   Path(job["stderr"]).read_text())
        for name, future in plain.items():
            code, err = future.result()
            assert code == out[name].returncode, (name, err, out[name].stderr)
            assert code == 0 or err == out[name].stderr, (name, err, out[name].stderr)
    return out


def _expected_rows(built: Built) -> int:
    if built.path.suffix.lower() == ".zip":
        with zipfile.ZipFile(built.path) as zf:
            return sum(1 for n in zf.namelist() if n.endswith(".png"))
    if built.path.suffix.lower() == ".parquet":
        return len(pd.read_parquet(built.path))
    return len(GOOD) if built.path.name != "ints.csv" else 240


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli(case: Case, runs):
    built = runs[case.name]
    err = built.stderr
    assert "Traceback" not in err and "internal error" not in err, err
    if case.expect is None:
        assert built.returncode == 0, err
        values = pd.read_csv(built.out)
        assert len(values) == (case.rows or _expected_rows(built))
        valued = values[values.role == "valued"]
        assert len(valued) and np.all(np.isfinite(valued["value"]))
    else:
        lines = [line for line in err.splitlines() if line.strip()]
        assert built.returncode != 0 and len(lines) == 1, err
        assert case.expect.lower() in lines[0].lower(), lines[0]
        assert lines[0].startswith("dataval: error: ")
        written = built.out.exists() and case.name not in ("out-is-input", "out-symlink-to-input")
        assert not written, "an output file was written"
    assert not (built.workdir.parent.parent / "escaped.png").exists()


def _app_load(built: Built, case: Case):
    """What the Data page does: read the columns, load with the chosen label and task, split a target."""
    actions = pytest.importorskip("ui.actions")
    path, args = built.path, list(case.args)
    label = args[args.index("--label") + 1] if "--label" in args else None
    task = args[args.index("--task") + 1] if "--task" in args else None
    id_column = args[args.index("--id-column") + 1] if "--id-column" in args else None
    if actions.is_table(path):
        columns = actions.table_columns(path)
        assert label in columns or case.expect is not None
    ds = actions._uploaded(str(path), label, id_column, task, str(built.workdir))
    return actions.prepare(ds, target={"kind": "fraction", "frac": 0.2, "seed": 0}, noise=None)


@pytest.mark.parametrize("case", [c for c in CASES if c.app or c.params], ids=[c.name for c in CASES
                                                                             if c.app or c.params])
def test_app_loader(case: Case, runs):
    built = runs[case.name]
    if case.params:
        (method, values), = case.params.items()
        with pytest.raises(ValueError) as info:
            build(get_spec(method).load().Params, values, method)
        assert case.expect.lower() in str(info.value).lower()
        return
    if case.expect is None:
        ds = _app_load(built, case)
        assert len(ds) == (case.rows or _expected_rows(built)) and ds.is_target.any()
        assert ds.notes, "the loader's choices are shown to the user"
    else:
        with pytest.raises(DataError) as info:
            _app_load(built, case)
        message = str(info.value)
        assert "\n" not in message and case.expect.lower() in message.lower(), message


def test_table_has_enough_rows():
    assert len(CASES) >= 40
    assert sum(c.app for c in CASES) >= 40
