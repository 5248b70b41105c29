"""The loopback fake itself: what other tests (boards over TLS, the re-auth playbook) rely on."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fakes.spotify import FakeSpotify, Reply, fake_track


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def basic(fake: FakeSpotify) -> dict[str, str]:
    raw = f"{fake.client_id}:{fake.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_serves_the_player_over_tls_when_given_a_context(tmp_path):
    cert, key = self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with FakeSpotify(ssl_context=ctx) as fake:
        assert fake.url.startswith("https://127.0.0.1:")
        token = fake.grant()
        fake.player = fake_track(title="Over TLS")
        r = requests.get(
            fake.api_url + "me/player/currently-playing",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            verify=str(cert),
            timeout=10,
        )
        assert r.status_code == 200
        assert r.json()["item"]["name"] == "Over TLS"
        assert "device" not in r.json()  # currently-playing has no device
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(fake.api_url + "me/player", timeout=10)  # untrusted without the CA


def authorize(fake: FakeSpotify, redirect: str, state: str) -> str:
    r = requests.get(
        fake.authorize_url,
        params={"client_id": fake.client_id, "redirect_uri": redirect, "state": state},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(redirect + "?") and f"state={state}" in location
    return location.split("code=")[1].split("&")[0]


def test_authorization_code_grant_is_single_use_and_bound_to_the_redirect():
    with FakeSpotify() as fake:
        redirect = "http://127.0.0.1:9/callback"
        code = authorize(fake, redirect, "s1")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
        ok = requests.post(fake.token_url, data=form, headers=basic(fake), timeout=10)
        assert ok.status_code == 200 and ok.json()["refresh_token"].startswith("rt-")
        again = requests.post(fake.token_url, data=form, headers=basic(fake), timeout=10)
        assert again.json()["error"] == "invalid_grant"
        other = authorize(fake, redirect, "s2")
        elsewhere = {**form, "code": other, "redirect_uri": "http://127.0.0.1:10/x"}
        wrong = requests.post(fake.token_url, data=elsewhere, headers=basic(fake), timeout=10)
        assert wrong.json()["error"] == "invalid_grant"


def test_localhost_redirect_is_refused_like_spotify_does():
    with FakeSpotify() as fake:
        r = requests.get(
            fake.authorize_url,
            params={"client_id": fake.client_id, "redirect_uri": "http://localhost:9/cb"},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 400


def test_refresh_rejects_wrong_client_and_revoked_tokens():
    with FakeSpotify() as fake:
        rt = fake.grant()["refresh_token"]
        form = {"grant_type": "refresh_token", "refresh_token": rt}
        bad = requests.post(
            fake.token_url, data={**form, "client_id": "x", "client_secret": "y"}, timeout=10
        )
        assert bad.json()["error"] == "invalid_client"
        assert requests.post(fake.token_url, data=form, headers=basic(fake), timeout=10).ok
        fake.revoke(rt)
        dead = requests.post(fake.token_url, data=form, headers=basic(fake), timeout=10)
        assert dead.json()["error"] == "invalid_grant"


def test_scripted_replies_come_first_and_every_call_is_recorded():
    with FakeSpotify() as fake:
        fake.check_access_token = False
        fake.player = fake_track()
        fake.script("player", Reply(503), Reply(429, headers={"Retry-After": "9"}))
        statuses = [
            requests.get(fake.api_url + "me/player", timeout=10).status_code for _ in range(3)
        ]
        assert statuses == [503, 429, 200]
        assert [c.status for c in fake.calls_to("player")] == statuses
        assert fake.pending("player") == 0
