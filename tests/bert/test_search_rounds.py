"""The depth-gated BERT space under ddp-core's search (ask/tell, no training): every round covers every live
candidate of every decision that can be active, the planned total is what the search runs, and --min-live
leaves that many candidates for ENG."""

import json

import numpy as np
import pytest

from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table
from ddp_bert.space import TeacherShape, build_search_space, decode_architecture
from ddp_core import DDPSearch, SearchConfig, generate
from ddp_core.sampling import reachable_decisions

# The MiniLM-L6-H384 teacher of the tests: depths {3,4,5,6}, FFN {256,384,512,1536}, heads {4,8,12}.
MINILM = TeacherShape(num_layers=6, hidden_size=384, num_heads=12, intermediate_size=1536, vocab_size=30522,
                      max_position_embeddings=512, type_vocab_size=2)


def synthetic_score(space, architecture, prefer_deep: bool, rng) -> float:
    """A made-up accuracy: more parameters are better (or, for ``prefer_deep=False``, fewer layers are)."""
    shape = decode_architecture(space, architecture)
    size = sum(shape.num_heads) / 12 + sum(shape.intermediate_sizes) / 1536
    value = size if prefer_deep else 10 - shape.depth + 0.1 * size
    return float(value + rng.normal(0, 0.05))


def live_masks_by_stage(space, history) -> list[np.ndarray]:
    """The live mask during each stage, rebuilt from the pruning events (stage s uses the mask before its pruning)."""
    live = space.full_mask()
    masks = []
    for stage in range(len(history["stages"])):
        masks.append(live.copy())
        for event in history["pruned"]:
            if event["stage"] == stage:
                e = space.decision_index(event["decision"])
                live[e, space.decisions[e].index(event["candidate"])] = False
    return masks


def run_search(space, config, prefer_deep, run_dir=None):
    rng = np.random.default_rng(0)
    search = DDPSearch(space, config=config, higher_is_better=True, run_dir=run_dir)
    planned = search.total_steps
    totals = []
    while not search.finished:
        for architecture in search.ask():
            search.tell(architecture, synthetic_score(space, architecture, prefer_deep, rng))
            totals.append(search.total_steps)
    search.close()
    return search, planned, totals


@pytest.mark.parametrize("min_live", [1, 2, 3])
@pytest.mark.parametrize("prefer_deep", [True, False])
def test_every_round_covers_every_active_live_candidate(min_live, prefer_deep, tmp_path):
    space = build_search_space(MINILM, min_live=min_live)
    search, planned, totals = run_search(space, SearchConfig(rounds_per_stage=2, seed=1), prefer_deep, tmp_path)
    masks = live_masks_by_stage(space, search.history)
    # records.jsonl (what a resumed search reads) holds every record, in order
    lines = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [[r.stage, r.round, list(r.architecture), r.score] for r in search.record.records] == lines
    rounds = sorted({(stage, round_) for stage, round_, _, _ in lines})
    assert len(rounds) == 2 * len(search.history["stages"])
    for stage, round_ in rounds:
        live = masks[stage]
        reach = reachable_decisions(space, live)
        architectures = [tuple(a) for s, r, a, _ in lines if (s, r) == (stage, round_)]
        for e, decision in enumerate(space.decisions):
            credited = {a[e] for a in architectures if space.active_mask(a)[e]}
            expected = set(np.flatnonzero(live[e]).tolist()) if reach[e] else set()
            assert credited == expected, (stage, round_, decision.name)
    # pruning stops at min_live candidates per decision (heads have 3, so min_live=3 never prunes them)
    assert search.finished
    counts = search.distribution.live.sum(axis=1)
    for e, decision in enumerate(space.decisions):
        if reachable_decisions(space, search.distribution.live)[e]:
            assert counts[e] == min(min_live, len(decision.candidates)), decision.name
    # the plan made before the first step (the progress bar's total) is what the search ran, whichever
    # depth wins: pruning depth 6 makes layer 5 unreachable, but layer 4 then needs the same repeated depths
    assert planned == search.steps
    assert totals == [search.steps] * search.steps


def test_shallow_winner_prunes_layers_out_of_reach():
    """When depth 6 is pruned, layer 5's decisions can no longer be active: they stop being sampled and pruned."""
    space = build_search_space(MINILM, min_live=1)
    search, planned, _ = run_search(space, SearchConfig(rounds_per_stage=1, seed=0), prefer_deep=False)
    pruned_depths = [event["candidate"] for event in search.history["pruned"] if event["decision"] == "depth"]
    assert pruned_depths[0] == "6"
    assert planned == search.steps
    layer5 = space.decision_index("layer5.ffn")
    assert not reachable_decisions(space, search.distribution.live)[layer5]
    after = [r for r in search.record.records if r.stage > 0]
    assert not any(space.active_mask(r.architecture)[layer5] for r in after)
    assert search.distribution.live[layer5].sum() > 1  # frozen where it was when it went out of reach


@pytest.mark.parametrize("min_live", [2, 3])
def test_eng_chooses_inside_the_searched_distribution(min_live):
    space = build_search_space(MINILM, min_live=min_live)
    search, _, _ = run_search(space, SearchConfig(rounds_per_stage=1, seed=2), prefer_deep=True)
    live = search.distribution.live
    costs = {PARAMS_COST_NAME: parameter_cost_table(space, num_labels=2)}
    budgets = [{PARAMS_COST_NAME: b} for b in (1.0, 18.0, 22.0, 30.0)]
    answers = generate(space, search.distribution, costs, budgets, live_only=True, on_infeasible="report")
    assert not answers[0].feasible and answers[0].smallest[PARAMS_COST_NAME] > 1.0
    assert "smallest achievable params_m" in answers[0].message
    feasible = [a for a in answers if a.feasible]
    assert feasible, [a.message for a in answers]
    for answer in feasible:
        assert answer.costs[PARAMS_COST_NAME] <= answer.budgets[PARAMS_COST_NAME]
        active = space.active_mask(answer.architecture)
        assert all(live[e, k] for e, k in enumerate(answer.architecture) if active[e])
    # answers improve (weakly) with the budget
    values = [a.expectation for a in feasible]
    assert values == sorted(values)
