"""ddp_vision: DDPNAS on vision search spaces (DARTS cells, MobileNet layer-wise).

The package root re-exports the model registry; everything else lives in these submodules:

- :mod:`ddp_vision.data`: image datasets (digits, CIFAR-10, image folders, synthetic) and batch streams;
- :mod:`ddp_vision.supernet_evaluator`: train/score sampled architectures of any single-path supernet;
- :mod:`ddp_vision.registry`: ``create_model(name, **kwargs)`` for the evaluation networks;
- :mod:`ddp_vision.darts`: the DARTS cell space (ops, supernet, derivation, ENG, evaluation networks);
- :mod:`ddp_vision.artifacts`: trained networks as ``model.safetensors`` + ``config.json``;
- :mod:`ddp_vision.timm_models`: the same networks in timm's registry, when timm is installed.
"""

__version__ = "0.1.0"

from ddp_vision.registry import create_model, list_models, register_model  # noqa: E402
from ddp_vision.timm_models import register_if_timm_installed  # noqa: E402

register_if_timm_installed()

__all__ = ["create_model", "list_models", "register_model", "__version__"]
