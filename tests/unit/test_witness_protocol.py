"""The witness protocol (C2SP tlog-witness add-checkpoint) and cosignatures (tlog-cosignature
v1.0.1, Ed25519), against request and response examples written from the spec texts."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity import checkpoint as cp
from ledger.integrity import cosign
from ledger.integrity.merkle import consistency_proof, leaf_hash, root
from ledger.integrity.witness import Witness

LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ORIGIN = "example.com/behind-the-sofa"
LEAVES = [leaf_hash(bytes([i])) for i in range(40)]


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


def _note(size: int, leaves: list[bytes] = LEAVES, key: Ed25519PrivateKey = LOG_KEY) -> str:
    return cp.sign_checkpoint(cp.Checkpoint(ORIGIN, size, root(leaves[:size])), ORIGIN, key)


def _request(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    w = Witness.create(tmp_path / "w.key", tmp_path / "w.json", "witness.example/w1")
    w.add_log(ORIGIN, cp.format_verifier_key(ORIGIN, LOG_KEY.public_key()))
    return w


def test_the_signed_message_is_the_spec_layout() -> None:
    body = f"{ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosign.cosigned_message(body, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + body.encode())


def test_key_id_and_signature_line_follow_the_spec() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    name = "witness.example.com/w1"
    expected_id = hashlib.sha256(name.encode() + b"\n\x04" + _raw(key)).digest()[:4]
    assert cosign.cosigner_key_id(name, key.public_key()) == expected_id
    body = _note(5).split("\n\n")[0] + "\n"
    line = cosign.cosign(body, name, key, 1679315147)
    assert line.startswith(f"\u2014 {name} ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == expected_id
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)
    key.public_key().verify(raw[12:], b"cosignature/v1\ntime 1679315147\n" + body.encode())
    vkey = cosign.format_witness_key(name, key.public_key())
    assert vkey.split("+")[1] == expected_id.hex()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert cosign.parse_witness_key(vkey)[0] == name


def test_first_submission_from_old_zero_is_cosigned_and_persisted(witness: Witness,
                                                                 tmp_path: Path) -> None:
    answer = witness.add_checkpoint(_request(0, [], _note(10)))
    assert answer.status == 200
    assert answer.content_type == "text/x.tlog.cosignature"
    assert answer.body.startswith("\u2014 witness.example/w1 ") and answer.body.endswith("\n")
    again = Witness(tmp_path / "w.key", tmp_path / "w.json")  # restarted: state kept
    assert again.state["logs"][ORIGIN]["size"] == 10
    policy = cosign.parse_policy(f"witness w1 {witness.verifier_key}\nquorum 1\n")
    assert cosign.check_quorum(_note(10) + answer.body, policy, ORIGIN,
                               LOG_KEY.public_key()) == ["w1"]
    monitor = witness.latest(hashlib.sha256(ORIGIN.encode()).hexdigest())
    assert monitor.status == 200 and answer.body in monitor.body


def test_growth_with_a_consistency_proof_is_cosigned(witness: Witness) -> None:
    witness.add_checkpoint(_request(0, [], _note(10)))
    proof = consistency_proof(LEAVES[:25], 10)
    assert witness.add_checkpoint(_request(10, proof, _note(25))).status == 200


def test_a_stale_old_size_gets_409_with_the_size_as_text(witness: Witness) -> None:
    witness.add_checkpoint(_request(0, [], _note(10)))
    answer = witness.add_checkpoint(_request(0, [], _note(25)))
    assert (answer.status, answer.body, answer.content_type) == (409, "10\n", "text/x.tlog.size")


def test_an_unknown_origin_is_404(witness: Witness) -> None:
    other = cp.sign_checkpoint(cp.Checkpoint("other.example/log", 3, root(LEAVES[:3])),
                               "other.example/log", LOG_KEY)
    assert witness.add_checkpoint(_request(0, [], other)).status == 404


def test_a_checkpoint_not_signed_by_the_logs_key_is_403(witness: Witness) -> None:
    stolen = Ed25519PrivateKey.generate()
    assert witness.add_checkpoint(_request(0, [], _note(10, key=stolen))).status == 403


@pytest.mark.parametrize("body", [
    b"old 5\n\n",                               # no checkpoint
    b"old x\n\nexample\n",                      # not a number
    b"old 05\n\n" + _note(10).encode(),         # leading zero
    b"old 3\nnot base64!\n\n" + _note(10).encode(),
    b"\xff\xfe",
])
def test_malformed_requests_are_400(witness: Witness, body: bytes) -> None:
    assert witness.add_checkpoint(body).status == 400


def test_old_size_beyond_the_checkpoint_is_400(witness: Witness) -> None:
    assert witness.add_checkpoint(_request(12, [], _note(10))).status == 400


def test_inconsistent_proofs_and_forks_are_422_and_change_nothing(witness: Witness) -> None:
    witness.add_checkpoint(_request(0, [], _note(10)))
    before = dict(witness.state["logs"][ORIGIN])
    rewritten = [leaf_hash(b"forged"), *LEAVES[1:]]
    forged_note = _note(25, rewritten)
    honest_proof = consistency_proof(LEAVES[:25], 10)
    assert witness.add_checkpoint(_request(10, honest_proof, forged_note)).status == 422
    assert witness.add_checkpoint(_request(10, consistency_proof(rewritten[:25], 10),
                                           forged_note)).status == 422
    same_size_fork = _note(10, rewritten)
    assert witness.add_checkpoint(_request(10, [], same_size_fork)).status == 422
    assert witness.add_checkpoint(_request(0, [LEAVES[0]], _note(10))).status in (409, 422)
    assert witness.state["logs"][ORIGIN] == before


def test_a_proof_from_zero_must_be_empty(tmp_path: Path) -> None:
    w = Witness.create(tmp_path / "k", tmp_path / "s.json", "witness.example/w2")
    w.add_log(ORIGIN, cp.format_verifier_key(ORIGIN, LOG_KEY.public_key()))
    assert w.add_checkpoint(_request(0, [LEAVES[0]], _note(10))).status == 422


@pytest.mark.parametrize(("text", "message"), [
    ("quorum 1\n", "lists no witness"),
    ("witness a {vk}\n", "no 'quorum K'"),
    ("witness a {vk}\nquorum 2\n", "between 1 and the 1"),
    ("witness a {vk}\nwitness b {vk}\nquorum 1\n", "listed twice"),
    ("witness a {vk} ftp://x\nquorum 1\n", "http"),
    ("log x\nquorum 1\n", "unknown item 'log'"),
    ("witness a {logvk}\nquorum 1\n", "not an Ed25519 cosigner key"),
])
def test_bad_policies_name_the_line_and_the_fault(text: str, message: str) -> None:
    vk = cosign.format_witness_key("w.example/a", Ed25519PrivateKey.generate().public_key())
    logvk = cp.format_verifier_key(ORIGIN, LOG_KEY.public_key())
    with pytest.raises(cosign.WitnessPolicyError, match=message):
        cosign.parse_policy(text.format(vk=vk, logvk=logvk))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), data=st.data())
def test_the_quorum_counts_distinct_listed_witnesses_with_valid_cosignatures(
        n: int, data: st.DataObject) -> None:
    keys = [Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32) for i in range(n)]
    names = [f"w{i}.example" for i in range(n)]
    quorum = data.draw(st.integers(1, n))
    signing = data.draw(st.sets(st.integers(0, n - 1)))
    policy = cosign.parse_policy("".join(
        f"witness {nm} {cosign.format_witness_key(nm, k.public_key())}\n"
        for nm, k in zip(names, keys, strict=True)) + f"quorum {quorum}\n")
    note = _note(7)
    body = note.split("\n\n")[0] + "\n"
    for i in sorted(signing):
        note += cosign.cosign(body, names[i], keys[i], 1700000000)
        note += cosign.cosign(body, names[i], keys[i], 1700000001)  # a second one counts once
    if len(signing) >= quorum:
        assert sorted(cosign.check_quorum(note, policy, ORIGIN, LOG_KEY.public_key())) == \
            sorted(names[i] for i in signing)
    else:
        with pytest.raises(cosign.WitnessPolicyError, match=f"{quorum} needed"):
            cosign.check_quorum(note, policy, ORIGIN, LOG_KEY.public_key())
