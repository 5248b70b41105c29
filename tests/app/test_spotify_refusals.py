"""Refusals that are not a dead token: a 403 and rejected client credentials must not send a
person to sign in again, and must not be mistaken for each other or for a network fault
(both were planted as bugs and went unnoticed; docs/testing.md)."""

from __future__ import annotations

import json

import pytest
from fakes.spotify import Reply, fake_track
from needledrop.spotify import CredentialsRejected, Offline, ReauthNeeded, SourceError


def test_a_403_is_not_a_dead_token(fake, make_source, token_path):
    fake.player = fake_track(title="Still here")
    before = token_path.read_bytes()
    source = make_source()
    fake.script("player", Reply(403, {"error": {"status": 403, "message": "Forbidden"}}))
    with pytest.raises(SourceError) as raised:
        source.poll(now=0.0)
    assert not isinstance(raised.value, ReauthNeeded | CredentialsRejected)
    assert "403" in str(raised.value)
    assert fake.calls_to("token") == []  # no refresh: the token is fine
    assert token_path.read_bytes() == before
    pb = source.poll(now=1.0)  # the next poll asks again, with the same token
    assert pb is not None and pb.item is not None and pb.item.title == "Still here"


def test_rejected_client_credentials_are_not_a_network_fault(fake, make_source, token_path):
    token = json.loads(token_path.read_text())
    token["expires_at"] = 0  # a refresh is due: the client id/secret are checked
    token_path.write_text(json.dumps(token))
    before = token_path.read_bytes()
    with pytest.raises(CredentialsRejected) as raised:
        make_source(client_secret="not-the-secret").poll(now=0.0)
    assert not isinstance(raised.value, Offline | ReauthNeeded)
    assert "SPOTIPY_CLIENT_SECRET" in str(raised.value)
    assert token_path.read_bytes() == before  # the refresh token is not thrown away
    assert fake.calls_to("player") == []
