"""``uv`` as the install tests run it (tests/packaging, tests/seg): offline, from the repository root."""

import os
import pathlib
import shutil
import subprocess

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def uv(*args: str, timeout: float) -> str:
    """Run uv offline; outside `uv build`, without the workspace's settings (its torch constraint, say)."""
    executable = shutil.which("uv")
    assert executable, "uv must be on PATH (the README installs it with `python3 -m pip install uv`)"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    isolated = [] if args[0] == "build" else ["--no-config"]
    result = subprocess.run([executable, *args, *isolated], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"uv {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout + result.stderr
