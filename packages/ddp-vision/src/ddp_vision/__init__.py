"""ddp_vision: DDPNAS on vision search spaces (DARTS cells, MobileNet layer-wise).

The package root re-exports the model registry; everything else lives in these submodules:

- :mod:`ddp_vision.data`: image datasets (digits, CIFAR-10, image folders, synthetic) and batch streams;
- :mod:`ddp_vision.supernet_evaluator`: train/score sampled architectures of any single-path supernet;
- :mod:`ddp_vision.registry`: ``create_model(name, **kwargs)`` for the evaluation networks;
- :mod:`ddp_vision.darts`: the DARTS cell space (ops, supernet, derivation, ENG, evaluation networks).
"""

__version__ = "0.1.0"

from ddp_vision.registry import create_model, list_models, register_model  # noqa: E402

__all__ = ["create_model", "list_models", "register_model", "__version__"]
