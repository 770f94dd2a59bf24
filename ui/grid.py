"""Image thumbnails and the preview grid."""
from __future__ import annotations

import streamlit as st

from dataval_core.dataset import Dataset
from dataval_core.images import thumbnail_png

THUMB_PX = 96
#: images smaller than this (longest side) are drawn enlarged in the lightbox with their pixels kept sharp
SHARP_BELOW_PX = 256


@st.cache_resource(show_spinner=False, max_entries=20_000)
def thumbnail(path: str, size: int = THUMB_PX) -> bytes:
    """PNG thumbnail bytes of one image file (cached per path and size)."""
    return thumbnail_png(path, size=size)


@st.cache_resource(show_spinner=False, max_entries=4)
def full_image(path: str) -> tuple[bytes, tuple[int, int]]:
    """The whole image as PNG at its own resolution, and its (width, height) in pixels (the lightbox)."""
    from PIL import Image

    with Image.open(path) as im:
        size = im.size
    return thumbnail_png(path, size=max(size)), size


@st.cache_resource(show_spinner=False, max_entries=8)
def _image_paths(token: tuple, _ds: Dataset) -> dict[str, str]:
    return dict(zip(_ds.ids.tolist(), (str(p) for p in _ds.image_paths())))


def image_paths(ds: Dataset) -> dict[str, str]:
    """Image file per sample id (cached: Review asks on every click). The key names the files' folder and the
    ids, which fix the paths."""
    token = (ds.name, len(ds), str(ds.image_root), str(ds.meta.get("image_roots")), ds.ids[0], ds.ids[-1], id(ds))
    return _image_paths(token, ds)


def preview_grid(ds: Dataset, n: int = 24, columns: int = 8) -> None:
    """A read-only grid of the first ``n`` images with their labels."""
    paths = ds.image_paths()[:n]
    labels = ds.label_names()[:n]
    cols = st.container(key="preview_grid").columns(columns)
    for i, (path, label) in enumerate(zip(paths, labels)):
        with cols[i % columns]:
            st.image(thumbnail(str(path)), caption=f"{label} · {ds.ids[i]}", width=THUMB_PX)
