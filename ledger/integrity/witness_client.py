"""Sending a signed checkpoint to the witnesses of a policy (C2SP tlog-witness
``add-checkpoint``, the client's side) and gathering their cosignatures.

For each witness with a URL: ``POST <url>/add-checkpoint`` with ``old <size>``, the RFC 9162
consistency proof from that size, a blank line and the note. The size to start from is the
caller's hint (the size the signer last signed); a ``409`` answer carries the size the witness
last cosigned, and the request is sent once more from there. A ``200`` answer's lines are kept
only if they are valid cosignatures by that witness's key in the policy.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from ledger.integrity import checkpoint as cp
from ledger.integrity import cosign
from ledger.integrity.errors import CheckpointError

__all__ = ["Refusal", "submit_all"]

TIMEOUT = httpx.Timeout(10.0, connect=2.0)


@dataclass(frozen=True)
class Refusal:
    """A witness that gave no cosignature: its name, the HTTP status (None when it could not
    be reached) and what it said."""

    witness: str
    status: int | None
    message: str

    @property
    def refused(self) -> bool:
        """True when the witness answered and said no (not merely unreachable)."""
        return self.status is not None

    def __str__(self) -> str:
        how = f"HTTP {self.status}" if self.status is not None else "unreachable"
        return f"{self.witness}: {how}: {self.message}"


def _request(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def _submit(client: httpx.Client, witness: cosign.PolicyWitness, note: str, body: str,
            hint: int, size: int, proof_for: Callable[[int], list[bytes]],
            ) -> str | Refusal:
    old = min(hint, size)
    for _attempt in range(2):
        try:
            response = client.post(f"{witness.url}/add-checkpoint",
                                   content=_request(old, proof_for(old) if old else [], note))
        except httpx.HTTPError as e:
            return Refusal(witness.name, None, f"{type(e).__name__}: {e}")
        if response.status_code == 409 and response.text.strip().isdigit():
            said = int(response.text.strip())
            if said > size:
                return Refusal(witness.name, 409, f"it has cosigned size {said}, larger than "
                               f"{size}: the log was rolled back")
            old = said
            continue
        if response.status_code != 200:
            return Refusal(witness.name, response.status_code, response.text.strip()[:300])
        lines = [line + "\n" for line in response.text.split("\n") if line]
        for line in lines:
            try:
                _, [signature] = cp.parse_note("x\n\n" + line)
                if cosign.verify_cosignature(body, signature, witness.key_name,
                                             witness.public_key) is not None:
                    return line
            except (CheckpointError, ValueError):
                continue
        return Refusal(witness.name, 200, "its answer holds no valid cosignature by its key")
    return Refusal(witness.name, 409, "its size changed while the checkpoint was sent")


_CLIENTS: dict[bool, httpx.Client] = {}


def _client(tls: bool) -> httpx.Client:
    """One HTTP client per process (a signer on a cadence reuses its connections). Loading the
    trust store takes tens of milliseconds, so it is loaded only when a witness is on https."""
    client = _CLIENTS.get(tls)
    if client is None:
        context = ssl.create_default_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client = _CLIENTS[tls] = httpx.Client(timeout=TIMEOUT, verify=context)
    return client


def submit_all(note: str, policy: cosign.Policy, old_size_hint: int,
               proof_for: Callable[[int], list[bytes]]) -> tuple[str, list[Refusal]]:
    """Send *note* to every witness of *policy* with a URL (in parallel); return the note
    with the cosignature lines gathered, and the witnesses that gave none."""
    checkpoint, _ = cp.parse_checkpoint(note)
    body = checkpoint.body()
    targets = [w for w in policy.witnesses if w.url]
    if not targets:
        return note, []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        client = _client(any(w.url and w.url.startswith("https://") for w in targets))
        answers = list(pool.map(lambda w: _submit(client, w, note, body, old_size_hint,
                                                  checkpoint.size, proof_for), targets))
    lines = [a for a in answers if isinstance(a, str)]
    refusals = [a for a in answers if isinstance(a, Refusal)]
    return note + "".join(lines), refusals
