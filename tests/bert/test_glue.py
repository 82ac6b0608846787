"""GLUE loading from a hub-layout directory, tokenisation, search split and the offline metric module."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from ddp_bert.glue import (
    GLUE_TASKS,
    glue_task,
    load_glue,
    load_metric,
    make_loader,
    predictions_from_logits,
    split_for_search,
    tokenize,
)


@pytest.mark.parametrize("task_name", sorted(GLUE_TASKS))
def test_every_task_loads_tokenizes_and_batches(task_name, glue_dir, minilm_tokenizer):
    task = glue_task(task_name)
    data = load_glue(task, glue_dir)
    assert task.dev_split in data and "train" in data
    train, score = split_for_search(data["train"], 0.25, seed=0)
    assert len(train) + len(score) == len(data["train"])
    assert not set(train["idx"]) & set(score["idx"])
    tokenizer = minilm_tokenizer
    encoded = tokenize(score, task, tokenizer, max_length=16)
    batch = next(iter(make_loader(encoded, tokenizer, batch_size=4, shuffle=True)))
    assert batch["input_ids"].shape[0] == 4 and batch["input_ids"].shape[1] <= 16
    if len(task.text_keys) == 2:  # pairs are encoded as [CLS] a [SEP] b [SEP]
        assert int(batch["token_type_ids"].max()) == 1
    assert batch["labels"].dtype.is_floating_point == task.is_regression


@pytest.mark.parametrize("task_name", ["rte", "mrpc", "qqp", "cola", "stsb", "mnli", "sst2", "qnli"])
def test_metric_module_matches_sklearn_and_scipy(task_name):
    task = glue_task(task_name)
    rng = np.random.default_rng(3)
    if task.is_regression:
        references = rng.uniform(0, 5, 50)
        predictions = references + rng.normal(0, 1.5, 50)
    else:
        references = rng.integers(0, task.num_labels, 50)
        predictions = np.where(rng.uniform(size=50) < 0.7, references, rng.integers(0, task.num_labels, 50))
    result = load_metric(task).compute(predictions=predictions, references=references)
    if task_name == "cola":
        assert result == {"matthews_correlation": pytest.approx(matthews_corrcoef(references, predictions))}
    elif task_name == "stsb":
        assert result["pearson"] == pytest.approx(pearsonr(predictions, references)[0], abs=1e-6)
        assert result["spearmanr"] == pytest.approx(spearmanr(predictions, references)[0], abs=1e-6)
    else:
        assert result["accuracy"] == pytest.approx(accuracy_score(references, predictions))
        if task_name in ("mrpc", "qqp"):
            assert result["f1"] == pytest.approx(f1_score(references, predictions))
    assert task.search_metric in result


def test_predictions_from_logits():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 0.0, 1.0]])
    assert predictions_from_logits(glue_task("mnli"), logits).tolist() == [1, 0]
    assert predictions_from_logits(glue_task("sts-b"), np.array([[3.5], [1.0]])).tolist() == [3.5, 1.0]


def test_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        glue_task("squad")
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_glue(glue_task("rte"), "/nonexistent/glue")
    with pytest.raises(RuntimeError, match="--data-dir"):  # HF_DATASETS_OFFLINE=1: the hub is unreachable
        load_glue(glue_task("rte"))
    with pytest.raises(ValueError, match="--score-fraction"):
        split_for_search(None, 1.5, seed=0)


def test_local_copies_with_the_same_name_do_not_share_a_cache(tmp_path):
    from ddp_bert.glue_layout import write_synthetic_task

    write_synthetic_task(tmp_path / "a" / "glue", "rte", train=30, validation=10, test=4)
    write_synthetic_task(tmp_path / "b" / "glue", "rte", train=40, validation=12, test=4)
    assert load_glue(glue_task("rte"), tmp_path / "a" / "glue")["train"].num_rows == 30
    assert load_glue(glue_task("rte"), tmp_path / "b" / "glue")["train"].num_rows == 40
    write_synthetic_task(tmp_path / "a" / "glue", "rte", train=50, validation=10, test=4)  # rewritten in place
    assert load_glue(glue_task("rte"), tmp_path / "a" / "glue")["validation"].num_rows == 10
    assert load_glue(glue_task("rte"), tmp_path / "a" / "glue")["train"].num_rows == 50
