"""Safe image decoding for untrusted uploads.

Every image goes through :func:`open_image`: only PNG, JPEG, BMP and WebP are
accepted, and the pixel count is read from the header and checked *before* any
pixel is decoded, so a small file that expands to gigabytes (a decompression
bomb) is refused instead of exhausting memory. Failures raise
:class:`~dataval_core.dataset.DataError` naming the file.
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .dataset import DataError

#: largest image (width * height) we decode; PIL's own bomb limit is ~89 MP
MAX_PIXELS = 40_000_000
#: formats Pillow may use to open a file (Image.open's ``formats`` filter)
FORMATS = ("PNG", "JPEG", "BMP", "WEBP")
#: file suffixes treated as images when scanning folders and zips
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
#: Pillow modes that hold a single gray channel (with or without alpha)
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
#: gray modes with more than 8 bits (16-bit PNGs open as I;16 or I): scaled by 1/65535, never clipped at 255
WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L"})
#: the common square side images are brought to for pixel features is the median image side, at most this
MAX_COMMON_SIDE = 32

ImageSource = str | Path | bytes


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type name), for one-line DataErrors."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def is_image_name(name: str | Path) -> bool:
    """True if the file name has one of the supported image suffixes."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _label(src: ImageSource, name: str | None) -> str:
    if name is not None:
        return name
    return "the uploaded image" if isinstance(src, bytes) else Path(src).name


def _open_header(src: ImageSource, name: str | None) -> Image.Image:
    """Open lazily (header only) and enforce format and pixel limits."""
    what = _label(src, name)
    fp = io.BytesIO(src) if isinstance(src, bytes) else src
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{what} is too large to decode safely (limit {MAX_PIXELS // 1_000_000} megapixels).") from None
    except UnidentifiedImageError:
        raise DataError(f"{what} is not an image (supported: PNG, JPEG, BMP, WebP).") from None
    except FileNotFoundError:
        raise DataError(f"Image file not found: {what}.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{what} could not be read as an image: {first_line(exc)}.") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise DataError(f"{what} is too large to decode safely ({w}x{h} pixels; limit "
                        f"{MAX_PIXELS // 1_000_000} megapixels).")
    if w == 0 or h == 0:
        im.close()
        raise DataError(f"{what} has no pixels ({w}x{h}).")
    return im


def check_image(src: ImageSource, *, name: str | None = None) -> tuple[int, int, str]:
    """Validate an image cheaply: header, size limit and Pillow's ``verify()``.

    ``verify()`` checks the file's structure (e.g. PNG chunk CRCs) without
    decoding pixels, so bad uploads fail at load time rather than mid-run.

    Args:
        src: a file path or the file's bytes.
        name: how to name the file in error messages (default: the file name).

    Returns:
        ``(width, height, mode)`` from the header.

    Raises:
        DataError: not a supported image, truncated/corrupt, or over ``MAX_PIXELS``.
    """
    im = _open_header(src, name)
    size, mode = im.size, im.mode
    try:
        im.verify()
    except Exception as exc:  # Pillow raises assorted types for corrupt files
        raise DataError(f"{_label(src, name)} is a damaged image file: {first_line(exc)}.") from None
    finally:
        im.close()
    return size[0], size[1], mode


def open_image(src: ImageSource, *, name: str | None = None) -> Image.Image:
    """Open and fully decode one image, refusing non-images and decompression bombs.

    Args:
        src: a file path or the file's bytes.
        name: how to name the file in error messages (default: the file name).

    Returns:
        The decoded image (pixels loaded; the file is closed).

    Raises:
        DataError: not a supported image, damaged, or larger than ``MAX_PIXELS``.
    """
    im = _open_header(src, name)
    try:
        im.load()
    except Exception as exc:  # truncated data, bad compressed stream, ...
        im.close()
        raise DataError(f"{_label(src, name)} is a damaged image file: {first_line(exc)}.") from None
    return im


def _to_mode(im: Image.Image, mode: str) -> Image.Image:
    """Convert to ``"L"`` or ``"RGB"``, compositing any transparency onto white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im if im.mode == mode else im.convert(mode)


def image_mode_for(paths: Iterable[str | Path]) -> str:
    """``"L"`` if every image is grayscale (read from headers only), else ``"RGB"``."""
    for p in paths:
        im = _open_header(p, None)
        mode = im.mode
        im.close()
        if mode not in GRAY_MODES:
            return "RGB"
    return "L"


def common_side(sizes: Sequence[tuple[int, int]], cap: int = MAX_COMMON_SIDE) -> int:
    """The square side every image is resized to: the median of the images' longer sides, at most ``cap``.

    The median, not the first image, so one odd image (a 1x1 icon, a huge photo) cannot
    set the size of the whole set.
    """
    if not sizes:
        raise ValueError("no images")
    return int(max(1, min(cap, round(float(np.median([max(w, h) for w, h in sizes]))))))


def resize_note(sizes: Sequence[tuple[int, int]], side: int, cap: int = MAX_COMMON_SIDE) -> str:
    """One sentence for the user: the common size chosen and how many images it changes."""
    resized = sum(1 for w, h in sizes if (w, h) != (side, side))
    distinct = len(set(sizes))
    return (f"Images are resized to {side}x{side} pixels for pixel features (the median image side, "
            f"at most {cap}); {resized} of {len(sizes)} images are resized"
            f"{f' ({distinct} different sizes)' if distinct > 1 else ''}.")


def image_sizes(paths: Iterable[str | Path]) -> list[tuple[int, int]]:
    """(width, height) of each image, read from the headers only."""
    out = []
    for p in paths:
        im = _open_header(p, None)
        out.append(im.size)
        im.close()
    return out


def _pixels(im: Image.Image, mode: str, size: int | None) -> np.ndarray:
    """Pixels as float32 in [0, 1], shape (size, size) or (size, size, 3); 16-bit gray is scaled, not clipped."""
    if im.mode in WIDE_GRAY_MODES or im.mode == "F":
        scale = 1.0 if im.mode == "F" else 65535.0
        gray = Image.fromarray(np.clip(np.asarray(im, dtype=np.float32) / scale, 0.0, 1.0), "F")
        if size is not None and gray.size != (size, size):
            gray = gray.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(gray, dtype=np.float32)
        return np.repeat(arr[:, :, None], 3, axis=2) if mode == "RGB" else arr
    im = _to_mode(im, mode)
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(im, dtype=np.float32) / 255.0


def load_image_matrix(paths: Sequence[str | Path], size: int, mode: str = "L") -> np.ndarray:
    """Decode, convert and resize images into one matrix for the models.

    Args:
        paths: image files, one per row.
        size: side of the square every image is resized to (see :func:`common_side`).
        mode: ``"L"`` (1 channel) or ``"RGB"`` (3 channels).

    Returns:
        float32 array, shape (n, C * size * size), values in [0, 1], each row
        laid out channels-first (C, size, size) to match ``Problem.image_shape``.
        16-bit images are scaled by their full range (65535), not clipped at 255.

    Raises:
        DataError: an image cannot be decoded safely.
        ValueError: bad ``size`` or ``mode``.
    """
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    channels = 1 if mode == "L" else 3
    out = np.empty((len(paths), channels * size * size), dtype=np.float32)
    for i, p in enumerate(paths):
        im = _open_header(p, None)
        if im.format == "JPEG":
            im.draft(mode, (size, size))  # let libjpeg downscale while decoding: much faster for big photos
        try:
            im.load()
        except Exception as exc:
            im.close()
            raise DataError(f"{Path(p).name} is a damaged image file: {first_line(exc)}.") from None
        arr = _pixels(im, mode, size)
        if channels == 3:
            arr = arr.transpose(2, 0, 1)
        out[i] = arr.reshape(-1)
    return out


def thumbnail_png(path: str | Path, size: int = 96) -> bytes:
    """A PNG thumbnail (longest side ``size``, aspect kept) for showing in the UI."""
    im = open_image(path)
    if im.mode in WIDE_GRAY_MODES or im.mode == "F":
        im = Image.fromarray(np.round(_pixels(im, "L", None) * 255).astype(np.uint8), "L")
    im = _to_mode(im, "L" if im.mode in GRAY_MODES else "RGB")
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
