"""Model cards (``README.md`` with YAML front matter) for exported and fine-tuned compressed BERTs.

The front matter is what the Hub indexes (``library_name``, ``pipeline_tag``, ``base_model``, ``datasets``,
``model-index`` for dev-set results) plus a ``ddpnas`` block: teacher, task, budget, exact parameters,
per-layer architecture, search settings and the metrics known at that point.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ddp_bert.hub_access import GLUE_HUB_NAME

CARD_FILE = "README.md"
CARD_TAGS = ["ddpnas", "bert", "model-compression", "neural-architecture-search", "text-classification",
             "custom_code"]
SEARCH_SPLIT = "held-out part of the GLUE training set (the search's score split), not the dev set"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass
class ExportDescription:
    """What a card says about one exported sub-network."""

    teacher: str
    task: str
    depth: int
    layer_num_heads: list[int]
    layer_intermediate_sizes: list[int]
    parameters: int
    teacher_parameters: int
    budgets: dict[str, float]
    costs: dict[str, float]
    predicted_score: float | None = None  # the search's model's estimate on its scoring split (model ENG only)
    theta_expectation: float | None = None  # E[α] of θ (Eq. 10's objective), not a score
    search: dict = field(default_factory=dict)
    search_metrics: dict[str, float] | None = None
    search_metrics_when: str | None = None
    glue_from_hub: bool = True

    def ddpnas_block(self) -> dict:
        """The ``ddpnas`` mapping of the front matter."""
        block = {
            "teacher": teacher_label(self.teacher), "task": self.task,
            "glue": GLUE_HUB_NAME if self.glue_from_hub else "local copy (--data-dir)", "budget": dict(self.budgets), "costs": dict(self.costs),
            "params": self.parameters, "params_m": round(self.parameters / 1e6, 3),
            "teacher_params": self.teacher_parameters,
            "architecture": {"depth": self.depth, "layer_num_heads": list(self.layer_num_heads),
                             "layer_intermediate_sizes": list(self.layer_intermediate_sizes)},
            "predicted_score": self.predicted_score, "theta_expectation": self.theta_expectation,
            "search": dict(self.search),
        }
        if self.search_metrics:
            block["search_metrics"] = dict(self.search_metrics)
            block["search_metrics_split"] = SEARCH_SPLIT
            block["search_metrics_when"] = self.search_metrics_when
        return block


def teacher_label(teacher: str) -> str:
    """A hub name as is; a local directory by its name only (cards are public, home paths are not)."""
    return teacher if is_hub_name(teacher) else f"{Path(teacher).name} (local directory)"


def is_hub_name(name: str) -> bool:
    """True for ``"name"`` / ``"owner/name"`` that is not a local path (a valid ``base_model``)."""
    return bool(_HUB_NAME.match(name)) and not Path(name).expanduser().exists()


def export_card(description: ExportDescription, repo_id: str | None = None) -> ModelCard:
    """The card of an exported model; ``repo_id`` (if pushed) goes into the usage example."""
    data = ModelCardData(library_name="transformers", pipeline_tag="text-classification", tags=list(CARD_TAGS),
                         base_model=description.teacher if is_hub_name(description.teacher) else None,
                         datasets=[GLUE_HUB_NAME] if description.glue_from_hub else None,
                         ddpnas=description.ddpnas_block())
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{_export_body(description, repo_id)}")


def _export_body(d: ExportDescription, repo_id: str | None) -> str:
    budget = ", ".join(f"{name} <= {value:g}" for name, value in d.budgets.items())
    share = d.parameters / d.teacher_parameters if d.teacher_parameters else float("nan")
    rows = "\n".join(f"| {n} | {h} | {w} |" for n, (h, w) in
                     enumerate(zip(d.layer_num_heads, d.layer_intermediate_sizes, strict=True)))
    settings = "\n".join(f"| `{key}` | {value} |" for key, value in d.search.items()) or "| (not recorded) | |"
    if d.search_metrics:
        metrics = ", ".join(f"{name} {value:.4f}" for name, value in d.search_metrics.items())
        metrics_text = (f"Score of this architecture {d.search_metrics_when or 'during the search'}: {metrics}, "
                        f"on the {SEARCH_SPLIT}.")
    else:
        metrics_text = "No score of this exact architecture was recorded during the search."
    source = repo_id or "PATH_OR_REPO_ID"
    return f"""
# DDPNAS-compressed BERT for GLUE {d.task.upper()}

A BERT compressed with DDPNAS (dynamic distribution pruning, Zheng et al.) by ddp-bert (the ddpnas project).
Teacher: `{teacher_label(d.teacher)}`. Depth, per-layer attention heads and per-layer FFN width were searched
on GLUE {d.task.upper()}, then the best sub-network under the budget ({budget}) was cut out of the trained
supernet: {d.parameters:,} parameters ({d.parameters / 1e6:.2f}M, {share:.0%} of the teacher's
{d.teacher_parameters / 1e6:.2f}M).

## Use

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{source}", trust_remote_code=True)
```

The modeling code (`configuration_ddp_compressed_bert.py`, `modeling_ddp_compressed_bert.py`, torch and
transformers only) ships next to the weights, so `trust_remote_code=True` is all transformers needs; where
ddp-bert is installed, `import ddp_bert` registers the same classes and no remote code runs.
`AutoModelForSequenceClassification`, `AutoModel` and `AutoTokenizer` (which reads config.json too) take the same
`trust_remote_code=True`.

## Architecture

`config.json` gives each layer its own size (`layer_num_heads`, `layer_intermediate_sizes`, heads of
`attention_head_size` each); there is no uniform `num_attention_heads` / `intermediate_size`.

| layer | heads | FFN width |
|---|---|---|
{rows}

## Search

| setting | value |
|---|---|
{settings}

## Metrics

{metrics_text}
The weights are the supernet's, trained on the task during the search; fine-tuning the exported model (`python tools/finetune_bert.py --model DIR --task {d.task} --output-dir OUT`) reports the
dev-set result and adds it to the card in OUT.
"""


def data_label(task: str, data_dir: str | os.PathLike | None) -> tuple[str, str]:
    """``(dataset type, dataset name)`` of the data a run used: the Hub's GLUE, or a local directory by its name
    only (never claimed to be ``nyu-mll/glue``; cards are public, home paths are not)."""
    if data_dir is None:
        return GLUE_HUB_NAME, f"GLUE {task.upper()}"
    name = Path(data_dir).expanduser().resolve().name
    return "local", f"{name} (local directory in the GLUE {task.upper()} layout, not {GLUE_HUB_NAME})"


def add_dev_results(card: ModelCard, task: str, dev_split: str, metrics: dict[str, float],
                    model_name: str, fine_tuning: dict, data_dir: str | os.PathLike | None = None) -> ModelCard:
    """Record dev-set results (``model-index``, naming the data actually used: the Hub's GLUE or the local
    ``data_dir``) and the fine-tuning settings in ``card``."""
    data = card.data
    data.model_name = model_name
    dataset_type, dataset_name = data_label(task, data_dir)
    data.eval_results = [
        EvalResult(task_type="text-classification", dataset_type=dataset_type, dataset_name=dataset_name,
                   dataset_config=task, dataset_split=dev_split, metric_type=name, metric_value=float(value))
        for name, value in metrics.items()
    ]
    ddpnas = dict(getattr(data, "ddpnas", None) or {})
    ddpnas["fine_tuning"] = {**fine_tuning, "data": dataset_name if data_dir is not None else GLUE_HUB_NAME}
    data.ddpnas = ddpnas
    lines = "\n".join(f"| {name} | {value:.4f} |" for name, value in metrics.items())
    settings = ", ".join(f"`{key}` {value}" for key, value in fine_tuning.items())
    source = f"`{GLUE_HUB_NAME}`" if data_dir is None else dataset_name
    text = (f"\n## Dev-set results after fine-tuning\n\nGLUE {task.upper()} `{dev_split}` split of {source}, "
            f"fine-tuned with transformers' Trainer ({settings}):\n\n| metric | value |\n|---|---|\n{lines}\n")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{card.text.rstrip()}\n{text}")


def fine_tuned_card(source: str, task: str, dev_split: str, metrics: dict[str, float], fine_tuning: dict,
                    data_dir: str | os.PathLike | None = None) -> ModelCard:
    """The card of a fine-tuned model: the source's card (if it has one) plus the dev-set results on the data
    the run used (``data_dir``; ``None``: the Hub's GLUE)."""
    card_path = Path(source) / CARD_FILE
    if card_path.is_file():
        card = ModelCard.load(card_path)
    else:
        data = ModelCardData(library_name="transformers", pipeline_tag="text-classification",
                             base_model=source if is_hub_name(source) else None,
                             datasets=[GLUE_HUB_NAME] if data_dir is None else None)
        card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {Path(source).name} fine-tuned on GLUE {task.upper()}\n")
    return add_dev_results(card, task, dev_split, metrics, f"{Path(source).name}-{task}", fine_tuning, data_dir)


def save_card(card: ModelCard, directory: str | os.PathLike) -> Path:
    """Write ``README.md`` into ``directory``."""
    path = Path(directory) / CARD_FILE
    card.save(path)
    return path
