"""make_pair_prompts against a local stub of an OpenAI-compatible chat endpoint."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from tools.confusion import make_pair_prompts as mpp
from trainers.capt.bank import BankParams, make_bank, save_bank


class StubChat(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StubChat.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        user = body["messages"][-1]["content"]
        a, b = user.split('"')[1], user.split('"')[3]
        answer = {"common": [f"both {a} and {b} are garments"], "diff_a": [f"a {a} has long sleeves"],
                  "diff_b": [f"a {b} has short sleeves"]}
        text = "Sure:\n" + json.dumps(answer)
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def stub_server():
    server = HTTPServer(("127.0.0.1", 0), StubChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StubChat.requests = []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def bank_file(tmp_path):
    labels = torch.tensor([0, 0, 1, 2])
    probs = torch.tensor([[0.2, 0.7, 0.1], [0.3, 0.6, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    top = probs.topk(1, dim=1)
    bank = make_bank(["pullover", "coat", "bag"], ["a", "b", "c", "d"], labels, probs, torch.randn(4, 3),
                     top.indices[:, None], top.values[:, None], BankParams(near_miss_topr=1))
    path = tmp_path / "confusion_bank.pt"
    save_bank(bank, str(path))
    return path


def test_writes_pair_file_through_the_endpoint(tmp_path, stub_server, monkeypatch):
    monkeypatch.setenv("CAPT_CHAT_URL", stub_server)
    monkeypatch.setenv("CAPT_CHAT_KEY", "secret-token")
    monkeypatch.setenv("CAPT_CHAT_MODEL", "stub-model")
    out = tmp_path / "pairs.json"
    assert mpp.main([str(bank_file(tmp_path)), "--output", str(out), "--pairs", "1"]) == 0
    data = json.loads(out.read_text())
    assert data["pullover"]["coat"]["diff"] == ["a pullover has long sleeves"]
    assert data["coat"]["pullover"]["diff"] == ["a coat has short sleeves"]
    assert data["coat"]["pullover"]["common"] == ["both pullover and coat are garments"]
    assert "bag" not in data and len(StubChat.requests) == 1  # only the top pair was asked for
    req = StubChat.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer secret-token"
    assert req["body"]["model"] == "stub-model"
    from trainers.capt.textfiles import pair_texts

    texts = pair_texts(["pullover", "coat", "bag"], pair_file=str(out))
    assert texts[(0, 1)]["diff"] == ["a pullover has long sleeves"]


def test_missing_configuration_is_a_clear_error(monkeypatch):
    for var in ("CAPT_CHAT_URL", "OPENAI_BASE_URL", "CAPT_CHAT_MODEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="CAPT_CHAT_URL"):
        mpp.endpoint_from_env()
    monkeypatch.setenv("CAPT_CHAT_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="CAPT_CHAT_MODEL"):
        mpp.endpoint_from_env()


def test_unreachable_endpoint(monkeypatch):
    with pytest.raises(RuntimeError, match="cannot reach"):
        mpp.chat("http://127.0.0.1:9/v1", "", "m", [{"role": "user", "content": "hi"}], timeout=2)
