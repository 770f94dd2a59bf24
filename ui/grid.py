"""Image thumbnails and the preview grid."""
from __future__ import annotations

import streamlit as st

from dataval_core.dataset import Dataset
from dataval_core.images import thumbnail_png

THUMB_PX = 96
#: side of the enlarged image in the zoom dialog
ZOOM_PX = 384


@st.cache_resource(show_spinner=False, max_entries=20_000)
def thumbnail(path: str, size: int = THUMB_PX) -> bytes:
    """PNG thumbnail bytes of one image file (cached per path and size)."""
    return thumbnail_png(path, size=size)


def image_paths(ds: Dataset) -> dict[str, str]:
    """Image file per sample id."""
    return dict(zip(ds.ids.tolist(), (str(p) for p in ds.image_paths())))


def preview_grid(ds: Dataset, n: int = 24, columns: int = 8) -> None:
    """A read-only grid of the first ``n`` images with their labels."""
    paths = ds.image_paths()[:n]
    labels = ds.label_names()[:n]
    cols = st.container(key="preview_grid").columns(columns)
    for i, (path, label) in enumerate(zip(paths, labels)):
        with cols[i % columns]:
            st.image(thumbnail(str(path)), caption=f"{label} · {ds.ids[i]}", width=THUMB_PX)
