"""GLUE tasks: loading through ``datasets``, tokenisation, search/report splits and official metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict, load_dataset
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from ddp_bert.hub_access import GLUE_HUB_NAME

GLUE_METRIC_PATH = str(Path(__file__).resolve().parent / "glue_metric")


@dataclass(frozen=True)
class GlueTask:
    """What the code needs to know about one GLUE task.

    Attributes
    ----------
    name
        Configuration name on the hub (``"rte"``).
    text_keys
        Column(s) holding the text (one for single-sentence tasks).
    num_labels
        Classifier outputs; 1 means regression (STS-B).
    search_metric
        The official metric used as the search score (higher is better).
    label_names
        Class names in label order (empty for regression), written into exported configs' ``id2label``.
    dev_split
        The split reported at the end (GLUE's dev set; test labels are hidden).
    """

    name: str
    text_keys: tuple[str, ...]
    num_labels: int
    search_metric: str
    label_names: tuple[str, ...] = ()
    dev_split: str = "validation"

    @property
    def is_regression(self) -> bool:
        """True for STS-B."""
        return self.num_labels == 1


GLUE_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", ("sentence",), 2, "matthews_correlation", ("unacceptable", "acceptable")),
        GlueTask("sst2", ("sentence",), 2, "accuracy", ("negative", "positive")),
        GlueTask("mrpc", ("sentence1", "sentence2"), 2, "f1", ("not_equivalent", "equivalent")),
        GlueTask("qqp", ("question1", "question2"), 2, "f1", ("not_duplicate", "duplicate")),
        GlueTask("stsb", ("sentence1", "sentence2"), 1, "spearmanr"),
        GlueTask("mnli", ("premise", "hypothesis"), 3, "accuracy", ("entailment", "neutral", "contradiction"),
                 dev_split="validation_matched"),
        GlueTask("qnli", ("question", "sentence"), 2, "accuracy", ("entailment", "not_entailment")),
        GlueTask("rte", ("sentence1", "sentence2"), 2, "accuracy", ("entailment", "not_entailment")),
    )
}


def glue_task(name: str) -> GlueTask:
    """Look a task up by name (case-insensitive; ``sst-2``/``sts-b`` spellings accepted)."""
    key = name.lower().replace("-", "")
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; choose one of {sorted(GLUE_TASKS)}")
    return GLUE_TASKS[key]


def load_glue(task: GlueTask, data_dir: str | os.PathLike | None = None) -> DatasetDict:
    """Load a GLUE task: from the hub (``nyu-mll/glue``) or from a local directory with the hub's layout.

    Parameters
    ----------
    task
        The task.
    data_dir
        A directory laid out like the hub repository (README with YAML ``configs:`` and
        ``<task>/<split>-00000-of-00001.parquet``); ``None`` uses the hub.
    """
    source = GLUE_HUB_NAME if data_dir is None else str(data_dir)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a directory")
    try:
        local_files = None if data_dir is None else local_parquet_files(Path(data_dir), task.name)
        if local_files:
            # datasets caches `load_dataset(directory, config)` under the directory's base name, so two local
            # copies both called "glue" would share a cache entry; the parquet builder keys on the files.
            data = load_dataset("parquet", data_files=local_files)
        else:
            data = load_dataset(source, task.name)
    except Exception as error:  # offline hub, missing config: say what to do
        from ddp_bert.hub_access import SourceUnavailableError

        raise SourceUnavailableError(
            f"could not load GLUE task {task.name!r} from {source}: {error}. Offline, pass --data-dir with a "
            "local copy in the hub layout (see ddp_bert.glue_layout)."
        ) from error
    missing = [key for key in (*task.text_keys, "label") if key not in data["train"].column_names]
    if missing:
        raise ValueError(f"{source}/{task.name} train split lacks columns {missing}")
    return data


def local_parquet_files(data_dir: Path, task_name: str) -> dict[str, list[str]]:
    """``{split: [files]}`` of ``<data_dir>/<task>/<split>-NNNNN-of-NNNNN.parquet`` (the hub's GLUE layout)."""
    files: dict[str, list[str]] = {}
    for path in sorted((data_dir / task_name).glob("*-of-*.parquet")):
        split = path.name.split("-0")[0]
        files.setdefault(split, []).append(str(path))
    return files


def split_for_search(train: Dataset, score_fraction: float, seed: int, max_score_examples: int | None = None
                     ) -> tuple[Dataset, Dataset]:
    """Hold a scoring split out of the training set (the search never sees the dev set).

    Returns
    -------
    (Dataset, Dataset)
        The part to train on and the part to score on.
    """
    if not 0.0 < score_fraction < 1.0:
        raise ValueError(f"--score-fraction must lie in (0, 1), got {score_fraction}")
    parts = train.train_test_split(test_size=score_fraction, seed=seed)
    score = parts["test"]
    if max_score_examples is not None and len(score) > max_score_examples:
        score = score.select(range(max_score_examples))
    return parts["train"], score


def tokenize(dataset: Dataset, task: GlueTask, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Tokenise the text columns; keep ``input_ids``, ``token_type_ids``, ``attention_mask`` and ``labels``."""

    def encode(batch):
        texts = [batch[key] for key in task.text_keys]
        encoded = tokenizer(*texts, truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    keep = {"input_ids", "token_type_ids", "attention_mask", "labels"}
    encoded = dataset.map(encode, batched=True, desc=f"tokenizing {task.name}")
    return encoded.remove_columns([column for column in encoded.column_names if column not in keep])


def make_loader(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int, shuffle: bool,
                seed: int = 0) -> DataLoader:
    """A padding DataLoader over a tokenised dataset."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset.with_format("torch"), batch_size=batch_size, shuffle=shuffle, generator=generator,
        collate_fn=DataCollatorWithPadding(tokenizer),
    )


def load_metric(task: GlueTask):
    """The task's official metric through ``evaluate`` (the local module shipped with ddp-bert)."""
    import evaluate

    return evaluate.load(GLUE_METRIC_PATH, task.name)


def predictions_from_logits(task: GlueTask, logits: np.ndarray) -> np.ndarray:
    """Class ids (argmax) or, for regression, the single output."""
    return logits[:, 0] if task.is_regression else logits.argmax(axis=-1)
