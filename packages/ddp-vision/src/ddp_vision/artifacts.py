"""A trained network on disk, the same for DARTS and MobileNet: ``model.safetensors`` + ``config.json``.

``config.json`` holds everything needed to rebuild and feed the network without the training code:

- ``model``: a registered factory name (``ddpnas_darts_cifar``, ``ddpnas_darts_imagenet``, ``ddpnas_mobilenet``)
  and ``arguments``, its keyword arguments (plain JSON);
- ``architecture``: what was searched (the DARTS genotype text, or the layer-wise candidates per block);
- ``input_size`` ``[channels, height, width]``, ``mean`` and ``std`` per channel (inputs are
  ``(image in [0, 1] - mean) / std``), ``num_classes``;
- ``preprocessing``: the whole evaluation transform the network was trained and evaluated with (channel order,
  resize, centre crop, interpolation, mean/std, label names; :class:`ddp_vision.preprocessing.Preprocessing`),
  so a raw image preprocessed from these fields alone is exactly what the network saw;
- ``format`` (``ddpnas.network/1``) and free ``extra`` facts (costs, accuracy).

The weights are safetensors (no pickle), so loading a network never runs code from the file.
``export_mobilenet.py`` copies the same config into ONNX ``metadata_props``.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from ddp_core import write_json_atomic
from ddp_vision.checkpoints import CheckpointError, load_weights, save_weights

__all__ = ["CONFIG_FILE", "FORMAT", "WEIGHTS_FILE", "NetworkArtifact", "load_network", "read_artifact", "save_network"]

FORMAT = "ddpnas.network/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class NetworkArtifact:
    """The ``config.json`` of a saved network."""

    model: str
    arguments: dict[str, Any]
    architecture: Any
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    extra: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)  # type: ignore[assignment]
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        if len(self.input_size) != 3 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be [channels, height, width], got {list(self.input_size)}")
        if not len(self.mean) == len(self.std) == self.input_size[0]:
            raise ValueError(f"mean and std need one value per input channel ({self.input_size[0]}), got "
                             f"{len(self.mean)} and {len(self.std)}")
        if self.preprocessing:
            recorded = (tuple(self.preprocessing.get("input_size", ())), tuple(self.preprocessing.get("mean", ())),
                        tuple(self.preprocessing.get("std", ())))
            if recorded != (self.input_size, self.mean, self.std):
                raise ValueError("preprocessing disagrees with input_size/mean/std: "
                                 f"{recorded} vs {(self.input_size, self.mean, self.std)}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model, "arguments": self.arguments,
                "architecture": self.architecture, "input_size": list(self.input_size), "mean": list(self.mean),
                "std": list(self.std), "num_classes": self.num_classes, "preprocessing": self.preprocessing,
                "extra": self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkArtifact:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a ddpnas network config (format {data.get('format')!r}, expected {FORMAT!r})")
        return cls(data["model"], dict(data["arguments"]), data.get("architecture"), data["input_size"],
                   data["mean"], data["std"], int(data["num_classes"]), dict(data.get("extra", {})),
                   dict(data.get("preprocessing") or {}))

    def metadata(self) -> dict[str, str]:
        """String key/value pairs for file formats that carry metadata (safetensors header, ONNX metadata_props)."""
        data = self.to_dict()
        return {key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                for key, value in data.items()}


def save_network(directory: str | os.PathLike, model: nn.Module, artifact: NetworkArtifact,
                 drop_prefixes: Sequence[str] = ()) -> pathlib.Path:
    """Write ``model.safetensors`` (minus parameters under ``drop_prefixes``, e.g. an auxiliary head) and
    ``config.json`` into ``directory``; returns the directory."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items() if not any(k.startswith(p) for p in drop_prefixes)}
    save_weights(state, directory / WEIGHTS_FILE, metadata={"format": FORMAT, "model": artifact.model})
    write_json_atomic(directory / CONFIG_FILE, artifact.to_dict())
    return directory


def read_artifact(directory: str | os.PathLike) -> NetworkArtifact:
    """The ``config.json`` of a saved network, or one error naming the file."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass a directory written by tools/train_darts.py or "
                                "tools/train_mobilenet.py (model.safetensors + config.json)")
    try:
        return NetworkArtifact.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a valid network config ({error})") from None


def load_network(directory: str | os.PathLike) -> tuple[nn.Module, NetworkArtifact]:
    """Rebuild a saved network through the model registry and load its weights; returns (model in eval mode,
    its config)."""
    from ddp_vision.registry import create_model

    artifact = read_artifact(directory)
    model = create_model(artifact.model, **artifact.arguments)
    weights = load_weights(pathlib.Path(directory) / WEIGHTS_FILE)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        text = " ".join(str(error).split())[:300]
        raise CheckpointError(f"{pathlib.Path(directory) / WEIGHTS_FILE} does not fit the network its config "
                              f"describes ({text})") from None
    return model.eval(), artifact
