"""``ledger serve --tls-cert --tls-key``: HTTPS with HSTS, over loopback with a real server and
a certificate made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger.application import GovernanceLedger
from tests.conftest import sunny_garden
from tests.feedkit import PYTHON, serve, subprocess_env


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledger.zhuanqiao.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_the_feed_serves_https_with_hsts(sqlite_url: str, tmp_path: Path) -> None:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    led.close()
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    log = tmp_path / "serve.log"
    with serve(sqlite_url, args=["--tls-cert", str(cert), "--tls-key", str(key)],
               scheme="https", verify=trust, stderr_path=log,
               LEDGER_FEED_TOKENS="credit:credit-secret-1:read:events") as url:
        assert url.startswith("https://")
        with httpx.Client(base_url=url, verify=trust) as c:
            r = c.get("/events?limit=1", headers={"Authorization": "Bearer credit-secret-1"})
            assert r.status_code == 200
            assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
            refused = c.get("/events")
            assert refused.status_code == 401 and "strict-transport-security" in refused.headers
        # Plain HTTP to the TLS port gets no answer; an untrusting client refuses the server.
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https://", "http://") + "/health", timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=5)
    assert "TLS on" in log.read_text()


def test_a_certificate_without_its_key_is_a_usage_error(sqlite_url: str, tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    done = subprocess.run([PYTHON, "-m", "ledger", "--db", sqlite_url, "serve", "--tls-cert",
                           str(cert)], env=subprocess_env(), capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2 and "--tls-cert and --tls-key go together" in done.stderr
