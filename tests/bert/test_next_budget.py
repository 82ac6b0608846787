"""The ``next:`` budget a BERT search prints is one some sub-network meets (issue 18 item 9).

A 2-layer teacher with BERT's 30522-word vocabulary: the paper's fraction of the teacher (67/109.48 of it,
0.61M) is below the smallest sub-network (the embeddings alone are 0.98M), which is what the search used to
suggest. The scores are a fixed hash of the architecture (no model is trained: only the suggestion is tested).
"""

from __future__ import annotations

import zlib

from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table
from ddp_bert.generate import default_params_budget_m
from ddp_bert.search_report import suggested_params_budget_m
from ddp_bert.space import TeacherShape, build_search_space
from ddp_core import DDPSearch, SearchConfig
from ddp_core.budgets import achievable_range


class HashScores:
    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return zlib.crc32(repr([int(k) for k in architecture]).encode()) % 1000 / 1000


def test_the_suggested_budget_is_feasible_where_the_default_fraction_is_not():
    teacher = TeacherShape(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64, vocab_size=30522,
                           max_position_embeddings=32, type_vocab_size=2)
    space = build_search_space(teacher)
    result = DDPSearch(space, HashScores(), SearchConfig(rounds_per_stage=1)).run()
    costs = {PARAMS_COST_NAME: parameter_cost_table(space, 2)}
    low, high = achievable_range(space, costs[PARAMS_COST_NAME])
    default = default_params_budget_m(space)
    assert default < low  # the old suggestion: no sub-network is that small
    budget = suggested_params_budget_m(result, 2, default)
    assert low <= budget <= high * 1.001
    answer = result.generate(costs, [{PARAMS_COST_NAME: budget}])[0]
    assert answer.feasible and answer.costs[PARAMS_COST_NAME] <= budget
    # where the default fraction is achievable it stays the suggestion (67M for BERT-base)
    assert suggested_params_budget_m(result, 2, high) == high
