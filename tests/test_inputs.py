"""The input side: --out safety, one loader for app and CLI, image sizes and depths, task choice, messages."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dataval_core.cli import main
from dataval_core.dataset import CLASSIFICATION, REGRESSION, DataError
from dataval_core.embeddings.raw import raw_features
from dataval_core.images import load_image_matrix
from dataval_core.io import load_dataset, table_columns
from dataval_core.targets import load_target_file, split_target

from imagefiles import png_bytes, write_zip

ROOT = Path(__file__).resolve().parents[1]


def cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code, err, fragment):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert fragment.lower() in lines[0].lower(), lines[0]


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.csv"
    pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40), "label": np.arange(40) % 2}).to_csv(
        path, index=False)
    return path


# -- --out -------------------------------------------------------------------------------
def _out_variants(tmp_path: Path, data: Path) -> dict[str, str]:
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    (tmp_path / "sub").mkdir()
    return {"same": str(data), "symlink": str(link), "dotdot": str(tmp_path / "sub" / ".." / data.name),
            "hardlink": str(hard)}


@pytest.mark.parametrize("variant", ["same", "symlink", "dotdot", "hardlink"])
def test_out_that_is_the_input_is_refused_and_the_input_is_kept(variant, table, tmp_path, capsys):
    before = table.read_bytes()
    out = _out_variants(tmp_path, table)[variant]
    code, _, err = cli(["value", table, "--label", "label", "--out", out, "--quiet"], capsys)
    one_line(code, err, "is the input")
    assert table.read_bytes() == before


def test_out_that_is_the_target_file_or_inside_an_input_folder_is_refused(table, tmp_path, capsys):
    target = tmp_path / "target.csv"
    target.write_bytes(table.read_bytes())
    code, _, err = cli(["value", table, "--label", "label", "--target", target, "--out", target, "--quiet"], capsys)
    one_line(code, err, "is the input")
    folder = tmp_path / "imgs"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            (folder / cls / f"{i}.png").write_bytes(png_bytes(color=40 + 100 * (cls == "b")))
    code, _, err = cli(["value", folder, "--out", folder / "a" / "values.csv", "--quiet"], capsys)
    one_line(code, err, "inside the input folder")
    assert not (folder / "a" / "values.csv").exists()


def test_out_is_checked_before_loading(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")  # would fail to load: the --out error must come first
    code, _, err = cli(["value", bad, "--label", "y", "--out", tmp_path / "missing" / "v.csv"], capsys)
    one_line(code, err, "output folder does not exist")
    code, _, err = cli(["value", bad, "--label", "y", "--out", tmp_path], capsys)
    one_line(code, err, "is a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_is_refused_before_loading(tmp_path, table, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = cli(["value", table, "--label", "label", "--out", ro / "v.csv", "--quiet"], capsys)
    finally:
        ro.chmod(0o700)
    one_line(code, err, "not writable")


def test_a_failed_run_leaves_the_old_output_and_no_partial_file(table, tmp_path, capsys):
    out = tmp_path / "values.csv"
    out.write_text("old results\n")
    # loads fine, then lava refuses the problem as too big for the memory limit (inside the run)
    code, _, err = cli(["value", table, "--label", "label", "--method", "lava", "--param", "max_memory_gb=1e-9",
                        "--out", out, "--quiet"], capsys)
    one_line(code, err, "max_memory_gb")
    assert out.read_text() == "old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "values.csv"]
    code, _, err = cli(["value", table, "--label", "label", "--method", "knn_shapley", "--out", out, "--quiet"],
                       capsys)  # any method that succeeds: what is tested is the output file
    assert code == 0, err
    assert len(pd.read_csv(out)) == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "values.csv"]


# -- options and messages ----------------------------------------------------------------
def test_seed_out_of_range_names_the_option(table, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dataval_core.cli", "value", str(table), "--label", "label",
                           "--seed", "-1", "--out", str(tmp_path / "v.csv")], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--seed" in proc.stderr and "Traceback" not in proc.stderr


def test_many_integer_labels_say_why_regression_and_task_overrides(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = tmp_path / "many.csv"
    pd.DataFrame({"x": rng.normal(size=240), "label": np.repeat(np.arange(60), 4)}).to_csv(path, index=False)
    ds = load_dataset(path, label="label")
    assert ds.task == REGRESSION
    assert any("60 distinct values" in n and "classification" in n for n in ds.notes)
    assert load_dataset(path, label="label", task=CLASSIFICATION).n_classes == 60
    code, _, err = cli(["value", path, "--label", "label", "--method", "data_oob", "--param", "n_estimators=10",
                        "--out", tmp_path / "v.csv", "--quiet"], capsys)
    assert code == 0 and "Task: regression, because the labels are integers with 60 distinct values" in err
    code, _, err = cli(["value", path, "--label", "label", "--task", "classification", "--method", "knn_shapley",
                        "--out", tmp_path / "v.csv", "--quiet"], capsys)
    assert code == 0 and "Task: classification (chosen explicitly)" in err, err


def test_one_image_per_class_says_what_is_wrong(tmp_path):
    write_zip(tmp_path / "one.zip", {f"{c}/1.png": png_bytes(color=30 * i) for i, c in enumerate("abc")})
    ds = load_dataset(tmp_path / "one.zip", workdir=tmp_path / "x")
    with pytest.raises(DataError, match="Every class has a single image .* each class needs at least 2 images"):
        split_target(ds, 0.2)


def test_one_class_target_file_is_named(table, tmp_path):
    target = tmp_path / "trusted.csv"
    pd.DataFrame({"x": [1.0, 2.0], "z": [0.0, 1.0], "label": [1, 1]}).to_csv(target, index=False)
    with pytest.raises(DataError, match=r"^Target file trusted\.csv: the label column has only one class"):
        load_target_file(load_dataset(table, label="label"), target)


def test_lava_missing_classes_message_keeps_its_reason_short(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n),
                          "label": [f"class_{i}" for i in range(n - 100)] + ["a", "b"] * 50,
                          "trusted": [False] * (n - 100) + [True, True, False, False] * 25})
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    code, _, err = cli(["value", path, "--label", "label", "--task", "classification", "--target-col", "trusted",
                        "--method", "lava", "--embedding", "raw", "--out", tmp_path / "v.csv", "--quiet"], capsys)
    one_line(code, err, "none in the target set")
    assert len(err) < 300 and "and 295 more" in err


# -- one loader: encodings, BOM, duplicates, Parquet ---------------------------------------
def test_bom_latin1_and_utf16_tables_read_the_same_in_app_and_cli(tmp_path):
    frame = pd.DataFrame({"café": [1.5, 2.5, 3.5, 4.5], "label": ["é", "ü", "é", "ü"]})
    text = frame.to_csv(index=False)
    files = {"bom.csv": b"\xef\xbb\xbf" + text.encode("utf-8"), "latin.csv": text.encode("latin-1"),
             "utf16.csv": text.encode("utf-16")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert table_columns(tmp_path / name) == ["café", "label"], name
        ds = load_dataset(tmp_path / name, label="label")
        assert ds.classes == ("é", "ü") and ds.table["café"].tolist() == [1.5, 2.5, 3.5, 4.5], name


def test_latin1_byte_past_the_sniffed_block_falls_back(tmp_path):
    rows = ["x,label"] + [f"{i},a" if i % 2 else f"{i},b" for i in range(20000)] + ["1,\xe9"]
    path = tmp_path / "late.csv"
    path.write_bytes("\n".join(rows).encode("latin-1"))
    assert "é" in load_dataset(path, label="label").classes


def test_duplicate_column_names_are_an_error(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,label,label\n1,a,b\n2,b,a\n3,a,b\n")
    for read in (lambda: table_columns(path), lambda: load_dataset(path, label="label")):
        with pytest.raises(DataError, match="duplicate column names: 'label'"):
            read()


def test_nested_parquet_columns_are_refused_with_their_names(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"x": [1.0, 2.0, 3.0], "tags": [[1], [2, 3], []], "meta": [{"a": 1}, {"a": 2}, {"a": 3}],
                      "label": ["a", "b", "a"]})
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    for read in (lambda: table_columns(path), lambda: load_dataset(path, label="label")):
        with pytest.raises(DataError, match=r"nested \(list, struct or map\) column\(s\): 'tags', 'meta'"):
            read()


def test_app_and_cli_use_the_same_loader():
    actions = pytest.importorskip("ui.actions")
    import dataval_core.io as engine_io

    assert actions.engine_io is engine_io
    assert actions.table_columns.__code__.co_names.count("table_columns") == 1


# -- images -------------------------------------------------------------------------------
def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_a_tiny_first_image_does_not_shrink_the_set(tmp_path):
    root = tmp_path / "imgs"
    _save(root / "a" / "0.png", np.zeros((1, 1), np.uint8))  # sorts first
    for i in range(1, 5):
        _save(root / "a" / f"{i}.png", np.full((12, 12), 40, np.uint8))
        _save(root / "b" / f"{i}.png", np.full((12, 12), 200, np.uint8))
    ds = load_dataset(root)
    assert any("resized to 12x12" in n and "1 of 9 images are resized" in n for n in ds.notes), ds.notes
    fm = raw_features(ds)
    assert fm.image_shape == (1, 12, 12)
    assert "1 of 9 images are resized" in fm.notes[0]


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    dark, bright = tmp_path / "dark.png", tmp_path / "bright.png"
    _save(dark, np.full((4, 4), 20000, np.uint16))
    _save(bright, np.full((4, 4), 60000, np.uint16))
    x = load_image_matrix([dark, bright], 4, "L")
    np.testing.assert_allclose(x[:, 0], [20000 / 65535, 60000 / 65535], rtol=1e-5)
    rgb = load_image_matrix([dark], 2, "RGB")
    np.testing.assert_allclose(rgb, 20000 / 65535, rtol=1e-5)


def test_duplicate_zip_entries_are_an_error_naming_them(tmp_path):
    import warnings
    import zipfile

    path = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is asked to write
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a/1.png", png_bytes(color=10))
            zf.writestr("b/1.png", png_bytes(color=200))
            zf.writestr("a/1.png", png_bytes(color=250))
            zf.writestr("./b/1.png", png_bytes(color=0))
    with pytest.raises(DataError, match=r"same path more than once: a/1\.png, b/1\.png"):
        load_dataset(path, workdir=tmp_path / "x")
    assert not (tmp_path / "x" / "a").exists()


# -- the app's Data page --------------------------------------------------------------------
def test_data_page_reads_uploads_like_the_cli_and_offers_the_task(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("app_pages/1_data.py").run()
    at.segmented_control(key="data_source").set_value("Upload a file").run()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"poids": rng.normal(size=240), "label": np.repeat(np.arange(60), 4)})
    latin = b"\xef\xbb\xbf" + frame.to_csv(index=False).encode()
    at.file_uploader(key="data_upload").upload("ints.csv", latin, "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="data_label").options == ["poids", "label"]  # no '\ufefflabel'
    assert any("Task: regression, because the labels are integers with 60 distinct values" in c.value
               for c in at.caption)
    at.segmented_control(key="data_task").set_value("Classification").run()
    assert any("60 classes" in s.value for s in at.success)
    assert any("Task: classification (chosen explicitly)" in c.value for c in at.caption)

    at.file_uploader(key="data_upload").upload("dup.csv", b"x,label,label\n1,a,b\n2,b,a\n", "text/csv").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["dup.csv has duplicate column names: 'label'; rename them so each "
                                           "column is named once."]


def test_out_over_a_bundled_sample_is_refused(capsys):
    digits = ROOT / "sample_data" / "digits.csv"
    before = digits.read_bytes()
    code, _, err = cli(["value", "sample:digits", "--out", digits, "--quiet"], capsys)
    one_line(code, err, "is the input")
    assert digits.read_bytes() == before


def test_a_write_that_fails_midway_keeps_the_old_output(tmp_path):
    """A real fault: the file-size limit (RLIMIT_FSIZE) stops the CSV write halfway."""
    import resource
    import signal

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out = tmp_path / "values.csv"
    out.write_text("old results\n")
    proc = subprocess.run([sys.executable, "-m", "dataval_core.cli", "value", str(ROOT / "sample_data" / "digits.csv"),
                           "--label", "label", "--method", "random", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, preexec_fn=limit_file_size)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "too large" in proc.stderr, proc.stderr
    assert out.read_text() == "old results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["values.csv"]


def test_parquet_columns_in_the_app_menu_match_the_loaded_table(tmp_path):
    path = tmp_path / "indexed.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": list("abab")}, index=[5, 6, 7, 8]).to_parquet(path)
    assert table_columns(path) == list(load_dataset(path, label="label").table.columns) == ["x", "label"]


def test_output_gets_ordinary_permissions(table, tmp_path, capsys):
    out = tmp_path / "values.csv"
    old = os.umask(0o022)
    try:
        code, _, err = cli(["value", table, "--label", "label", "--method", "knn_shapley", "--out", out, "--quiet"],
                           capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_rejected_option_keeps_the_files_of_a_dataset_in_use(tmp_path, monkeypatch):
    """Upload a class-folder zip and use it; then ask for regression (refused): its images must stay."""
    from streamlit.testing.v1 import AppTest

    from ui import state

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("app_pages/1_data.py").run()
    at.segmented_control(key="data_source").set_value("Upload a file").run()
    entries = {f"{c}/{i}.png": png_bytes(color=40 + 100 * k + i) for k, c in enumerate("ab") for i in range(4)}
    data = write_zip(tmp_path / "pics.zip", entries).read_bytes()
    at.file_uploader(key="data_upload").upload("pics.zip", data, "application/zip").run()
    at.button(key="data_use").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ws = state._workspace(str((tmp_path / "ws").resolve()))
    stored = ws.load_dataset(at.session_state["dataset_key"])
    assert all(p.is_file() for p in stored.image_paths())
    at.segmented_control(key="data_task").set_value("Regression").run()
    assert [e.value for e in at.error] == ["Class-folder images are a classification dataset; use a manifest CSV "
                                           "for regression."]
    assert all(p.is_file() for p in stored.image_paths())


def test_export_rereads_a_latin1_semicolon_manifest_like_the_loader(tmp_path):
    from dataval_core.export import export_dataset

    root = tmp_path / "up"
    for i in range(4):
        (root / "img").mkdir(parents=True, exist_ok=True)
        (root / "img" / f"{i}.png").write_bytes(png_bytes(color=50 * i))
    (root / "manifest.csv").write_bytes("path;espèce\nimg/0.png;é\nimg/1.png;ü\nimg/2.png;é\nimg/3.png;ü\n"
                                        .encode("latin-1"))
    ds = load_dataset(root, label="espèce")
    out = export_dataset(ds, None, tmp_path / "out.zip")
    import zipfile

    with zipfile.ZipFile(out) as zf:
        manifest = zf.read("manifest.csv").decode("utf-8")
    assert manifest.splitlines()[0].split(",") == ["path", "espèce"] and "é" in manifest


# -- no silent wrong guesses, and one clear line for each unclear error (issue 18) ---------------------
def _penguins_csv(tmp_path: Path, **extra) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"species": rng.choice(["Adelie", "Gentoo", "Chinstrap"], n),
                          "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
                          "bill_length_mm": rng.normal(44, 5, n), "sex": rng.choice(["male", "female"], n),
                          **extra, "year": rng.choice([2007, 2008, 2009], n)})
    path = tmp_path / "penguins.csv"
    frame.to_csv(path, index=False)
    return path


def _notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("dataval: ") and "error" not in line]


def test_cli_guesses_the_label_says_why_and_leaves_out_the_truth_column(tmp_path, capsys):
    data = _penguins_csv(tmp_path, is_mislabeled=np.resize([True, False, False], 60))
    code, _, err = cli(["value", data, "--method", "random", "--out", tmp_path / "v.csv", "--quiet"], capsys)
    assert code == 0 and "Traceback" not in err, err
    notes = _notes(err)
    assert notes[:2] == [
        "dataval: Label column guessed (no --label given): 'species' is named like a label column and holds 3 "
        "distinct values. Pass --label to choose another.",
        "dataval: Left out of the features: 'is_mislabeled' (it looks like the truth about the labels and would "
        "give the answer away)."]
    assert set(pd.read_csv(tmp_path / "v.csv")["label"]) == {"Adelie", "Gentoo", "Chinstrap"}


@pytest.mark.parametrize("drop, rename, fragment", [
    ("species", {}, "'island', 'sex' and 'year' could each be the label"),
    (None, {"island": "class"}, "'species' and 'class' are each named like a label column"),
])
def test_cli_unsure_label_guess_is_one_line_asking_for_label(tmp_path, capsys, drop, rename, fragment):
    data = _penguins_csv(tmp_path)
    frame = pd.read_csv(data).rename(columns=rename)
    frame.drop(columns=[drop] if drop else []).to_csv(data, index=False)
    code, _, err = cli(["value", data, "--method", "random", "--out", tmp_path / "v.csv", "--quiet"], capsys)
    one_line(code, err, fragment)
    line = err.strip()
    assert line.startswith("dataval: error: No label column given, and none stands out: ")
    assert "choose one (--label) from: " in line and not (tmp_path / "v.csv").exists()


def test_cli_one_class_label_quotes_the_class(tmp_path, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0, 0, 0]}).to_csv(path, index=False)
    code, _, err = cli(["value", path, "--label", "label", "--out", tmp_path / "v.csv", "--quiet"], capsys)
    one_line(code, err, "only one class")
    assert err.strip() == ("dataval: error: The label column has only one class ('0'); valuation needs at least "
                           "two.")


def test_cli_says_infinite_values_are_replaced(tmp_path, capsys):
    data = _penguins_csv(tmp_path, depth=[np.inf, -np.inf, np.inf] + [1.0] * 57)
    code, _, err = cli(["value", data, "--label", "species", "--method", "random", "--out", tmp_path / "v.csv",
                        "--quiet"], capsys)
    assert code == 0, err
    assert "dataval: Column 'depth' has 3 infinite values (±inf); they are replaced by the column median." in \
        err.splitlines()
    assert "empty cell" not in err


@pytest.mark.parametrize("name, arg", [("pca:-3", "-3"), ("pca:abc", "abc"), ("pca:0", "0")])
def test_cli_pca_dimensions_must_be_positive_integers(table, tmp_path, capsys, name, arg):
    code, _, err = cli(["value", table, "--label", "label", "--method", "knn_shapley", "--embedding", name,
                        "--out", tmp_path / "v.csv", "--quiet"], capsys)
    one_line(code, err, name)
    assert err.strip() == (f"dataval: error: The embedding {name!r} needs a positive whole number of dimensions "
                           f"after 'pca:' (e.g. pca:16), got {arg!r}.")


def test_workspace_budget_is_said_in_units_that_read(tmp_path, monkeypatch, capsys):
    from dataval_core.workspace import Workspace, WorkspaceError, human_size

    assert [human_size(b) for b in (512, 64_000, 1e6, 3.4e6, 1.25e9)] == \
        ["512 bytes", "64 KB", "1.0 MB", "3.4 MB", "1.25 GB"]
    monkeypatch.setenv("DATAVAL_MAX_WORKSPACE_GB", "0.001")
    ws = Workspace(tmp_path / "ws")
    (ws.root / "big").write_bytes(b"\0" * 1_500_000)
    with pytest.raises(WorkspaceError) as err:
        ws.check_budget()
    assert re.search(r"size budget \(1\.\d MB of 1\.0 MB, DATAVAL_MAX_WORKSPACE_GB\)", str(err.value)), err.value
    assert main(["health", "--workspace", str(ws.root)]) == 1
    assert re.search(r"over its size budget: 1\.\d MB of 1\.0 MB used", capsys.readouterr().err)


def _listener(reply: bytes | None):
    """A loopback server that accepts connections and sends ``reply`` (None: stays silent)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    conns = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            if reply is not None:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return server, conns


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n"], ids=["silent", "http"])
def test_a_port_that_is_not_ray_is_one_line_without_rays_logs(reply):
    from dataval_core.backend import BackendError, _check_reachable

    server, conns = _listener(reply)
    address = f"127.0.0.1:{server.getsockname()[1]}"
    try:
        with pytest.raises(BackendError) as err:
            _check_reachable(address, timeout_s=1.0)
    finally:
        server.close()
        for c in conns:
            c.close()
    assert str(err.value) == (f"no Ray cluster answers at {address} (something listens there, but it does not "
                              "speak Ray's gRPC protocol); start one with `ray start --head` or check the Ray "
                              "address (--ray-address).")


def test_cli_unreachable_ray_address_is_one_line_without_rays_logs(table, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dataval_core.cli", "value", str(table), "--label", "label",
                           "--method", "knn_shapley", "--backend", "ray", "--ray-address", "127.0.0.1:1",
                           "--out", str(tmp_path / "v.csv"), "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("dataval: error: no Ray cluster answers at 127.0.0.1:1 (Connection refused); ")
    assert "rpc_client" not in proc.stderr and "Traceback" not in proc.stderr


def test_data_page_shows_the_label_guess_or_asks_and_proposes_what_to_leave_out(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("app_pages/1_data.py").run()
    at.segmented_control(key="data_source").set_value("Upload a file").run()
    data = _penguins_csv(tmp_path, is_mislabeled=np.resize([True, False, False], 60))
    frame = pd.read_csv(data)
    at.file_uploader(key="data_upload").upload("p.csv", data.read_bytes(), "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="data_label").value == "species"
    assert "Guessed: 'species' is named like a label column and holds 3 distinct values." in \
        [c.value for c in at.caption]
    assert at.multiselect(key="data_left_out").value == ["is_mislabeled"]
    assert any(c.value.startswith("Proposed to leave out: `is_mislabeled` — it looks like the truth")
               for c in at.caption)

    unsure = frame.drop(columns="species").to_csv(index=False).encode()
    at.file_uploader(key="data_upload").upload("q.csv", unsure, "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="data_label").value is None  # no preselected guess
    assert any(c.value.startswith("Which column is the label? No guess: 'island', 'sex' and 'year' could each")
               for c in at.caption)
    assert any("Choose the label column to load the table." in i.value for i in at.info)
    assert not at.success  # nothing loaded until the user chooses
    at.selectbox(key="data_label").set_value("island").run()
    assert any("3 classes" in s.value for s in at.success)


def test_encoding_line_names_infinite_values_apart_from_empty_cells(tmp_path):
    from dataval_core.io import load_frame
    from ui.data import encoding_summary

    frame = pd.DataFrame({"x": [np.inf, 1.0, np.nan, 2.0], "z": [1.0, 2.0, 3.0, 4.0], "label": ["a", "b"] * 2})
    line = encoding_summary(load_frame(frame, "label")).line
    assert "1 empty cell(s) imputed in `x`" in line
    assert "1 infinite value(s) (±inf) replaced by the column median in `x`" in line


def test_disk_full_while_valuate_is_open_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui.sessions import AppWorkspace

    from test_reliability import _mount, fill, small_table

    disk = tmp_path / "disk"
    disk.mkdir()
    if _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        root = disk / "ws"
        ws = AppWorkspace(root)
        sid = ws.mint_session()
        record = ws.add_dataset(sid, small_table())
        ws.set_current_dataset(sid, record.key)
        ws.create_run(record.key, "random", embedding=None, params={}, seed=0)  # a run in progress
        monkeypatch.setenv("DATAVAL_WORKSPACE", str(root))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["sid"] = sid
        at.run().switch_page("app_pages/2_valuate.py").run()
        assert not at.exception and at.button(key="val_run")
        fill(disk, leave=0)  # the disk fills up while the page polls
        for _ in range(2):
            at.run()
            assert not at.exception, at.exception[0].value
            errors = [e.value for e in at.error]
            assert len(errors) == 1 and "disk is full" in errors[0] and str(root) not in errors[0], errors
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_workspace_fault_in_the_polling_progress_is_one_line_and_the_page_goes_on(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dataval_core.io import load_frame
    from dataval_core.targets import split_target
    from dataval_core.workspace import WorkspaceError
    from ui.sessions import AppWorkspace

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(tmp_path / "ws"))
    ws = AppWorkspace(tmp_path / "ws")
    sid = ws.mint_session()
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7, "label": ["p", "q"] * 20})
    record = ws.add_dataset(sid, split_target(load_frame(frame, "label"), 0.25))
    ws.set_current_dataset(sid, record.key)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["sid"] = sid
    at.run().switch_page("app_pages/2_valuate.py").run()
    assert not at.exception

    def full(_record):
        raise WorkspaceError("The workspace disk is full, so nothing more can be saved.", "full")

    monkeypatch.setattr("ui.progress._active", full)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Progress cannot be read from the workspace right now. The workspace disk "
                                           "is full, so nothing more can be saved."]
    assert any(c.value == "No runs yet." for c in at.caption)  # the rest of the page is still drawn


def test_a_full_disk_in_a_run_names_no_server_path():
    import errno

    from dataval_core.errors import one_line_error

    exc = OSError(errno.ENOSPC, "No space left on device", "/srv/dataval/ws/cache/emb-1.tmp.npy")
    assert one_line_error(exc) == ("The disk is full, so the run could not write its files. Free some space (or run "
                                   "`dataval gc`) and try again.")
