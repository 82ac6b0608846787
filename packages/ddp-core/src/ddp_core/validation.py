"""One validator for every numeric setting (SearchConfig fields, command-line flags): NaN, inf, zero, type."""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Callable
from typing import Any


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> Any:
    """Return ``value`` if it is a finite number (an int when ``integer``) inside the bounds, else raise
    ``ValueError`` naming ``name``, what was given and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if integer and not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    low_bad = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    high_bad = maximum is not None and (value >= maximum if exclusive_maximum else value > maximum)
    if low_bad or high_bad:
        low = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum:g}"
        high = "" if maximum is None else f"{'<' if exclusive_maximum else '<='} {maximum:g}"
        raise ValueError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {value!r}")
    return int(value) if integer else value


def argument_type(
    name: str, *, integer: bool = False, **bounds: Any
) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses and checks with :func:`check_number` (``--lr nan`` is rejected)."""

    def parse(text: str) -> Any:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {text!r}") from None
        try:
            return check_number(name, value, integer=integer, **bounds)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = name  # argparse names the type in its messages
    return parse


positive_int = argument_type("value", integer=True, minimum=1)
non_negative_int = argument_type("value", integer=True, minimum=0)
positive_float = argument_type("value", minimum=0, exclusive_minimum=True)
non_negative_float = argument_type("value", minimum=0)
unit_interval = argument_type("value", minimum=0, maximum=1, exclusive_maximum=True)
