"""A pytest fixture serving OpenAI's published OpenAPI spec with Stoplight Prism.

Prism (``prism mock``) answers every operation of the spec with its static examples and
**validates each request** against the spec: a request that breaks it gets HTTP 422. Running
vqaft's real OpenAI calls against it checks that what vqaft sends is what OpenAI documents.

Prism is found at ``.ci/prism/node_modules/.bin/prism`` (``.ci/run`` installs it there), on
``PATH``, or at ``node_modules/.bin/prism``; without it (or without Node) the tests that use
the fixture are skipped with a reason saying how to install it. Start-up takes 15-20 s (more
on a busy machine), so the server is shared by the whole session; it listens on 127.0.0.1 on a
free port and is stopped by its PID at the end.

Facts that shape the tests (see ../shared/openai-spec/README.md): the base URL has no
``/v1``; answers are the spec's static examples (assert on types, never on values); lists
always say ``has_more=true`` (read the first page only); a body that is not JSON makes Prism
hang, so clients must set timeouts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO.parent / "shared" / "openai-spec" / "openapi.fixed.json"
INSTALL = (
    "SCARF_ANALYTICS=false npm install --no-save --prefix .ci/prism @stoplight/prism-cli@5.16.0"
)
STARTUP_TIMEOUT_S = 120.0
DUMMY_KEY = "sk-prism-not-a-real-key"


@dataclass(frozen=True)
class PrismServer:
    """A running Prism mock server."""

    base_url: str  # http://127.0.0.1:PORT, no /v1 (the spec's paths start below it)
    pid: int
    log: Path


def find_prism() -> Path | None:
    """The prism executable: .ci's install, PATH, or ./node_modules."""
    candidates = [REPO / ".ci" / "prism" / "node_modules" / ".bin" / "prism"]
    on_path = shutil.which("prism")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(REPO / "node_modules" / ".bin" / "prism")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(base_url: str) -> bool:
    request = urllib.request.Request(
        f"{base_url}/fine_tuning/jobs?limit=1",
        headers={"Authorization": f"Bearer {DUMMY_KEY}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError:
        return True  # Prism is up (it answered, if not with 200)
    except OSError:
        return False


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def prism_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    """Prism serving openapi.fixed.json on 127.0.0.1 for the whole test session."""
    prism = find_prism()
    if prism is None:
        pytest.skip(f"Prism is not installed (needs Node 20 and npm): run `{INSTALL}`")
    if shutil.which("node") is None:
        pytest.skip("Prism needs Node.js, which is not on PATH")
    if not SPEC.is_file():
        pytest.skip(f"OpenAI spec not found at {SPEC}")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(prism), "mock", str(SPEC), "-h", "127.0.0.1", "-p", str(port), "-v", "warn"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "SCARF_ANALYTICS": "false"},
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(base_url):
            if process.poll() is not None:
                pytest.fail(f"Prism exited with {process.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"Prism did not answer within {STARTUP_TIMEOUT_S:g} s:\n{_tail(log)}")
            time.sleep(0.5)
        yield PrismServer(base_url=base_url, pid=process.pid, log=log)
    finally:
        _stop(process)
