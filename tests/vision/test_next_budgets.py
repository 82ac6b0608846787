"""The ``next:`` budgets the MobileNet search prints span the whole space and give distinct networks (issue 16.9).

In process, on a small layer-wise space searched with fixed per-candidate scores (no supernet) and the default
``--min-live 2``: the suggested ``--budget`` flags, run through the generator exactly as printed, give three
different networks, the cheapest suggestion in the bottom third of what the whole space can cost.
"""

from __future__ import annotations

import json
import shlex

import numpy as np

from ddp_core import DDPSearch, SearchConfig
from ddp_core.budgets import achievable_range
from ddp_vision.mobilenet.generate import cli
from ddp_vision.mobilenet.search import suggested_flops_budgets
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

SMALL = MobileNetSpaceConfig(num_classes=10, resolution=32, width_multiplier=0.5, kernels=(3, 5),
                             stage_depths=(1, 1, 1, 1, 2, 1))


class KernelScores:
    """Larger kernels and expansions score higher: the signal points to the expensive end of the space."""

    higher_is_better = True

    def __init__(self, space) -> None:
        self.space = space

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        names = self.space.describe(architecture).values()
        return float(np.mean([0.5 if n == "zero" else int(n[2]) / 10 + int(n[-1]) / 100 for n in names]))


def test_suggested_budgets_give_three_networks_across_the_whole_range(tmp_path):
    layerwise = mobilenet_space(SMALL)
    space = layerwise.search_space(min_live=2)
    run_dir = tmp_path / "run"
    result = DDPSearch(space, KernelScores(space), SearchConfig(rounds_per_stage=1), run_dir=run_dir).run()
    flags = shlex.split(suggested_flops_budgets(layerwise, result))
    assert flags[0::2] == ["--budget"] * 3
    budgets = [float(text.removeprefix("flops_m=")) for text in flags[1::2]]
    low, high = achievable_range(space, layerwise.cost_tables()["flops_m"])
    assert budgets == sorted(budgets, reverse=True) and budgets[-1] < low + (high - low) / 3
    assert cli(run_dir, [*flags, "--output-dir", str(tmp_path / "out"), "--points", "4"]) == 0
    answers = json.loads((tmp_path / "out" / "eng.json").read_text())["answers"]
    assert [a["budgets"]["flops_m"] for a in answers] == budgets
    assert len({tuple(a["architecture"]) for a in answers}) == 3
