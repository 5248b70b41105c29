"""Every message the Spotify source gives the status file, the journal and the screen is one
readable line without URL query strings or tokens, whatever Spotify (through real spotipy,
against the loopback fake) put in its answer: line breaks, control characters, URLs, tokens."""

from __future__ import annotations

import json
import re
import string
import unicodedata

import pytest
from fakes.spotify import Reply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from needledrop.spotify import Offline, SourceError, one_line, spotify_said

TOKENS = hs.text(string.ascii_letters + string.digits + "-_", min_size=40, max_size=120)
BREAKS = hs.sampled_from(["\n", "\r\n", "\r", "\u2028", "\x85", "\x00", "\t", "\x1b[31m", "\v"])
URLS = hs.builds(
    lambda tok, path: f"https://api.spotify.com/v1/{path}?access_token={tok}&market=DE",
    TOKENS,
    hs.sampled_from(["me/player", "me", ""]),
)
MESSAGES = hs.lists(hs.one_of(hs.text(max_size=30), BREAKS, URLS, TOKENS), max_size=8).map("".join)
PROFILE = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_one_readable_line(text: str, *secrets: str) -> None:
    assert text == text.strip() and "  " not in text, repr(text)
    odd = [c for c in text if unicodedata.category(c)[0] in "CZ" and c != " "]
    assert not odd, repr(text)  # no line breaks, tabs, escapes, invisible characters
    assert not re.search(r"://\S*[?#]", text), repr(text)  # no query string
    assert "access_token=" not in text and "market=" not in text
    for secret in secrets:
        assert secret not in text, repr(text)


def tokens_in(message: str) -> list[str]:
    return [w for w in message.replace("=", " ").replace("&", " ").split() if len(w) >= 40]


@PROFILE
@given(message=MESSAGES)
def test_a_403_is_one_line_without_spotipys_url_or_tokens(fake, make_source, token_path, message):
    fake.script("player", Reply(403, {"error": {"status": 403, "message": message}}))
    with pytest.raises(Offline) as raised:
        make_source().poll(now=0.0)
    said = str(raised.value)
    assert said.startswith("Spotify refused the request (403): ")
    assert len(said) <= len("Spotify refused the request (403): ") + 80
    access = json.loads(token_path.read_text())["access_token"]
    assert_one_readable_line(said, access, fake.api_url + "me/player", *tokens_in(message))


@PROFILE
@given(body=hs.one_of(MESSAGES.map(str.encode), hs.binary(max_size=60)))
def test_a_403_without_a_json_body_is_one_line_too(fake, make_source, body):
    fake.script("player", Reply(403, body))
    with pytest.raises(Offline) as raised:
        make_source().poll(now=0.0)
    assert_one_readable_line(str(raised.value), fake.api_url)
    assert str(raised.value).startswith("Spotify ")


@PROFILE
@given(error=MESSAGES)
def test_an_accounts_error_code_is_one_line(fake, make_source, token_path, error):
    token = json.loads(token_path.read_text())
    token["expires_at"] = 0  # spotipy refreshes before asking: the token endpoint answers
    token_path.write_text(json.dumps(token))
    fake.script("token", Reply(400, {"error": error, "error_description": error}))
    with pytest.raises(SourceError) as raised:
        make_source().poll(now=0.0)
    assert_one_readable_line(str(raised.value), token["refresh_token"], *tokens_in(error))


@given(text=MESSAGES)
def test_every_source_error_is_one_line_whatever_goes_in(text):
    said = str(SourceError(f"Spotify token cache /var/lib/x{text} is missing."))
    assert_one_readable_line(said)
    assert said == one_line(said)  # and stays so


def test_spotipys_url_line_is_dropped_and_the_message_kept():
    raw = "https://api.spotify.com/v1/me/player?additional_types=episode:\n Player command failed"
    assert spotify_said(raw, 80) == "Player command failed"
    assert spotify_said("x" * 30 + " " + "y" * 100, 20) == "x" * 19 + "…"
