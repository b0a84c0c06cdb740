"""`repro-lint server` driven as an editor drives it: JSON-RPC with Content-Length framing over stdio."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, run_cli

pytest.importorskip("pygls")

TRAIN = """import torch
from helpers import seed_everything

torch.backends.cudnn.benchmark = True
torch.use_deterministic_algorithms(False)
x = torch.randn(3)
"""


class Client:
    """A minimal LSP client: requests with ids, notifications, and a reader thread."""

    def __init__(self, cwd: Path, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        self.process = subprocess.Popen(
            [str(BIN / "repro-lint"), "server", *args], cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        self.raw: list[bytes] = []  # every frame the server sent, for the docs
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.raw.append(body)
            self.messages.put(json.loads(body))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"method": method, "params": params if params is not None else {}})

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait_for(lambda m: m.get("id") == self.next_id and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def wait_for(self, condition, timeout: float = 120.0) -> dict[str, Any]:
        while True:
            try:
                message = self.messages.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("the server sent nothing that was expected") from None
            if condition(message):
                return message

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        message = self.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                and m["params"]["uri"] == uri)
        return message["params"]["diagnostics"]

    def close(self) -> int:
        self.request("shutdown")
        self.notify("exit")
        return self.process.wait(timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.repro-lint]\ntorch-version = "2.1"\n')
    (tmp_path / "helpers.py").write_text(
        "import random\n\nimport numpy as np\nimport torch\n\n\ndef seed_everything(seed):\n"
        "    random.seed(seed)\n    np.random.seed(seed)\n    torch.manual_seed(seed)\n"
    )
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def start(root: Path) -> Client:
    client = Client(root)
    result = client.request("initialize", {
        "processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {},
        "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
    })
    assert result["serverInfo"]["name"] == "repro-lint"
    assert result["capabilities"]["codeActionProvider"]["codeActionKinds"] == ["quickfix"]
    client.notify("initialized")
    return client


def open_document(client: Client, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                            "version": version, "text": text}})
    return uri


def cli_findings(root: Path, *paths: str) -> list[tuple[str, int, int, int, int, str]]:
    result = run_cli("check", "--no-cache", "--format", "json", *paths, cwd=root)
    return sorted((f["code"], f["line"], f["column"], f["end_line"], f["end_column"], f["message"])
                  for f in json.loads(result.stdout))


def as_findings(diagnostics: list[dict[str, Any]]) -> list[tuple[str, int, int, int, int, str]]:
    return sorted((d["code"], d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1,
                   d["range"]["end"]["line"] + 1, d["range"]["end"]["character"] + 1, d["message"])
                  for d in diagnostics)


def test_diagnostics_match_the_cli_and_code_actions_fix(project: Path) -> None:
    client = start(project)
    try:
        uri = open_document(client, project / "train.py", TRAIN)
        diagnostics = client.diagnostics(uri)
        assert as_findings(diagnostics) == cli_findings(project, "train.py")
        assert {d["code"] for d in diagnostics} == {"RPL101", "RPL201", "RPL202"}
        assert all(d["source"] == "repro-lint" and d["severity"] == 2 for d in diagnostics)
        benchmark = next(d for d in diagnostics if d["code"] == "RPL201")
        assert benchmark["codeDescription"]["href"].endswith("docs/rules.md#rpl201")

        actions = client.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": benchmark["range"],
            "context": {"diagnostics": [benchmark]},
        })
        titles = [a["title"] for a in actions]
        fix = next(a for a in actions if a.get("isPreferred"))
        assert fix["kind"] == "quickfix" and fix["diagnostics"][0]["code"] == "RPL201"
        [edit] = fix["edit"]["changes"][uri]
        assert edit == {"range": {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 0}},
                        "newText": "torch.backends.cudnn.benchmark = False\n"}
        noqa = next(a for a in actions if "noqa" in a["title"])
        assert titles == [fix["title"], noqa["title"]]
        assert noqa["title"] == "RPL201: add `# noqa: RPL201`"
        assert noqa["edit"]["changes"][uri] == [{
            "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 37}},
            "newText": "torch.backends.cudnn.benchmark = True  # noqa: RPL201",
        }]

        # An unsafe fix is offered, marked, and not preferred.
        determinism = next(d for d in diagnostics if d["code"] == "RPL202")
        actions = client.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": determinism["range"], "context": {"diagnostics": []},
        })
        unsafe = [a for a in actions if "noqa" not in a["title"]]
        assert len(unsafe) == 1 and unsafe[0]["title"].endswith("(unsafe)") and not unsafe[0].get("isPreferred")

        # The unsaved buffer is what is linted: the project's seed helper, called first, seeds torch.
        edited = TRAIN.replace("torch.backends.cudnn.benchmark = True\n", "seed_everything(0)\n")
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": edited}],
        })
        message = client.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics")
        assert message["params"]["version"] == 2
        assert [d["code"] for d in message["params"]["diagnostics"]] == ["RPL202"]

        (project / "train.py").write_text(edited)
        client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        assert as_findings(client.diagnostics(uri)) == cli_findings(project, "train.py")
        assert client.close() == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()


def test_positions_are_utf16_and_noqa_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    text = 'import torch\nname = "😀"; torch.backends.cudnn.benchmark = True\n' \
           "torch.use_deterministic_algorithms(False)  # noqa: RPL202\n"
    client = start(tmp_path)
    try:
        uri = open_document(client, tmp_path / "a.py", text)
        [diagnostic] = client.diagnostics(uri)
        # 😀 is one code point (the CLI says column 13) and two UTF-16 code units (LSP's default).
        assert diagnostic["range"]["start"] == {"line": 1, "character": 12 + 1}
        assert client.close() == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()


def test_bad_settings_are_a_message_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\nnot-a-key = 1\n")
    client = start(tmp_path)
    try:
        uri = open_document(client, tmp_path / "a.py", "import torch\ntorch.backends.cudnn.benchmark = True\n")
        message = client.wait_for(lambda m: m.get("method") == "window/showMessage")
        assert "not-a-key" in message["params"]["message"] and message["params"]["type"] == 1
        assert client.diagnostics(uri) == []
        assert client.close() == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()


def test_server_help_and_missing_extra(tmp_path: Path) -> None:
    result = run_cli("server", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: repro-lint server")
    assert "server" in run_cli("--help").stdout
    # Without pygls: one line that names the extra.
    blocker = tmp_path / "pygls"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('blocked', name='pygls')\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, "PYTHONPATH": str(tmp_path)}
    missing = subprocess.run([str(BIN / "repro-lint"), "server"], capture_output=True, text=True, env=env,
                             timeout=60, stdin=subprocess.DEVNULL)
    assert missing.returncode == 2
    assert missing.stderr == ("repro-lint: error: `repro-lint server` needs the `server` extra (pygls is missing): "
                              "pip install 'repro-lint[server]'\n")


NVIM_INIT = """
vim.api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(args)
    local id = vim.lsp.start_client({ name = "repro-lint", cmd = { "repro-lint", "server" },
                                      root_dir = vim.fn.getcwd() })
    if id then vim.lsp.buf_attach_client(args.buf, id) end
  end,
})
"""

NVIM_CHECK = """
vim.wait(60000, function() return #vim.diagnostic.get(0) > 0 end, 100)
for _, d in ipairs(vim.diagnostic.get(0)) do
  io.stdout:write(string.format("%d:%d: %s %s [%s]\\n", d.lnum + 1, d.col + 1, d.code, d.message, d.source))
end
vim.api.nvim_win_set_cursor(0, {3, 0})
local params = vim.lsp.util.make_range_params()
params.context = { diagnostics = {} }
local result = vim.lsp.buf_request_sync(0, "textDocument/codeAction", params, 30000)
for _, r in pairs(result or {}) do
  for _, a in ipairs(r.result or {}) do
    io.stdout:write("action: " .. a.title .. (a.isPreferred and " (preferred)" or "") .. "\\n")
  end
end
io.stdout:flush()
vim.cmd("qa!")
"""


@pytest.mark.skipif(shutil.which("nvim") is None, reason="needs Neovim")
def test_neovim_shows_the_diagnostics_and_the_fixes(tmp_path: Path) -> None:
    """The Neovim setup docs/integrations.md gives, run headless."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "train.py").write_text("import torch\n\ntorch.backends.cudnn.benchmark = True\n")
    (tmp_path / "init.lua").write_text(NVIM_INIT)
    (tmp_path / "check.lua").write_text(NVIM_CHECK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(["nvim", "--headless", "-u", "init.lua", "train.py", "-c", "luafile check.lua"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.stdout.splitlines() == [
        "3:1: RPL201 `torch.backends.cudnn.benchmark` is enabled: cuDNN may choose different algorithms on each run"
        " [repro-lint]",
        "action: RPL201: Set `torch.backends.cudnn.benchmark` to False (preferred)",
        "action: RPL201: add `# noqa: RPL201`",
    ], result.stdout + result.stderr
