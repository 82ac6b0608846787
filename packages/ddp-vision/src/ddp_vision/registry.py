"""Named model factories, timm style: ``@register_model`` on a function, ``create_model(name, **kwargs)``.

The DARTS and MobileNet network modules register their factories when imported; :func:`create_model`
and :func:`list_models` import them on first use, so ``create_model("ddpnas_darts_cifar", genotype=...)``
works after ``import ddp_vision.registry`` alone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import torch.nn as nn

__all__ = ["register_model", "create_model", "list_models", "is_model"]

_MODEL_FACTORIES: dict[str, Callable[..., nn.Module]] = {}
_imported = False


def register_model(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``factory`` under its function name (a decorator); a second factory of the same name is an error."""
    name = factory.__name__
    existing = _MODEL_FACTORIES.get(name)
    if existing is not None and existing is not factory and existing.__module__ != factory.__module__:
        raise ValueError(f"a model named {name!r} is already registered by {existing.__module__}")
    _MODEL_FACTORIES[name] = factory
    return factory


def _import_factory_modules() -> None:
    """Import the network modules, whose imports register their factories (a fixed list, never a name from a file)."""
    global _imported
    if _imported:
        return
    _imported = True
    import ddp_vision.darts.network  # noqa: F401
    import ddp_vision.mobilenet.network  # noqa: F401


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching a shell-style ``pattern``."""
    _import_factory_modules()
    return sorted(name for name in _MODEL_FACTORIES if fnmatch.fnmatch(name, pattern))


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    _import_factory_modules()
    return name in _MODEL_FACTORIES


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with the factory's keyword arguments."""
    _import_factory_modules()
    if name not in _MODEL_FACTORIES:
        available = ", ".join(sorted(_MODEL_FACTORIES)) or "none"
        raise KeyError(f"unknown model {name!r}; registered models: {available}")
    return _MODEL_FACTORIES[name](**kwargs)
