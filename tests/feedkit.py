"""Helpers for the feed's tests: an in-process client and a real ``ledger serve`` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette would rather have the httpx2 fork; the TestClient works the same with httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

__all__ = ["PYTHON", "ROOT", "TestClient", "free_port", "serve", "subprocess_env"]


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


@contextmanager
def serve(db_url: str, *, heartbeat: float = 0.5, **env: str) -> Iterator[str]:
    """Run ``python -m ledger --db URL serve`` on a free loopback port; yield its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "ledger", "--db", db_url, "serve", "--port", str(port),
         "--heartbeat", str(heartbeat)],
        env=subprocess_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"ledger serve exited: {err[-2000:]}")
            try:
                headers = ({"Authorization": f"Bearer {env['LEDGER_FEED_TOKENS'].split(',')[0]}"}
                           if env.get("LEDGER_FEED_TOKENS") else {})
                if httpx.get(f"{url}/health", timeout=1, headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ledger serve did not start within 20 s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
