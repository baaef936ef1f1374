"""DSSE (protocol v1.0.0, JSON envelope v1.0.2): the specification's own test vector, and the
codec of ledger.integrity.dsse by property."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.integrity import dsse

# protocol.md, "Test Vectors" (secure-systems-lab/dsse, protocol v1.0.0).
VECTOR_ENVELOPE = {
    "payload": "aGVsbG8gd29ybGQ=",
    "payloadType": "http://example.com/HelloWorld",
    "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcI"
                           "AriEGAHTVeCUjW2JIZA=="}],
}
VECTOR_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
D = 97358161215184420915383655311931858321456579547487070936769975997791359926199


def test_the_specifications_test_vector_passes() -> None:
    env = dsse.parse_envelope(json.dumps(VECTOR_ENVELOPE))
    assert env.payload == b"hello world"
    assert env.signatures[0][0] == ""  # an unset keyid is the same as an empty one
    assert dsse.pae(env.payload_type, env.payload) == VECTOR_PAE
    # The vector's key: ECDSA P-256, SHA-256, signature as raw r || s.
    private = ec.derive_private_key(D, ec.SECP256R1())
    assert (private.public_key().public_numbers().x, private.public_key().public_numbers().y) \
        == (X, Y)
    public = ec.EllipticCurvePublicNumbers(X, Y, ec.SECP256R1()).public_key()
    raw = env.signatures[0][1]
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                     int.from_bytes(raw[32:], "big"))
    public.verify(der, dsse.pae(env.payload_type, env.payload), ec.ECDSA(hashes.SHA256()))
    try:  # and not over the bare payload: the signature binds the type
        public.verify(der, env.payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pass
    else:  # pragma: no cover
        raise AssertionError("the signature must be over PAE, not the payload")


def test_url_safe_base64_is_accepted() -> None:
    payload = bytes(range(250, 256)) * 3  # base64 with + and /
    std = base64.b64encode(payload).decode()
    url = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert "+" in std or "/" in std
    for text in (std, url):
        env = dsse.parse_envelope({"payload": text, "payloadType": "t", "signatures": []})
        assert env.payload == payload


@given(st.binary(max_size=300), st.text(min_size=1, max_size=40))
def test_pae_is_length_prefixed(body: bytes, payload_type: str) -> None:
    t = payload_type.encode()
    assert dsse.pae(payload_type, body) == b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " \
        + str(len(body)).encode() + b" " + body


KEY = Ed25519PrivateKey.generate()


@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_changed_byte_breaks_the_signature(body: bytes, data: st.DataObject) -> None:
    env = dsse.sign_command(KEY, body)
    roundtrip = dsse.parse_envelope(json.dumps(env.to_json()))
    assert roundtrip == env
    assert dsse.verify_signature(KEY.public_key(), roundtrip, roundtrip.signatures[0][1])
    i = data.draw(st.integers(0, len(body) - 1))
    flipped = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
    changed = dsse.Envelope(env.payload_type, flipped, env.signatures)
    assert not dsse.verify_signature(KEY.public_key(), changed, env.signatures[0][1])
    retyped = dsse.Envelope("application/json", body, env.signatures)
    assert not dsse.verify_signature(KEY.public_key(), retyped, env.signatures[0][1])


def test_malformed_envelopes_name_the_member() -> None:
    cases = {
        '{"payloadType": "t", "signatures": []}': "'payload' is missing",
        '{"payload": "!!", "payloadType": "t", "signatures": []}': "'payload' is not valid base64",
        '{"payload": "", "payloadType": "t", "signatures": [{}]}': "'signatures[0].sig'",
        '{"payload": "", "payloadType": 1, "signatures": []}': "'payloadType' must be text",
        "[1]": "must be a JSON object",
    }
    for text, message in cases.items():
        with pytest.raises(dsse.EnvelopeError) as caught:
            dsse.parse_envelope(text)
        assert message in str(caught.value), (text, str(caught.value))


def test_key_ids_are_derived_from_the_key() -> None:
    public = dsse.public_key_b64(KEY.public_key())
    kid = dsse.key_id_for("ed25519", public)
    assert kid.startswith("ed25519:") and len(kid) == len("ed25519:") + 16
    assert kid != dsse.key_id_for("ed25519", dsse.public_key_b64(
        Ed25519PrivateKey.generate().public_key()))
