"""Argument parsing shared by the vision tools: bad flags are one ``error:`` line (exit status 2), numbers are
checked by ddp-core's one validator (``--learning-rate nan``, ``--steps-per-unit 0`` are refused)."""

from __future__ import annotations

from ddp_core.cli import MAX_THREADS, OneLineArgumentParser, seed_type, threads_type
from ddp_core.validation import argument_type

__all__ = ["MAX_CELLS", "MAX_CHANNELS", "MAX_EPOCHS", "MAX_IMAGE_SIDE", "MAX_STEPS", "MAX_THREADS", "MAX_WORKERS",
           "OneLineArgumentParser", "cells", "channels", "epochs", "image_side", "number", "positive_int",
           "positive_number", "seed_type", "steps", "threads_type", "workers"]

# Upper bounds every vision tool shares (issue 18 item 6): values past them are typing mistakes that would build
# for minutes or overflow a C int (a seed of 10**40), not networks anyone trains. tools/generate.py uses the same.
MAX_CELLS = 200
MAX_CHANNELS = 4096
MAX_IMAGE_SIDE = 4096
MAX_WORKERS = 256
# a million batches per unit of supernet training or per epoch, 100,000 epochs: past these, a typo that never ends
MAX_STEPS = 1_000_000
MAX_EPOCHS = 100_000


def steps(flag: str):
    """A count of training batches (``--steps-per-unit``, ``--steps-per-epoch``)."""
    return argument_type(flag, integer=True, minimum=1, maximum=MAX_STEPS)


def epochs():
    """``--epochs`` of a training run."""
    return argument_type("--epochs", integer=True, minimum=1, maximum=MAX_EPOCHS)


def cells(minimum: int = 3):
    """``--layers`` (cells of a DARTS network)."""
    return argument_type("--layers", integer=True, minimum=minimum, maximum=MAX_CELLS)


def channels(minimum: int = 2):
    """``--channels`` (initial channels of a DARTS network)."""
    return argument_type("--channels", integer=True, minimum=minimum, maximum=MAX_CHANNELS)


def image_side(flag: str = "--image-size", minimum: int = 1):
    """An input side in pixels."""
    return argument_type(flag, integer=True, minimum=minimum, maximum=MAX_IMAGE_SIDE)


def workers():
    """``--workers`` (data-loading processes)."""
    return argument_type("--workers", integer=True, minimum=0, maximum=MAX_WORKERS)


def positive_int(flag: str):
    """argparse ``type=`` for an integer >= 1 named ``flag`` in its errors."""
    return argument_type(flag, integer=True, minimum=1)


def positive_number(flag: str):
    """argparse ``type=`` for a finite number > 0."""
    return argument_type(flag, minimum=0, exclusive_minimum=True)


def number(flag: str, **bounds):
    """argparse ``type=`` for a finite number within ``bounds`` (see ``ddp_core.validation.check_number``)."""
    return argument_type(flag, **bounds)
