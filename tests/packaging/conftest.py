"""Shared settings for the packaging tests: offline hubs, headless plots, one CPU thread, load-scaled timeouts."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def startup_s() -> float:
    """Seconds this machine takes to start Python and import ddp_core and ddp_bert (numpy, torch, transformers).

    Subprocess timeouts are multiples of it, so they scale with the machine's load instead of being a fixed wall.
    """
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ddp_core, ddp_bert"], check=True, capture_output=True,
                   timeout=600)
    return max(time.perf_counter() - start, 1.0)
