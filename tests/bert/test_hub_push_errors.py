"""Every Hub call of the BERT tools fails with one ``error:`` line and exit 2, never a network traceback.

Two real situations, with the real ``huggingface_hub`` client (no stand-ins): a Hub that cannot be reached
(the endpoint is a closed local port: connection refused) and a Hub that answers but refuses the upload (a local
HTTP server that answers 401 to every request, as the Hub does without a valid token).
"""

from __future__ import annotations

import http.server
import socket
import threading

import huggingface_hub
import pytest

from ddp_bert.generate import cli as generate_cli
from ddp_bert.hub_access import SourceUnavailableError, push_folder
from ddp_core import DDPSearch, SearchConfig


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers 401 with a Hub-style JSON error to every request."""

    def _refuse(self) -> None:
        body = b'{"error": "Invalid credentials in Authorization header"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _refuse

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def refusing_hub(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield
    server.shutdown()
    server.server_close()


@pytest.fixture
def unreachable_hub(monkeypatch):
    with socket.socket() as probe:  # a port that nothing listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


class HashScores:
    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return (sum(int(k) * (i + 1) for i, k in enumerate(architecture)) % 7) / 7


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    from ddp_bert.space import TeacherShape, build_search_space

    teacher = TeacherShape(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64, vocab_size=100,
                           max_position_embeddings=32, type_vocab_size=2)
    run_dir = tmp_path_factory.mktemp("bert-run")
    DDPSearch(build_search_space(teacher), HashScores(), SearchConfig(rounds_per_stage=1), run_dir=run_dir).run()
    return run_dir


def test_push_to_hub_with_the_hub_unreachable_is_one_line_before_any_export(bert_run, tmp_path, unreachable_hub,
                                                                            capsys):
    export_dir = tmp_path / "never"
    assert generate_cli(bert_run, ["--budget", "params_m=0.05", "--full-space", "--export-dir", str(export_dir),
                                   "--push-to-hub", "me/m"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --push-to-hub me/m needs the Hugging Face Hub"), captured.err
    assert "unreachable" in lines[0] and "hf upload me/m" in lines[0] and "Traceback" not in captured.err
    assert not export_dir.exists()  # decided before the export work


def test_an_upload_the_hub_refuses_is_one_line_naming_the_saved_folder(tmp_path, refusing_hub):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(SourceUnavailableError) as refused:
        push_folder(folder, "me/m", token="hf_not_a_real_token")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("--push-to-hub me/m: the upload failed")
    assert "401" in message and f"hf upload me/m {folder}" in message
    assert isinstance(refused.value.__cause__, huggingface_hub.errors.HfHubHTTPError)
