"""One budget grammar for every ENG command line, and suggested budgets that give distinct networks.

The grammar (every generator behind ``tools/generate.py`` / ``ddpnas-generate`` and every search tool's ENG):

- ``--budget KEY=VALUE[,KEY=VALUE...]`` is **one request**: every ``KEY=VALUE`` in it holds at once
  (``--budget params_m=3.0,latency_ms=12`` asks for one network under both).
- **Several requests**: repeat the flag (``--budget flops_m=600 --budget flops_m=400``), one answer each.
- Keys carry their unit: ``flops_m`` (multiply-accumulates, millions), ``params_m`` (millions), ``latency_ms``;
  a space may add its own (DARTS: ``nonparam_ops``, ``cell_height``, whole numbers). ``--budget none`` asks for
  the best network with no budget.

The spellings of earlier releases (``--flops``, ``--flops-m``, ``--params``, ``--params-m``, ``--latency-ms``
with comma-separated values) still work as aliases: each prints one ``deprecated:`` line with the ``--budget``
flags it stands for, and keeps the meaning it had in that tool (see ``combine`` in :func:`requests_from_args`).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np

# Old flag -> the cost it budgets. Every tool accepts those of its costs, whatever it spelled before.
ALIASES = {"--flops": "flops_m", "--flops-m": "flops_m", "--params": "params_m", "--params-m": "params_m",
           "--latency-ms": "latency_ms"}
UNITS = {"flops_m": "MACs in millions", "params_m": "parameters in millions", "latency_ms": "milliseconds"}


def parse_budget(text: str, keys: Sequence[str], whole: Mapping[str, int] | None = None) -> dict[str, float]:
    """``"params_m=3.0,latency_ms=12"`` -> ``{"params_m": 3.0, "latency_ms": 12.0}``; ``"none"`` -> ``{}``.

    ``keys`` are the budgets this space knows; ``whole`` maps the keys that take whole numbers to their minimum
    (the others must be positive and finite). Raises ``ValueError`` with a one-line message naming ``--budget``.
    """
    whole = dict(whole or {})
    if text.strip().lower() in ("", "none", "{}"):
        return {}
    budget: dict[str, float] = {}
    example = f"--budget {keys[0]}=VALUE[,{keys[-1]}=VALUE]"
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--budget {text!r}: write KEY=VALUE[,KEY=VALUE] with KEY in {', '.join(keys)} "
                             f"(e.g. {example}; repeat --budget for several requests)")
        if key not in keys:
            hint = f" (did you mean {key}_m?)" if f"{key}_m" in keys else ""
            raise ValueError(f"--budget {key}: unknown budget{hint}; this space knows {', '.join(keys)}")
        if key in budget:
            raise ValueError(f"--budget {text!r} names {key} twice; one --budget is one request (repeat --budget "
                             "for several requests)")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"--budget {key}= needs a number, got {value.strip()!r}") from None
        if key in whole:
            if not (math.isfinite(number) and number == int(number) and number >= whole[key]):
                raise ValueError(f"--budget {key} must be a whole number >= {whole[key]}, got {value.strip()!r}")
        elif not (math.isfinite(number) and number > 0):
            raise ValueError(f"--budget {key} must be a positive finite number, got {value.strip()!r}")
        budget[key] = number
    return budget


def budget_type(keys: Sequence[str], whole: Mapping[str, int] | None = None) -> Callable[[str], dict[str, float]]:
    """An argparse ``type=`` for ``--budget`` (errors are one line naming the flag)."""

    def parse(text: str) -> dict[str, float]:
        try:
            return parse_budget(text, keys, whole)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = "--budget"
    return parse


def _value_list(flag: str, key: str) -> Callable[[str], list[float]]:
    def parse(text: str) -> list[float]:
        try:
            values = [float(part) for part in text.split(",") if part.strip()]
        except ValueError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated numbers such as 600,400,200, got "
                                             f"{text!r} (better: --budget {key}=600 --budget {key}=400)")
        for value in values:
            if not (math.isfinite(value) and value > 0):
                raise argparse.ArgumentTypeError(f"{flag} must be a finite number above 0 (each value), got {text!r}")
        return values

    parse.__name__ = flag
    return parse


def add_budget_arguments(parser: argparse.ArgumentParser | Any, keys: Sequence[str],
                         whole: Mapping[str, int] | None = None, help_extra: str = "") -> None:
    """``--budget`` (repeatable) plus the deprecated aliases of the costs among ``keys``."""
    units = ", ".join(f"{k} ({UNITS[k]})" if k in UNITS else k for k in keys)
    parser.add_argument("--budget", action="append", type=budget_type(keys, whole), default=None,
                        metavar="KEY=VALUE[,KEY=VALUE]",
                        help=f"one request: every KEY=VALUE in it holds at once; repeat --budget for several "
                             f"requests ('none': no budget). KEY: {units}. {help_extra}".strip())
    for flag, key in ALIASES.items():
        if key in keys:
            parser.add_argument(flag, dest=_dest(flag), type=_value_list(flag, key), default=None,
                                help=f"deprecated: --budget {key}=VALUE")


def _dest(flag: str) -> str:
    return "alias_" + flag.lstrip("-").replace("-", "_")


def pair_lists(lists: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Per-cost value lists as requests: one value applies to every request, longer lists are zipped."""
    lengths = {len(v) for v in lists.values() if len(v) > 1}
    if len(lengths) > 1:
        raise ValueError("budget lists of different lengths cannot be paired: give one value for a cost to hold it "
                         f"fixed, or lists of equal length (got {({k: len(v) for k, v in lists.items()})}); "
                         "better: one --budget KEY=VALUE[,KEY=VALUE] per request")
    count = lengths.pop() if lengths else 1
    return [{name: float(v[i] if len(v) > 1 else v[0]) for name, v in lists.items()} for i in range(count)]


def requests_from_args(args: argparse.Namespace, combine: str = "pair", keys: Sequence[str] | None = None,
                       stream: TextIO | None = None) -> list[dict[str, float]]:
    """The budget requests of a parsed command line: each ``--budget``, then those of the deprecated aliases.

    ``combine`` gives the aliases the meaning they had in the tool: ``"pair"`` (MobileNet, BERT, DARTS: lists of
    equal length are zipped, a single value holds for every request) or ``"separate"`` (tabular: every value is a
    request of its own). When an alias is used, one ``deprecated:`` line on ``stream`` (stderr) gives the
    ``--budget`` flags it stands for. ``keys`` orders the costs of the translated requests (the tool's order).
    """
    requests = [dict(b) for b in (getattr(args, "budget", None) or [])]
    lists: dict[str, list[float]] = {}
    used = []
    order = {key: i for i, key in enumerate(keys or ())}
    for flag, key in sorted(ALIASES.items(), key=lambda item: order.get(item[1], len(order))):
        values = getattr(args, _dest(flag), None)
        if values:
            if key in lists:
                raise ValueError(f"{flag} and another alias both budget {key}; write --budget {key}=VALUE once "
                                 "per request")
            lists[key] = list(values)
            used.append(flag)
    if not lists:
        return requests
    if combine == "separate":
        translated = [{key: float(value)} for key, values in lists.items() for value in values]
    else:
        translated = pair_lists(lists)
    print(f"deprecated: {', '.join(used)} {'is' if len(used) == 1 else 'are'} the old spelling of "
          f"{budget_flags(translated)} (one --budget per request; KEY=VALUE pairs in one --budget hold at once)",
          file=stream or sys.stderr)
    return requests + translated


def budget_flags(requests: Sequence[Mapping[str, float]]) -> str:
    """``[{"flops_m": 400}, {"params_m": 3, "latency_ms": 12}]`` -> ``--budget flops_m=400 --budget
    params_m=3,latency_ms=12`` (the command-line form of a list of requests)."""
    parts = []
    for request in requests:
        text = ",".join(f"{key}={value:g}" for key, value in request.items()) or "none"
        parts.append(f"--budget {text}")
    return " ".join(parts)


def budget_label(request: Mapping[str, float]) -> str:
    """``flops_m <= 400, params_m <= 3`` (``no budget`` for an empty request)."""
    return ", ".join(f"{key} <= {value:g}" for key, value in request.items()) or "no budget"


def round_up(value: float, digits: int = 4) -> float:
    """``value`` rounded up to ``digits`` significant digits (a printed budget never excludes the network it was
    computed from)."""
    if value <= 0 or not math.isfinite(value):
        return value
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(value)))
    return math.ceil(value * scale - 1e-9) / scale


def suggest_budgets(answer: Callable[[list[float]], Sequence[Any]], low: float, high: float, count: int = 3,
                    candidates: int = 48) -> list[float]:
    """Up to ``count`` budgets of one cost, from ``low`` to ``high`` (the achievable range), each giving a
    different network under the ENG that ``answer`` runs.

    ``answer(budgets)`` returns one result per budget (an object with ``.architecture``, or an infeasible entry
    without one). The budgets tried are ``candidates`` values spread over ``[low, high]``, rounded up to four
    significant digits; the ones returned are the smallest budget of each network found, spread over the networks
    found from cheap to expensive, and they are in descending order (as a command line shows them).
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        raise ValueError(f"suggest_budgets needs a finite range, got [{low}, {high}]")
    tried = sorted({round_up(float(b)) for b in np.linspace(low, high, max(candidates, count))})
    found: dict[tuple[int, ...], float] = {}
    for budget, result in zip(tried, answer(tried), strict=True):
        architecture = getattr(result, "architecture", None)
        if architecture is not None and getattr(result, "feasible", True):
            found.setdefault(tuple(architecture), budget)
    cheapest_first = sorted(found.values())
    if len(cheapest_first) <= count:
        return sorted(cheapest_first, reverse=True)
    picks = {cheapest_first[int(round(i))] for i in np.linspace(0, len(cheapest_first) - 1, count)}
    return sorted(picks, reverse=True)


def achievable_range(space: Any, table: Any) -> tuple[float, float]:
    """The smallest and the largest value of an additive cost over every architecture of ``space`` (the full
    space, fixed part included), computed exactly by ENG's own infeasibility report."""
    from ddp_core.distribution import CategoricalDistribution
    from ddp_core.generation import generate
    from ddp_core.space import CostTable

    uniform = CategoricalDistribution.uniform(space)
    negated = CostTable("negated", -table.fixed, [-np.asarray(row) for row in table.per_candidate])
    out = []
    for name, cost in ((table.name, table), ("negated", negated)):
        entry = generate(space, uniform, {name: cost}, [{name: -1e300}], live_only=False, on_infeasible="report")[0]
        smallest = entry.smallest.get(name) if not entry.feasible else None
        if smallest is None:
            raise ValueError(f"the achievable range of {table.name} could not be decided: {entry.message}")
        out.append(float(smallest))
    return out[0], -out[1]


def suggested_budgets(space: Any, costs: Mapping[str, Any], name: str, answer: Callable[[list[dict]], Sequence[Any]],
                      count: int = 3) -> list[float]:
    """Up to ``count`` budgets of cost ``name`` for a ``next:`` line: spread over the whole space's achievable
    range and checked to give distinct networks under ``answer(requests)`` (the ENG the generator runs by default,
    e.g. ``result.generate(costs, requests)``), in descending order."""
    low, high = achievable_range(space, costs[name])
    return suggest_budgets(lambda budgets: answer([{name: b} for b in budgets]), low, high, count)
