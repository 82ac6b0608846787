"""The end of a BERT search: the answer's size and held-out metrics in ``search_result.json``, and a short
human summary naming the run directory and the ENG command to run next."""

from __future__ import annotations

from pathlib import Path

from ddp_bert.costs import subnetwork_parameters
from ddp_bert.space import SubnetworkShape, TeacherShape, decode_architecture
from ddp_core import SearchResult, final_summary, generate, write_json_atomic


def report_result(run_dir: Path, result: SearchResult, evaluator, teacher: TeacherShape, task, accelerator) -> dict:
    """Score the answer on the scoring split (every process takes part), then write and print (main only)."""
    from ddp_bert.generate import default_params_budget_m

    shape = decode_architecture(result.space, result.architecture)
    theta_shape = decode_architecture(result.space, result.theta_architecture)
    metrics = evaluator.evaluate(shape)
    summary = {
        "task": task.name, "search_metric": task.search_metric, "architecture": list(result.architecture),
        "described": result.describe(), "answer": result.answer, "shape": shape.to_dict(),
        "theta_shape": theta_shape.to_dict(),
        "params_m": subnetwork_parameters(teacher, shape, task.num_labels) / 1e6,
        "teacher_params_m": subnetwork_parameters(teacher, SubnetworkShape.full(teacher), task.num_labels) / 1e6,
        "score_split_metrics": metrics, "steps": result.steps, "optimizer_steps": evaluator.optimizer_steps,
    }
    if accelerator.is_main_process:
        write_json_atomic(run_dir / "search_result.json", summary)
        budget = suggested_params_budget_m(result, task.num_labels, default_params_budget_m(result.space))
        metric_text = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
        extra = {
            "answer shape": f"depth {shape.depth}, heads {list(shape.num_heads)}, FFN {list(shape.intermediate_sizes)}",
            "size": f"{summary['params_m']:.2f}M parameters of the teacher's {summary['teacher_params_m']:.2f}M",
            "scoring split": metric_text,
        }
        command = f"python tools/generate.py {run_dir} --budget params_m={budget:g} --export-dir {run_dir / 'model'}"
        if result.utility != "joint" and not _feasible_live(result, task.num_labels, budget):
            # θ's ENG (paper / authors) answers over the live candidates, all larger than this budget; the default
            # preset's ENG answers over the whole space anyway
            command += " --full-space"
        accelerator.print(final_summary(run_dir, result, command, extra=extra))
    return summary


def suggested_params_budget_m(result: SearchResult, num_labels: int, default: float) -> float:
    """The parameter budget of the ``next:`` command: ``default`` (67M for BERT-base) when some sub-network of the
    space meets it, else the middle of three budgets spread over the achievable range that give distinct networks
    under the search's ENG (checked by running it), so the suggestion is never infeasible."""
    from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table
    from ddp_core.budgets import achievable_range, suggested_budgets

    costs = {PARAMS_COST_NAME: parameter_cost_table(result.space, num_labels)}
    low, _ = achievable_range(result.space, costs[PARAMS_COST_NAME])
    if default >= low:
        return default
    found = suggested_budgets(result.space, costs, PARAMS_COST_NAME, lambda requests: result.generate(costs, requests))
    return found[len(found) // 2]


def _feasible_live(result: SearchResult, num_labels: int, budget_m: float) -> bool:
    """Whether some sub-network of the live candidates fits ``budget_m`` million parameters."""
    from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table

    costs = {PARAMS_COST_NAME: parameter_cost_table(result.space, num_labels)}
    answer = generate(result.space, result.distribution, costs, [{PARAMS_COST_NAME: budget_m}], live_only=True,
                      on_infeasible="report")[0]
    return answer.feasible
