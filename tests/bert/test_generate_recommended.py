"""The BERT generator prints the recommended sub-network per budget (issue 15, "One answer in the tools").

A search over a tiny teacher's space with fixed pseudo-random scores (no weights: ENG needs none), then the
generator in process: by default each budget's answer is ``SearchResult.generate`` of the same search, printed
once with its ``how`` line; eng.json keeps the θ answer and the best evaluated network; ``--eng theta`` gives
what the generator printed before (Eq. 10 on θ over the live candidates).
"""

from __future__ import annotations

import json
import zlib

from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table
from ddp_bert.generate import cli
from ddp_bert.space import TeacherShape, build_search_space
from ddp_core import DDPSearch, SearchConfig, generate


class HashScores:
    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return zlib.crc32(repr([int(k) for k in architecture]).encode()) % 1000 / 1000


def test_the_default_answer_is_the_searchs_recommended_network_with_alternatives(tmp_path, capsys):
    teacher = TeacherShape(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64, vocab_size=100,
                           max_position_embeddings=32, type_vocab_size=2)
    space = build_search_space(teacher)
    run_dir = tmp_path / "run"
    result = DDPSearch(space, HashScores(), SearchConfig(rounds_per_stage=2), run_dir=run_dir).run()
    costs = {PARAMS_COST_NAME: parameter_cost_table(space, 2)}
    whole = costs[PARAMS_COST_NAME]
    high = float(whole.fixed + sum(row.max() for row in whole.per_candidate))
    low = float(whole.fixed + sum(row.min() for row in whole.per_candidate))
    requests = [{PARAMS_COST_NAME: high}, {PARAMS_COST_NAME: (low + high) / 2}, {PARAMS_COST_NAME: 1e-6}]
    flags = [arg for r in requests for arg in ("--budget", f"params_m={r[PARAMS_COST_NAME]!r}")]
    assert cli(run_dir, [*flags, "--pareto", "5"]) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / "eng.json").read_text())
    expected = result.generate(costs, requests)
    assert report["eng"] == "model"
    entries = report["answers"]
    for entry, answer in zip(entries[:2], expected[:2], strict=True):
        assert entry["architecture"] == list(answer.architecture) and entry["how"] == answer.how
        assert entry["source"] in ("model", "evaluated") and f"how: {answer.how}" in out
        assert {"theta", "best_evaluated"} <= set(entry["alternatives"]) and "shape" in entry["alternatives"]["theta"]
        best = entry["alternatives"]["best_evaluated"]
        if best is not None:  # never worse, by the run's estimate, than the best evaluated network under it
            assert entry["estimate"] >= best["estimate"] - 1e-12
    assert entries[2]["infeasible"] and "smallest achievable params_m" in entries[2]["message"]
    assert out.count("how: ") == 2 and out.count("ENG params_m") == 3 and "predicted score" in out
    assert (run_dir / "pareto_params.png").stat().st_size > 10_000
    thetas = generate(result.space, result.distribution, costs, requests, live_only=True, on_infeasible="report")
    assert [e["alternatives"]["theta"]["architecture"] for e in entries[:2]] == [list(t.architecture)
                                                                                 for t in thetas[:2]]
    assert cli(run_dir, [*flags, "--eng", "theta"]) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / "eng.json").read_text())
    assert report["eng"] == "theta" and report["live_only"]
    assert [e["architecture"] for e in report["answers"][:2]] == [list(t.architecture) for t in thetas[:2]]
    assert out.count("how: Eq. 10") == 2 and "E[α]" in out
