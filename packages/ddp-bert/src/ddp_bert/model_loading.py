"""Every load of a model ddp-bert did not write itself goes through here: no code from a model folder runs.

``trust_remote_code=False`` on every ``from_pretrained`` (a config naming ``auto_map`` and a ``.py`` beside it is
refused in one line instead of transformers' "Do you wish to run the custom code?" prompt); weights load through
transformers with ``torch.load(weights_only=True)`` or safetensors, and a pickle that weights-only loading
refuses is one line naming the file; paths that a run directory's files name stay inside the run directory.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from ddp_core import RunDirectoryError
from ddp_core.cli import weights_only_refusal


class ModelLoadError(ValueError):
    """A model, config or tokenizer that cannot be loaded safely; the message names the source and the fix."""


def _source_fix(source: str | os.PathLike) -> str:
    return ("re-save the model with save_pretrained (safetensors) from a source you trust, or pass another "
            f"model instead of {source}")


def _loaded(what: str, source: str | os.PathLike, load):
    """Run ``load()``; the ways an untrusted folder fails become one :class:`ModelLoadError`."""
    try:
        return load()
    except pickle.UnpicklingError as error:
        raise ModelLoadError(f"{source}: the {what} weights were not loaded: {weights_only_refusal(error)}; "
                             f"{_source_fix(source)}") from None
    except ValueError as error:
        text = " ".join(str(error).split())
        if "trust_remote_code" in text or "custom code" in text:
            raise ModelLoadError(
                f"{source} asks to run its own Python code (config.json auto_map); ddp-bert never runs code from "
                "a model folder (trust_remote_code=False): pass a BERT checkpoint that transformers (or "
                "ddp-bert's exports) can load without it") from None
        raise ModelLoadError(f"{source}: the {what} cannot be loaded ({text})") from None
    except OSError as error:
        text = " ".join(str(error).split()) or type(error).__name__
        raise ModelLoadError(f"{source}: the {what} cannot be loaded ({text}); pass a directory that "
                             "save_pretrained wrote (config.json, weights, tokenizer files) or a Hub name") from None


def load_config(source: str | os.PathLike, **kwargs):
    """``AutoConfig.from_pretrained(source, trust_remote_code=False, **kwargs)``, failures as one line."""
    from transformers import AutoConfig

    return _loaded("config", source, lambda: AutoConfig.from_pretrained(source, trust_remote_code=False, **kwargs))


def load_tokenizer(source: str | os.PathLike):
    """``AutoTokenizer.from_pretrained(source, trust_remote_code=False)``, failures as one line."""
    from transformers import AutoTokenizer

    return _loaded("tokenizer", source, lambda: AutoTokenizer.from_pretrained(source, trust_remote_code=False))


def load_sequence_classifier(source: str | os.PathLike, **kwargs):
    """``AutoModelForSequenceClassification.from_pretrained(source, trust_remote_code=False, **kwargs)``.

    Models exported by ddp-bert load too: ``import ddp_bert`` registers their type, so their own ``auto_map``
    code is never needed.
    """
    from transformers import AutoModelForSequenceClassification

    return _loaded("model", source, lambda: AutoModelForSequenceClassification.from_pretrained(
        source, trust_remote_code=False, **kwargs))


def load_bert_classifier(source: str | os.PathLike, config, **kwargs):
    """``BertForSequenceClassification.from_pretrained`` with ``config`` (already loaded, so no auto_map is
    consulted) and ``trust_remote_code=False`` said explicitly, failures as one line."""
    from transformers import BertForSequenceClassification

    return _loaded("model", source, lambda: BertForSequenceClassification.from_pretrained(
        source, config=config, trust_remote_code=False, **kwargs))


def inside_run_directory(run_dir: Path, relative: object, origin: str) -> Path:
    """``run_dir / relative`` when ``relative`` is a plain relative path that stays inside ``run_dir``.

    ``origin`` names the file and field the path came from (``space.json metadata.teacher_dir``); anything else
    (an absolute path, ``..``, a symbolic link out of the directory, a non-string) is a RunDirectoryError.
    """
    fix = "restore the file or start a new --run-dir"
    if not isinstance(relative, str) or not relative.strip() or "\x00" in relative:
        raise RunDirectoryError(f"{run_dir}/{origin} must be a relative path inside the run directory, "
                                f"got {relative!r}; {fix}")
    path = Path(relative)
    root = Path(run_dir).resolve()
    target = (root / path).resolve()
    if path.is_absolute() or ".." in path.parts or (target != root and root not in target.parents):
        link = "" if path.is_absolute() or ".." in path.parts else f" (a symbolic link to {target})"
        raise RunDirectoryError(f"{run_dir}/{origin} names {relative!r}{link}, which is outside the run directory; "
                                f"files a run reads must lie inside it: {fix}")
    return Path(run_dir) / path


def check_max_length(max_length: int, config, source: str | os.PathLike) -> None:
    """``--max-length`` above the model's position embeddings is one error naming the flag and the limit."""
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_length > positions:
        raise ValueError(f"--max-length {max_length} is above the {positions} positions {source} has: pass "
                         f"--max-length {positions} or less")
