"""Helpers for the feed's tests: an in-process client and a real ``ledger serve`` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette would rather have the httpx2 fork; the TestClient works the same with httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

__all__ = ["PYTHON", "ROOT", "SERVERS", "TestClient", "free_port", "serve", "subprocess_env"]

#: The process behind each URL :func:`serve` yields (for tests that watch its CPU and memory).
SERVERS: dict[str, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    env.pop("LEDGER_FEED_TOKENS", None)
    env.update(extra)
    return env


def _first_secret(tokens: str) -> str:
    entry = tokens.split(",", maxsplit=1)[0].strip()
    return entry.split(":")[1] if ":" in entry else entry


@contextmanager
def serve(db_url: str, *, heartbeat: float = 0.5, args: Sequence[str] = (),
          stderr_path: Path | None = None, health_token: str | None = None,
          scheme: str = "http", verify: Any = True, **env: str) -> Iterator[str]:
    """Run ``python -m ledger --db URL serve`` on a free loopback port; yield its base URL.

    *args* are more ``serve`` options; the server's stderr (its startup lines and access log)
    goes to *stderr_path* (a temporary file by default, never a pipe that could fill up).
    *health_token* is the secret to ask ``/health`` with (default: the first of
    ``LEDGER_FEED_TOKENS``)."""
    port = free_port()
    log_file = stderr_path or Path(tempfile.mkstemp(prefix="ledger-serve-", suffix=".log")[1])
    err_out = log_file.open("wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "ledger", "--db", db_url, "serve", "--port", str(port),
         "--heartbeat", str(heartbeat), *args],
        env=subprocess_env(**env), stdout=subprocess.DEVNULL, stderr=err_out)
    url = f"{scheme}://127.0.0.1:{port}"
    if health_token is None and env.get("LEDGER_FEED_TOKENS"):
        health_token = _first_secret(env["LEDGER_FEED_TOKENS"])
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                err = log_file.read_text(errors="replace")
                raise RuntimeError(f"ledger serve exited: {err[-2000:]}")
            try:
                headers = {"Authorization": f"Bearer {health_token}"} if health_token else {}
                if httpx.get(f"{url}/health", timeout=1, headers=headers,
                             verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ledger serve did not start within 20 s")
            time.sleep(0.05)
        SERVERS[url] = proc
        yield url
    finally:
        SERVERS.pop(url, None)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err_out.close()
        if stderr_path is None:
            log_file.unlink(missing_ok=True)
