"""What ddp-bert needs from the Hugging Face Hub: fail fast when it is out of reach, and push exports to it.

A search or fine-tuning run names a model and (without ``--data-dir``) GLUE on the hub. Offline, or with the
hub unreachable, transformers and datasets retry for about a minute and end in a long traceback; instead
:func:`check_hub_sources` decides in well under a second: sources on disk or in the local cache are fine (the
libraries are then switched to offline mode so that they read the cache without retrying), anything else is
one error naming ``--model LOCAL_DIR`` / ``--data-dir``.

This module imports only the standard library and ``huggingface_hub`` (lazily): the command-line scripts load
it before torch and transformers, whose import alone takes seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

DEFAULT_TEACHER = "bert-base-uncased"
GLUE_HUB_NAME = "nyu-mll/glue"
PROBE_TIMEOUT_S = 3.0


class SourceUnavailableError(RuntimeError):
    """A model, dataset or upload the command names cannot be had (Hub out of reach, no such directory); the
    message says which flag to pass instead."""


def hub_unreachable_reason(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """``None`` if the Hub answers an HTTP request within ``timeout_s``; otherwise why not."""
    from huggingface_hub import constants, get_session

    if constants.HF_HUB_OFFLINE:
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    outcome: dict[str, str | None] = {}

    def probe() -> None:
        try:
            get_session().head(constants.ENDPOINT, timeout=timeout_s)  # any HTTP answer means reachable
            outcome["reason"] = None
        except Exception as error:  # DNS, refused, proxy, TLS: all mean "not reachable from here"
            outcome["reason"] = f"{constants.ENDPOINT} is unreachable ({type(error).__name__}: {error})"

    # A daemon thread bounds the wait even where name resolution itself hangs.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    return outcome.get("reason", f"{constants.ENDPOINT} did not answer within {timeout_s:.0f} s")


def enable_offline_mode() -> None:
    """Make huggingface_hub, transformers and datasets read only the local cache (no retries)."""
    from huggingface_hub import constants

    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[variable] = "1"
    constants.HF_HUB_OFFLINE = True
    datasets_config = sys.modules.get("datasets.config")  # reads the variables once, at import
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = datasets_config.HF_DATASETS_OFFLINE = True


def is_cached(repo_id: str, filename: str, repo_type: str = "model") -> bool:
    """True if ``filename`` of ``repo_id`` is in the local Hub cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, filename, repo_type=repo_type), str)
    except ValueError:  # not a valid repository id
        return False


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1  # hub names are "name" or "owner/name"


def check_hub_sources(model: str | None, data_dir: str | os.PathLike | None, task: str | None = None,
                      teacher_model: str | None = None) -> None:
    """Raise :class:`SourceUnavailableError` if a source must come from an unreachable Hub.

    Parameters
    ----------
    model, teacher_model
        Hub names or local directories (``None``: not needed, e.g. when resuming).
    data_dir
        Local GLUE copy; ``None`` means GLUE from the hub (``nyu-mll/glue``).
    task
        GLUE task name, to look for its files in the cache.
    """
    wanted: list[tuple[str, str]] = []  # (flag, hub name) of what must come from the hub
    for flag, name in (("--model", model), ("--teacher-model", teacher_model)):
        if name is None or Path(name).expanduser().is_dir():
            continue
        if _looks_like_path(name):
            raise SourceUnavailableError(f"{flag} {name}: no such directory; pass a saved model directory or a "
                                      "hub name")
        wanted.append((flag, name))
    if data_dir is not None and not Path(data_dir).is_dir():
        raise SourceUnavailableError(f"--data-dir {data_dir} is not a directory; write one with "
                                  f"python -m ddp_bert.glue_layout DIR --task {task or 'rte'} or drop --data-dir")
    if data_dir is None:
        wanted.append(("--data-dir", GLUE_HUB_NAME))
    if not wanted:
        return
    reason = hub_unreachable_reason()
    if reason is None:
        return
    missing = [(flag, name) for flag, name in wanted if not _cached_source(flag, name, task)]
    if not missing:
        enable_offline_mode()
        return
    fixes = []
    for flag, name in missing:
        if flag == "--data-dir":
            fixes.append(f"--data-dir DIR instead of {GLUE_HUB_NAME} (GLUE in the hub layout; "
                         f"python -m ddp_bert.glue_layout DIR --task {task or 'rte'} writes a synthetic one)")
        else:
            fixes.append(f"{flag} LOCAL_DIR instead of {name!r} (a model saved with save_pretrained)")
    raise SourceUnavailableError(f"the Hugging Face Hub is needed but {reason}, and the local cache lacks "
                              f"{', '.join(name for _, name in missing)}: pass {'; '.join(fixes)}")


def _cached_source(flag: str, name: str, task: str | None) -> bool:
    if flag == "--data-dir":
        return task is not None and is_cached(name, f"{task}/train-00000-of-00001.parquet", "dataset")
    return is_cached(name, "config.json")


def cli_preflight(argv: Sequence[str], default_model: str | None = None) -> None:
    """Check the sources a BERT command line names; one error line and exit status 2 if the Hub is needed
    but out of reach (``--debug``: raise with a traceback instead).

    Only the flags that name sources are read (``--model``, ``--teacher-model``, ``--data-dir``, ``--task``,
    ``--resume``); the command's own parser handles everything else afterwards.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag in ("--model", "--teacher-model", "--data-dir", "--task", "--resume"):
        parser.add_argument(flag, default=None)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    args, _ = parser.parse_known_args(list(argv))
    if args.help:
        return
    model = None if args.resume else (args.model or default_model)  # a resumed search reads its run directory
    try:
        check_hub_sources(model, args.data_dir, args.task, args.teacher_model)
    except SourceUnavailableError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def check_can_push(repo_id: str) -> None:
    """Raise :class:`SourceUnavailableError` if uploading to ``repo_id`` cannot work: offline mode, or the Hub
    does not answer (decided in a few seconds, before any export or training work)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise SourceUnavailableError(f"--push-to-hub {repo_id} needs the network but HF_HUB_OFFLINE=1 is set; unset "
                                  "it, or save now and upload the directory later with `hf upload`")
    reason = hub_unreachable_reason()
    if reason is not None:
        raise SourceUnavailableError(f"--push-to-hub {repo_id} needs the Hugging Face Hub but {reason}; run without "
                                  f"--push-to-hub and upload the saved directory later with `hf upload {repo_id} DIR`")


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a failed Hub call raises: HTTP and transport errors (``huggingface_hub.errors.HTTPError`` covers
    both), a missing token or offline mode (``OSError``), an invalid repository id (``ValueError``)."""
    from huggingface_hub import errors

    return (getattr(errors, "HTTPError", OSError), OSError, ValueError)


def push_folder(folder: str | os.PathLike, repo_id: str, token: str | None = None, private: bool | None = None,
                commit_message: str = "Upload DDPNAS-compressed BERT") -> str:
    """Create (if needed) the model repository ``repo_id`` and upload ``folder`` to it with ``HfApi``.

    ``token=None`` uses the saved login or ``HF_TOKEN``; ``private=None`` keeps the Hub's default (and an
    existing repository's visibility). Returns the URL of the commit. A failed Hub call (network, login,
    permission) is a :class:`SourceUnavailableError` whose one-line message says the folder is saved and how to
    upload it later.
    """
    from huggingface_hub import HfApi

    check_can_push(repo_id)
    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo.repo_id, repo_type="model",
                                   commit_message=commit_message)
    except _hub_errors() as error:
        detail = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        raise SourceUnavailableError(f"--push-to-hub {repo_id}: the upload failed ({detail}); {folder} is saved: "
                                  f"fix the cause (network, `hf auth login` or --hub-token, a repository you may "
                                  f"write to) and upload it with `hf upload {repo_id} {folder}`") from error
    return str(getattr(commit, "commit_url", commit))
