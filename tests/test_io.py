"""Loaders and safe image decoding: round trips, and every bad upload failing with one clear line."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, features

from dataval_core import io as dio
from dataval_core.dataset import CLASSIFICATION, IMAGE, REGRESSION, TABLE, DataError
from dataval_core.images import MAX_PIXELS, check_image, image_mode_for, load_image_matrix, open_image, thumbnail_png
from dataval_core.io import extract_zip, load_dataset, load_frame
from dataval_core.samples import SAMPLES, load_sample

from imagefiles import png_bytes, png_claiming, write_zip


# -- helpers ------------------------------------------------------------------------------
def image_bytes(fmt: str, size=(8, 6), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 200, 30) if mode == "RGB" else 90).save(buf, fmt)
    return buf.getvalue()


def write_tree(root: Path, entries: dict[str, bytes]) -> Path:
    for name, data in entries.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [31, 45, 22, 60, 38, 51],
        "income": [1.5, 2.25, np.nan, 4.0, 3.5, 2.0],
        "city": ["Oslo", "Rome", "Oslo", "Lima", "Rome", "Lima"],
        "member": [True, False, True, True, False, False],
        "species": ["cat", "dog", "cat", "bird", "dog", "cat"],
    })


CLASS_TREE = {
    "cat/001.png": png_bytes((8, 8), "L"),
    "cat/002.png": png_bytes((12, 9), "RGB", (200, 10, 10)),
    "dog/a.jpg": image_bytes("JPEG", (16, 10)),
    "dog/b.bmp": image_bytes("BMP", (5, 7)),
}


# -- tables -------------------------------------------------------------------------------
def test_csv_round_trip_keeps_rows_dtypes_and_ids(tmp_path, mixed_frame):
    mixed_frame.to_csv(tmp_path / "pets.csv", index=False)
    ds = load_dataset(tmp_path / "pets.csv", label="species")
    assert ds.modality == TABLE and ds.task == CLASSIFICATION and ds.source_format == "csv"
    assert ds.name == "pets"
    assert ds.ids.tolist() == ["0", "1", "2", "3", "4", "5"]
    assert ds.classes == ("bird", "cat", "dog")
    assert ds.label_names().tolist() == mixed_frame["species"].tolist()
    assert ds.feature_columns == ("age", "income", "city", "member")
    assert not ds.is_target.any() and ds.original_labels is None
    pd.testing.assert_frame_equal(ds.table, mixed_frame)


def test_csv_with_id_column_and_semicolons(tmp_path, mixed_frame):
    frame = mixed_frame.assign(key=[f"k{i}" for i in range(6)])
    frame.to_csv(tmp_path / "pets.csv", index=False, sep=";")
    ds = load_dataset(tmp_path / "pets.csv", label="species", id_column="key")
    assert ds.ids.tolist() == [f"k{i}" for i in range(6)]
    assert "key" not in ds.feature_columns and "species" not in ds.feature_columns
    assert ds.meta["id_column"] == "key"


def test_parquet_round_trip_keeps_dtypes(tmp_path, mixed_frame):
    frame = mixed_frame.astype({"city": "category", "age": "int32"})
    frame.to_parquet(tmp_path / "pets.parquet", index=False)
    ds = load_dataset(tmp_path / "pets.parquet", label="species")
    assert ds.source_format == "parquet"
    pd.testing.assert_frame_equal(ds.table, frame)
    frame.to_parquet(tmp_path / "pets.pq", index=False)
    assert load_dataset(tmp_path / "pets.pq", label="species").content_hash() == ds.content_hash()


def test_load_frame_matches_csv_path(tmp_path, mixed_frame):
    mixed_frame.to_csv(tmp_path / "pets.csv", index=False)
    from_csv = load_dataset(tmp_path / "pets.csv", label="species", name="x")
    from_frame = load_frame(mixed_frame, "species", name="x")
    assert from_frame.content_hash() == from_csv.content_hash()


def test_label_type_inference_and_override():
    frame = pd.DataFrame({"x": np.arange(8.0), "y": [0.5, 1.2, 3.3, 2.0, 9.1, 4.4, 0.1, 7.7],
                          "k": [0, 1, 2, 0, 1, 2, 0, 1]})
    assert load_frame(frame, "y").task == REGRESSION
    ints = load_frame(frame, "k")
    assert ints.task == CLASSIFICATION and ints.classes == ("0", "1", "2")
    assert load_frame(frame, "k", task=REGRESSION).task == REGRESSION


@pytest.mark.parametrize("content, suffix, match", [
    (b"", ".csv", "is empty"),
    (b"", ".parquet", "is empty"),
    (b"a,b,species\n", ".csv", "has no rows"),
    (bytes(range(256)) * 40, ".csv", "not a CSV text file"),
    (b"\x89PNG garbage \x01\x02\x03\x04\x05\x06\x07\x08" * 20, ".csv", "not a CSV text file"),
    (b"this is not parquet at all", ".parquet", "not a Parquet file"),
    (b"PAR1" + bytes(range(50)) + b"PAR1", ".parquet", "could not be read as Parquet"),
    (b"PK\x03\x04 not really a zip", ".zip", "not a zip archive"),
    (b"a,b\n1,2\n", ".xlsx", "Unsupported file type '.xlsx'"),
])
def test_bad_files_raise_one_clear_line(tmp_path, content, suffix, match):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        load_dataset(path, label="species")
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="File not found"):
        load_dataset(tmp_path / "nope.csv", label="y")


@pytest.mark.parametrize("label, id_column, match", [
    ("kind", None, r"Label column 'kind' not found; available columns: age, .*species"),
    ("species", "nope", "Id column 'nope' not found"),
    ("species", "city", "Id column 'city' is not unique"),
    ("species", "species", "must differ"),
])
def test_bad_label_or_id_column(mixed_frame, label, id_column, match):
    with pytest.raises(DataError, match=match):
        load_frame(mixed_frame, label, id_column=id_column)


def test_no_label_guesses_by_name_and_says_why(mixed_frame):
    ds = load_frame(mixed_frame, None)
    assert ds.label_column == "species" and ds.classes == ("bird", "cat", "dog")
    assert ds.meta["label_guess"] == ("Label column guessed (no --label given): 'species' is named like a label "
                                      "column and holds 3 distinct values. Pass --label to choose another.")
    assert "label_guess" not in load_frame(mixed_frame, "species").meta


def test_no_label_and_no_clear_candidate_is_one_line_asking_for_it(mixed_frame):
    with pytest.raises(DataError) as err:
        load_frame(mixed_frame.rename(columns={"species": "kind"}), None)
    assert str(err.value) == ("No label column given, and none stands out: 'city', 'member' and 'kind' could each "
                              "be the label (few distinct values, none named like a label); choose one (--label) "
                              "from: age, income, city, member, kind.")


def test_label_problems(mixed_frame):
    with pytest.raises(DataError, match=r"^The label column has only one class \('cat'\); valuation needs at "
                                        r"least two\.$"):
        load_frame(mixed_frame.assign(species="cat"), "species")
    with pytest.raises(DataError, match=r"only one class \('0'\);"):  # not "(np.int64(0))"
        load_frame(mixed_frame.assign(species=0), "species")
    with pytest.raises(DataError, match="1 missing"):
        load_frame(mixed_frame.assign(species=["cat", None, "dog", "cat", "dog", "cat"]), "species")
    with pytest.raises(DataError, match="no feature columns"):
        load_frame(mixed_frame[["species"]], "species")


def test_nan_labels_in_csv(tmp_path):
    (tmp_path / "t.csv").write_text("x,y\n1,a\n2,\n3,b\n")
    with pytest.raises(DataError, match="missing"):
        load_dataset(tmp_path / "t.csv", label="y")


# -- images: folders, zips, manifests -----------------------------------------------------
def test_image_folder_round_trip(tmp_path):
    root = write_tree(tmp_path / "pets", CLASS_TREE)
    ds = load_dataset(root)
    assert ds.modality == IMAGE and ds.source_format == "images" and ds.table is None
    assert ds.ids.tolist() == sorted(CLASS_TREE)
    assert ds.label_names().tolist() == ["cat", "cat", "dog", "dog"]
    assert ds.image_root == root.resolve()
    assert all(p.is_file() for p in ds.image_paths())
    assert ds.name == "pets"


def test_numeric_class_folders_sort_numerically(tmp_path):
    root = write_tree(tmp_path / "d", {f"{c}/x.png": png_bytes() for c in (2, 10, 1)})
    assert load_dataset(root).classes == ("1", "2", "10")


def test_image_zip_round_trip_skips_junk_and_unwraps_single_folder(tmp_path):
    entries = {f"pets/{k}": v for k, v in CLASS_TREE.items()}
    entries |= {"__MACOSX/pets/cat/._001.png": b"junk", "pets/.DS_Store": b"junk", "pets/cat/Thumbs.db": b"x"}
    if features.check("webp"):
        entries["pets/dog/c.webp"] = image_bytes("WEBP")
    zpath = write_zip(tmp_path / "pets.zip", entries)
    work = tmp_path / "work"
    ds = load_dataset(zpath, workdir=work)
    assert ds.ids.tolist() == sorted(k.removeprefix("pets/") for k in entries if not any(
        s in k for s in ("__MACOSX", ".DS_Store", "Thumbs.db")))
    assert ds.image_root == (work / "pets").resolve()
    assert ds.classes == ("cat", "dog") and ds.name == "pets"
    assert not (work / "__MACOSX").exists() and not (work / "pets" / ".DS_Store").exists()


def test_manifest_zip_round_trip(tmp_path):
    manifest = "path,label,notes\nimgs/a.png,cat,x\nimgs/b.png,dog,y\n./imgs/c.png,cat,z\n"
    zpath = write_zip(tmp_path / "m.zip", {"manifest.csv": manifest.encode(), "imgs/a.png": png_bytes(),
                                           "imgs/b.png": png_bytes(), "imgs/c.png": png_bytes(),
                                           "imgs/unlisted.png": png_bytes()})
    ds = load_dataset(zpath, workdir=tmp_path / "w")
    assert ds.source_format == "images-manifest"
    assert ds.ids.tolist() == ["imgs/a.png", "imgs/b.png", "imgs/c.png"]
    assert ds.label_names().tolist() == ["cat", "dog", "cat"]
    assert ds.meta["manifest_name"] == "manifest.csv"


def test_manifest_with_numeric_labels_can_be_regression(tmp_path):
    root = write_tree(tmp_path / "r", {"labels.csv": b"path,score\na.png,0.5\nb.png,1.25\nc.png,3.75\n",
                                       "a.png": png_bytes(), "b.png": png_bytes(), "c.png": png_bytes()})
    ds = load_dataset(root, label="score")
    assert ds.task == REGRESSION and ds.labels.tolist() == [0.5, 1.25, 3.75]


@pytest.mark.parametrize("entries, match", [
    ({"manifest.csv": b"path,label\na.png,cat\nmissing.png,dog\n", "a.png": png_bytes()},
     "lists 'missing.png', which is not in the upload"),
    ({"manifest.csv": b"path,label\na.png,cat\n../b.png,dog\n", "a.png": png_bytes()}, "'../b.png'"),
    ({"manifest.csv": b"file,label\na.png,cat\n", "a.png": png_bytes()}, "needs columns 'path' and 'label'"),
    ({"manifest.csv": b"path,label\na.png,cat\na.png,dog\n", "a.png": png_bytes()}, "more than once"),
    ({"cat/a.png": png_bytes(), "cat/notes.txt": b"hello"}, "cat/notes.txt is not an image"),
    ({"cat/a.png": png_bytes(), "dog/b.png": b"not really a png"}, "dog/b.png is not an image"),
    ({"cat/a.png": png_bytes(), "dog/b.png": png_bytes()[:-20]}, "dog/b.png is a damaged image"),
    ({"cat/a.png": png_bytes(), "dog/b.png": png_claiming(8000, 8000)}, "dog/b.png is too large"),
    ({"cat/a.png": png_bytes(), "dog/b.png": png_claiming(20000, 20000)}, "dog/b.png is too large"),
    ({"cat/a.png": png_bytes(), "b.png": png_bytes()}, "b.png is not inside a class folder"),
    ({"cat/a.png": png_bytes(), "cat/b.png": png_bytes()}, "only one class"),
    ({"__MACOSX/cat/a.png": png_bytes(), ".hidden/b.png": png_bytes()}, "contains no images"),
])
def test_bad_image_uploads(tmp_path, entries, match):
    zpath = write_zip(tmp_path / "bad.zip", entries)
    with pytest.raises(DataError, match=match) as err:
        load_dataset(zpath, workdir=tmp_path / "w")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match=match):  # the same folder on disk fails the same way
        load_dataset(write_tree(tmp_path / "tree", entries))


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="contains no images"):
        load_dataset(tmp_path / "empty")


@pytest.mark.parametrize("entries, symlinks, match", [
    ({"cat/a.png": b"x", "../../evil.png": b"x"}, None, "escapes its folder"),
    ({"cat/a.png": b"x", "cat/../../evil.png": b"x"}, None, "escapes its folder"),
    ({"cat/a.png": b"x", "/tmp/evil.png": b"x"}, None, "absolute path"),
    ({"cat/a.png": b"x", "C:/evil.png": b"x"}, None, "absolute path"),
    ({"cat/a.png": b"x", "..\\evil.png": b"x"}, None, "escapes its folder"),
    ({"cat/a.png": b"x"}, {"cat/link.png": "../../evil.png"}, "symbolic link"),
])
def test_zip_slip_is_refused_and_nothing_is_written(tmp_path, entries, symlinks, match):
    (tmp_path / "z").mkdir()
    zpath = write_zip(tmp_path / "z" / "slip.zip", entries, symlinks)
    work = tmp_path / "a" / "b" / "work"
    before = all_files(tmp_path)
    with pytest.raises(DataError, match=match):
        load_dataset(zpath, workdir=work)
    written = all_files(tmp_path) - before
    assert all(Path(w).is_relative_to(Path("a", "b", "work")) for w in written), written
    assert not any(p.name == "evil.png" for p in tmp_path.rglob("*"))


def test_zip_caps(tmp_path, monkeypatch):
    zpath = write_zip(tmp_path / "z.zip", {f"c{i % 2}/{i}.png": png_bytes() for i in range(6)})
    monkeypatch.setattr(dio, "MAX_ZIP_ENTRIES", 5)
    with pytest.raises(DataError, match="has 6 entries; the limit is 5"):
        load_dataset(zpath, workdir=tmp_path / "w1")
    monkeypatch.setattr(dio, "MAX_ZIP_ENTRIES", 100)
    monkeypatch.setattr(dio, "MAX_ZIP_BYTES", 200)
    with pytest.raises(DataError, match="expands to .* GiB; the limit"):
        load_dataset(zpath, workdir=tmp_path / "w2")
    assert not (tmp_path / "w2").exists()


def test_encrypted_entries_are_refused(tmp_path):
    zpath = write_zip(tmp_path / "e.zip", {"c/a.png": png_bytes()})
    raw = bytearray(zpath.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag bit
        at = raw.find(sig)
        raw[at + flag_at] |= 1
    zpath.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="encrypted"):
        extract_zip(zpath, tmp_path / "w")


# -- images module ------------------------------------------------------------------------
def test_open_image_and_check_image():
    data = png_bytes((7, 5), "RGB", (1, 2, 3))
    im = open_image(data)
    assert im.size == (7, 5) and im.getpixel((0, 0)) == (1, 2, 3)
    assert check_image(data) == (7, 5, "RGB")
    with pytest.raises(DataError, match="the uploaded image is not an image"):
        open_image(b"GIF89a nope")
    with pytest.raises(DataError, match="too large to decode safely"):
        open_image(png_claiming(MAX_PIXELS // 1000 + 1, 1000))
    gif = io.BytesIO()
    Image.new("L", (4, 4)).save(gif, "GIF")
    with pytest.raises(DataError, match="not an image"):  # a real image, but not an accepted format
        check_image(gif.getvalue(), name="x.gif")


def test_load_image_matrix_layout_and_range(tmp_path):
    root = write_tree(tmp_path, {"a.png": png_bytes((10, 4), "RGB", (255, 0, 0)), "b.jpg": image_bytes("JPEG"),
                                 "g.png": png_bytes((3, 3), "L", 255)})
    paths = [root / "a.png", root / "b.jpg", root / "g.png"]
    x = load_image_matrix(paths, 6, "RGB")
    assert x.shape == (3, 3 * 36) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    red = x[0].reshape(3, 6, 6)  # channels first
    assert np.allclose(red[0], 1) and np.allclose(red[1:], 0)
    gray = load_image_matrix([root / "g.png"], 4, "L")
    assert gray.shape == (1, 16) and np.allclose(gray, 1)
    assert image_mode_for([root / "g.png"]) == "L"
    assert image_mode_for(paths) == "RGB"


def test_transparency_is_composited_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.allclose(load_image_matrix([tmp_path / "clear.png"], 4, "L"), 1)


def test_thumbnail_png(tmp_path):
    (tmp_path / "big.png").write_bytes(png_bytes((300, 150), "RGB", (0, 0, 255)))
    thumb = Image.open(io.BytesIO(thumbnail_png(tmp_path / "big.png", size=96)))
    assert thumb.format == "PNG" and thumb.size == (96, 48)


# -- bundled samples ----------------------------------------------------------------------
def test_samples_load():
    got = {s.name: load_sample(s.name) for s in SAMPLES}
    assert set(got) == {"mnist", "digits", "breast_cancer", "diabetes"}
    for s in SAMPLES:
        ds = got[s.name]
        assert (len(ds), ds.modality, ds.task) == (s.rows, s.modality, s.task)
    mnist = got["mnist"]
    assert mnist.classes == tuple(str(d) for d in range(10))
    assert np.bincount(mnist.labels).tolist() == [500] * 10
    assert mnist.ids[0] == "0/0000.png"
    with Image.open(mnist.image_paths()[0]) as first:
        assert first.size == (28, 28)
    assert got["breast_cancer"].classes == ("benign", "malignant")
    assert got["digits"].feature_columns == tuple(f"px{i}" for i in range(64))
    assert got["diabetes"].label_column == "progression" and len(got["diabetes"].feature_columns) == 10
    with pytest.raises(DataError, match="Unknown sample 'cifar'; available: mnist"):
        load_sample("cifar")


def test_digits_sample_matches_sklearn():
    from sklearn.datasets import load_digits

    ds = load_sample("digits")
    data = load_digits()
    assert np.array_equal(ds.table[list(ds.feature_columns)].to_numpy(), data.data)
    assert np.array_equal(ds.label_names().astype(int), data.target)


def test_sample_data_is_small():
    root = Path(__file__).resolve().parent.parent / "sample_data"
    total = sum(os.path.getsize(p) for p in root.rglob("*") if p.is_file())
    assert total < 5 * 1024**2


def test_existing_symlink_in_workdir_cannot_redirect_extraction(tmp_path):
    outside, work = tmp_path / "outside", tmp_path / "work"
    outside.mkdir()
    work.mkdir()
    (work / "cat").symlink_to(outside, target_is_directory=True)
    zpath = write_zip(tmp_path / "z.zip", {"cat/a.png": png_bytes(), "dog/b.png": png_bytes()})
    with pytest.raises(DataError, match="would be written outside the upload folder"):
        extract_zip(zpath, work)
    assert list(outside.iterdir()) == []


# -- which column is the label, which ones to leave out (dataval_core.columns) -------------------------
def penguins(n: int = 60) -> pd.DataFrame:
    """The shape of the penguins table: the label (species) first, a low-cardinality integer column (year) last."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"species": rng.choice(["Adelie", "Gentoo", "Chinstrap"], n),
                         "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
                         "bill_length_mm": rng.normal(44, 5, n), "flipper_length_mm": rng.normal(200, 14, n),
                         "sex": rng.choice(["male", "female"], n), "year": rng.choice([2007, 2008, 2009], n)})


def test_label_guess_is_species_not_the_last_column():
    from dataval_core.columns import guess_label

    guess = guess_label(penguins())
    assert guess.column == "species" and not guess.unsure
    assert guess.reason == "'species' is named like a label column and holds 3 distinct values."
    # a float named like a label is a regression target, not skipped as a measurement
    assert guess_label(penguins().assign(target=np.linspace(0, 1, 60)).drop(columns="species")).column == "target"


@pytest.mark.parametrize("frame, reason", [
    (penguins().assign(label=lambda f: f["species"]),
     "'species' and 'label' are each named like a label column."),
    (penguins().drop(columns="species"),
     "'island', 'sex' and 'year' could each be the label (few distinct values, none named like a label)."),
    (pd.DataFrame({"a": [0.5, 1.5, 2.5, 3.5], "b": [1.25, 2.5, 3.75, 5.0]}),
     "No column looks like a label (named like one, or with few distinct values)."),
])
def test_label_guess_is_unsure_on_a_tie_or_nothing(frame, reason):
    from dataval_core.columns import guess_label

    guess = guess_label(frame)
    assert guess.unsure and guess.column is None and guess.reason == reason


def test_only_candidate_by_content_is_guessed_with_its_reason():
    from dataval_core.columns import guess_label

    frame = penguins()[["bill_length_mm", "flipper_length_mm", "species"]].rename(columns={"species": "kind"})
    guess = guess_label(frame)
    assert guess.column == "kind"
    assert guess.reason == "'kind' is the only column with few distinct values (3) that is not a measurement."


@pytest.mark.parametrize("position", ["last", "middle", "first"])
@pytest.mark.parametrize("truth, values", [
    ("is_mislabeled", [True, False]), ("is_noisy", [0, 1]), ("noisy", ["yes", "no"]),
    ("true_label", ["Adelie", "Gentoo"]), ("clean_label", ["Adelie", "Gentoo"]), ("ground_truth", ["a", "b"]),
    ("known_bad", [False, True])])
def test_truth_like_columns_are_left_out_wherever_they_sit(position, truth, values):
    frame = penguins()
    col = pd.Series(np.resize(values, len(frame)), name=truth)
    at = {"first": 0, "middle": 3, "last": frame.shape[1]}[position]
    frame.insert(at, truth, col)
    for label in ("species", None):  # given, or guessed (never the truth column, even when it is last)
        ds = load_frame(frame, label)
        assert ds.label_column == "species"
        assert truth not in ds.feature_columns and ds.meta["left_out"] == {
            truth: "it looks like the truth about the labels and would give the answer away"}


def test_ids_and_free_text_are_left_out_but_a_measurement_named_error_is_not():
    frame = penguins().assign(
        PassengerId=np.arange(100, 160), uuid=[f"u-{i:04d}" for i in range(60)],
        notes=[f"seen near the colony on day {i}, looked healthy" for i in range(60)],
        **{"mean radius error": np.linspace(0.1, 0.9, 60), "Unnamed: 0": np.arange(60)})
    ds = load_frame(frame, "species")
    assert list(ds.meta["left_out"]) == ["PassengerId", "uuid", "notes", "Unnamed: 0"]
    assert "mean radius error" in ds.feature_columns and "year" in ds.feature_columns
    from dataval_core.columns import describe_left_out

    assert describe_left_out({"id": "it is a row id, unique per row"}) == \
        "Left out of the features: 'id' (it is a row id, unique per row)."


def test_a_table_of_only_left_out_columns_says_which():
    frame = pd.DataFrame({"id": range(6), "species": ["a", "b"] * 3})
    with pytest.raises(DataError) as err:
        load_frame(frame, "species")
    assert str(err.value) == ("dataset has no feature columns besides the label. Left out of the features: 'id' "
                              "(it is a row id, unique per row).")


def test_infinite_and_empty_cells_are_named_in_the_notes():
    frame = penguins()
    frame.loc[:2, "bill_length_mm"] = np.inf
    frame.loc[3, "flipper_length_mm"] = -np.inf
    frame.loc[4, "flipper_length_mm"] = np.nan
    frame.loc[5, "island"] = None
    notes = load_frame(frame, "species").notes
    assert "Column 'bill_length_mm' has 3 infinite values (±inf); they are replaced by the column median." in notes
    assert ("Column 'flipper_length_mm' has 1 infinite value (±inf) and 1 empty cell; they are replaced by the "
            "column median.") in notes
    assert "Column 'island' has 1 empty cell; it is read as a '<missing>' category." in notes


def test_pca_dimensions_must_be_a_positive_whole_number():
    from dataval_core.embeddings.core import DEFAULT_PCA_DIM, pca_dimensions

    assert pca_dimensions("pca") == DEFAULT_PCA_DIM and pca_dimensions("pca:8") == 8
    for bad, arg in (("pca:-3", "-3"), ("pca:abc", "abc"), ("pca:0", "0"), ("pca:1.5", "1.5"), ("pca:", "")):
        with pytest.raises(ValueError) as err:
            pca_dimensions(bad)
        assert str(err.value) == (f"The embedding {bad!r} needs a positive whole number of dimensions after "
                                  f"'pca:' (e.g. pca:16), got {arg!r}.")
