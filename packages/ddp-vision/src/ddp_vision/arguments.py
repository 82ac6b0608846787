"""Argument parsing shared by the vision tools: bad flags are one ``error:`` line (exit status 2), numbers are
checked by ddp-core's one validator (``--learning-rate nan``, ``--steps-per-unit 0`` are refused)."""

from __future__ import annotations

from ddp_core.cli import OneLineArgumentParser
from ddp_core.validation import argument_type

__all__ = ["OneLineArgumentParser", "number", "positive_int", "positive_number"]


def positive_int(flag: str):
    """argparse ``type=`` for an integer >= 1 named ``flag`` in its errors."""
    return argument_type(flag, integer=True, minimum=1)


def positive_number(flag: str):
    """argparse ``type=`` for a finite number > 0."""
    return argument_type(flag, minimum=0, exclusive_minimum=True)


def number(flag: str, **bounds):
    """argparse ``type=`` for a finite number within ``bounds`` (see ``ddp_core.validation.check_number``)."""
    return argument_type(flag, **bounds)
