"""A witness: its own key and state, cosigning only append-only growth (C2SP tlog-witness).

Implements ``add-checkpoint`` and the monitor retrieval of C2SP tlog-witness at commit
``5ba5ee830903e91240fc6f9f3a7a9293d49e69c9`` (tlog-witness v1.0.0 request and status rules),
with Ed25519 ``cosignature/v1`` cosignatures (``ledger.integrity.cosign``). ``sign-subtree``
(optional in the spec) is not offered.

The witness runs in its own process (``ledger witness serve``) with its own Ed25519 key file
and its own state file, so another office (the district) can run it and keep it out of the
town's hands. For every log it witnesses the state holds the log's verifier key and the latest
checkpoint it cosigned (size, root, the note with its cosignature). ``POST /add-checkpoint``:

==========================================  ======  ================================
request                                     status  body
==========================================  ======  ================================
malformed, or old size > checkpoint size    400     a one-line reason
no valid signature by the log's known key   403     a one-line reason
unknown origin                              404     a one-line reason
old size is not the size last cosigned      409     that size and a newline
                                                    (``text/x.tlog.size``)
proof not empty for old size 0, proof does  422     a one-line reason
not verify, or another root at the same
size
all checks pass                             200     the cosignature line(s)
==========================================  ======  ================================

The check of the old size and the update of the state are one atomic step (a lock), and the
state is on disk (written to a temporary file, synced, renamed, the folder synced) before 200
is answered. ``GET /<sha256(origin) hex>/checkpoint`` serves the latest cosigned checkpoint
(404 if none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.integrity import checkpoint as cp
from ledger.integrity import cosign
from ledger.integrity.errors import CheckpointError
from ledger.integrity.merkle import HASH_SIZE, verify_consistency
from ledger.kernel.errors import LedgerError
from ledger.kernel.i18n import _
from ledger.kernel.logs import get_logger

__all__ = ["STATE_FORMAT", "Answer", "Witness", "WitnessError", "make_server"]

log = get_logger("ledger.witness")

STATE_FORMAT = "ledger-witness-state/1"
MAX_BODY = 64 * 1024
"""Largest add-checkpoint request body accepted (a checkpoint, 63 proof lines and signatures
fit in far less)."""
MAX_PROOF_LINES = 63


class WitnessError(LedgerError):
    """Raised when the witness cannot be set up (key, state file, log entry)."""

    code = "witness"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of the witness."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Witness:
    """One witness: a key, a name, a state file (see the module docstring)."""

    def __init__(self, key_file: str | Path | None, state_file: str | Path) -> None:
        """*key_file* may be None for work on the state alone (``add_log``)."""
        self._key = None if key_file is None else cp.load_private_key(key_file)
        self.state_file = Path(state_file)
        self.state = self._load()
        self.name = str(self.state["name"])
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ state
    @staticmethod
    def create(key_file: str | Path, state_file: str | Path, name: str) -> Witness:
        """Make a new witness: its key (unless the file exists) and an empty state."""
        key_path, state_path = Path(key_file), Path(state_file)
        if state_path.exists():
            raise WitnessError(_("{state_path} exists already; a witness keeps its state").format(
                                   state_path=state_path))
        try:
            cp._check_key_name(name)
        except CheckpointError as e:
            raise WitnessError(_("witness name: {e}").format(e=e)) from None
        if not key_path.exists():
            cp.generate_key_file(key_path)
        _write_private(state_path, {"format": STATE_FORMAT, "name": name, "logs": {}})
        return Witness(key_path, state_path)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise WitnessError(_("cannot read the witness state {state_file}: {e}").format(
                                   state_file=self.state_file, e=e)) from None
        if data.get("format") != STATE_FORMAT or not isinstance(data.get("logs"), dict):
            raise WitnessError(_("{state_file} is not a {state_format} file").format(
                                   state_file=self.state_file, state_format=STATE_FORMAT))
        return data  # type: ignore[no-any-return]

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            raise WitnessError(_("the witness's key file is needed for this"))
        return self._key

    @property
    def verifier_key(self) -> str:
        """The witness's verifier key, for the logs' and auditors' policies."""
        return cosign.format_witness_key(self.name, self.key.public_key())

    def add_log(self, origin: str, log_vkey: str, size: int = 0, root: bytes | None = None,
                ) -> None:
        """Witness the log *origin* signed by *log_vkey*, from *size* (default: its start)."""
        name, _key = cp.parse_verifier_key(log_vkey)
        if name != origin:
            raise WitnessError(_("the log key is named {name!r}, not the origin {origin!r}").format(
                                   name=name, origin=origin))
        with self.lock:
            if origin in self.state["logs"]:
                raise WitnessError(_("{origin} is witnessed already").format(origin=origin))
            if size and (root is None or len(root) != HASH_SIZE):
                raise WitnessError(_("a starting size needs its 32-byte root"))
            self.state["logs"][origin] = {
                "key": log_vkey, "size": size,
                "root": _b64(root or hashlib.sha256(b"").digest()), "checkpoint": None}
            _write_private(self.state_file, self.state)

    # ------------------------------------------------------------------ protocol
    def add_checkpoint(self, body: bytes) -> Answer:
        """``POST /add-checkpoint`` (see the module docstring for the status codes)."""
        try:
            text = body.decode("utf-8")
            old_line, rest = text.split("\n", 1)
            proof_text, note = rest.split("\n\n", 1) if not rest.startswith("\n") \
                else ("", rest[1:])
        except (UnicodeDecodeError, ValueError):
            return Answer(400, "malformed request: expected 'old N', proof lines, a blank "
                               "line and the checkpoint\n")
        words = old_line.split(" ")
        if len(words) != 2 or words[0] != "old" or not words[1].isdigit() or \
                (words[1] != "0" and words[1].startswith("0")):
            return Answer(400, "malformed old size line\n")
        old = int(words[1])
        lines = proof_text.split("\n") if proof_text else []
        if len(lines) > MAX_PROOF_LINES:
            return Answer(400, f"more than {MAX_PROOF_LINES} consistency proof lines\n")
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines]
        except (binascii.Error, ValueError):
            return Answer(400, "a consistency proof line is not base64\n")
        if any(len(h) != HASH_SIZE for h in proof):
            return Answer(400, "a consistency proof line is not a 32-byte hash\n")
        try:
            checkpoint, _ = cp.parse_checkpoint(note)
        except CheckpointError as e:
            return Answer(400, f"malformed checkpoint: {e}\n")
        with self.lock:
            entry = self.state["logs"].get(checkpoint.origin)
            if entry is None:
                return Answer(404, f"unknown log {checkpoint.origin}\n")
            key_name, public_key = cp.parse_verifier_key(entry["key"])
            try:
                cp.verify_checkpoint(note, key_name, public_key)
            except CheckpointError as e:
                return Answer(403, f"no valid signature by the log's key: {e}\n")
            if old > checkpoint.size:
                return Answer(400, f"old size {old} is larger than the checkpoint size "
                                   f"{checkpoint.size}\n")
            if old != entry["size"]:
                return Answer(409, f"{entry['size']}\n", "text/x.tlog.size")
            known = base64.b64decode(entry["root"])
            if old == 0 and proof:
                return Answer(422, "a consistency proof from size 0 must be empty\n")
            if old == checkpoint.size and checkpoint.root != known:
                return Answer(422, f"another root at the cosigned size {old}: the log forked\n")
            if 0 < old < checkpoint.size and not verify_consistency(
                    old, checkpoint.size, proof, known, checkpoint.root):
                log.warning("inconsistent checkpoint refused", origin=checkpoint.origin,
                            old=old, size=checkpoint.size)
                return Answer(422, f"the consistency proof from size {old} does not verify: "
                                   "not an append-only extension of what was cosigned\n")
            line = cosign.cosign(checkpoint.body(), self.name, self.key, int(time.time()))
            body_text = cp.parse_note(note)[0]
            entry.update(size=checkpoint.size, root=_b64(checkpoint.root),
                         checkpoint=body_text + "\n" + "".join(
                             s.line() for s in cp.parse_note(note)[1]
                             if s.name == key_name) + line)
            _write_private(self.state_file, self.state)
        log.info("cosigned", origin=checkpoint.origin, size=checkpoint.size)
        return Answer(200, line, "text/x.tlog.cosignature")

    def latest(self, origin_hash: str) -> Answer:
        """``GET /<origin hash>/checkpoint``: the latest cosigned checkpoint of a log."""
        with self.lock:
            for origin, entry in self.state["logs"].items():
                if hashlib.sha256(origin.encode()).hexdigest() == origin_hash.lower():
                    if entry["checkpoint"]:
                        return Answer(200, entry["checkpoint"], "text/plain; charset=utf-8")
                    break
        return Answer(404, "no checkpoint cosigned for that log\n")


class _Handler(BaseHTTPRequestHandler):
    server_version = "ledger-witness"
    timeout = 10  # seconds a client may take to send its request
    witness: Witness

    def _send(self, answer: Answer) -> None:
        data = answer.body.encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/add-checkpoint":
            self._send(Answer(404, "not found\n"))
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(Answer(411, "Content-Length required\n"))
            return
        if not 0 < length <= MAX_BODY:
            self._send(Answer(413, f"request body must be 1 to {MAX_BODY} bytes\n"))
            return
        self._send(self.witness.add_checkpoint(self.rfile.read(length)))

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "checkpoint" and len(parts[0]) == 64:
            self._send(self.witness.latest(parts[0]))
        else:
            self._send(Answer(404, "not found\n"))

    def log_message(self, format: str, *args: Any) -> None:
        log.info("request", client=self.client_address[0], line=format % args)


def make_server(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server answering for *witness* (``serve_forever()`` runs it)."""
    handler = type("WitnessHandler", (_Handler,), {"witness": witness})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
