"""settings.toml writer: every value round-trips through CircuitPython's TOML subset."""

from __future__ import annotations

import string
import tomllib

import pytest
from circuitpython_settings import (
    BEGIN_MARK,
    SettingsError,
    escape_string,
    merge,
    parse,
    render_block,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# Any Unicode string CircuitPython can hold: no NUL (C strings end there), no lone surrogates.
representable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=300,
)
keys = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,40}\Z")
ssids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=32,
).filter(lambda s: len(s.encode()) <= 32)
passwords = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    min_size=8,
    max_size=63,
)


def settings_for(secret: str, ssid: str, password: str) -> dict:
    return {
        "CIRCUITSPOTIFY_CLIENT_ID": "0123456789abcdef",
        "CIRCUITSPOTIFY_CLIENT_SECRET": secret,
        "CIRCUITSPOTIFY_CODE": secret[::-1],
        "CIRCUITPY_WIFI_SSID": ssid,
        "CIRCUITPY_WIFI_PASSWORD": password,
        "NEEDLEDROP_PANEL_WIDTH": 64,
    }


@settings(max_examples=300, deadline=None, database=None)
@given(secret=representable, ssid=ssids, password=passwords)
def test_any_ssid_password_and_secret_round_trip_through_circuitpython_subset(
    secret, ssid, password
):
    wanted = settings_for(secret, ssid, password)
    content, dropped = merge(None, wanted)
    assert dropped == []
    assert content.endswith(b"\n"), "8.x reads a last value without newline as an error"
    assert content.isascii(), "non-ASCII goes out as \\u escapes"
    assert parse(content) == wanted
    # The same bytes are valid TOML to a full parser, with the same values.
    assert tomllib.loads(content.decode()) == wanted


@settings(max_examples=200, deadline=None, database=None)
@given(key=keys, value=representable)
def test_any_string_under_any_bare_key_round_trips(key, value):
    content, _ = merge(None, {key: value})
    assert parse(content)[key] == value


@settings(database=None)
@given(value=st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_integers_round_trip(value):
    content, _ = merge(None, {"NEEDLEDROP_X": value})
    assert parse(content) == {"NEEDLEDROP_X": value}


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "lone \ud800 surrogate", 1.5, True, None, ["a"], 2**31, -(2**31) - 1],
)
def test_values_circuitpython_cannot_hold_are_refused(value):
    with pytest.raises(SettingsError):
        render_block({"SOME_KEY": value})


@pytest.mark.parametrize("key", ["", "1ABC", "HAS SPACE", "dotted.key", 'q"uote', "ümlaut", "a=b"])
def test_keys_that_are_not_bare_words_are_refused(key):
    with pytest.raises(SettingsError, match="bare word"):
        render_block({key: "x"})


def test_ssid_longer_than_32_bytes_is_refused_naming_the_limit():
    with pytest.raises(SettingsError, match="at most 32 bytes"):
        render_block({"CIRCUITPY_WIFI_SSID": "é" * 17})  # 34 bytes, 17 characters
    render_block({"CIRCUITPY_WIFI_SSID": "é" * 16})


@pytest.mark.parametrize("password", ["short", "x" * 64, "tab\there!", "pässwörter"])
def test_bad_wifi_passwords_are_refused_without_echoing_them(password):
    with pytest.raises(SettingsError) as err:
        render_block({"CIRCUITPY_WIFI_PASSWORD": password})
    assert password not in str(err.value)
    assert "8 to 63" in str(err.value)


def test_64_hex_digit_psk_is_accepted():
    psk = string.hexdigits[:16] * 4
    content, _ = merge(None, {"CIRCUITPY_WIFI_PASSWORD": psk})
    assert parse(content)["CIRCUITPY_WIFI_PASSWORD"] == psk
    assert psk in render_block({"CIRCUITPY_WIFI_PASSWORD": psk})


def test_escapes_quotes_backslashes_and_non_ascii():
    assert escape_string("K", 'a"b\\c') == '"a\\"b\\\\c"'
    assert escape_string("K", "œ\n😀") == '"\\u0153\\u000a\\U0001f600"'


USER_FILE = b"""# my own notes
CIRCUITPY_WIFI_SSID = "old network"   # the user set this by hand before
MY_OWN_KEY = "keep me"
CIRCUITPY_WEB_API_PORT = 8080

[subtable]
subvalue = "ignored by getenv"
"""


def test_merge_keeps_user_keys_and_tables_and_drops_lines_overriding_managed_keys():
    wanted = {"CIRCUITPY_WIFI_SSID": "new network", "CIRCUITSPOTIFY_CODE": "abc"}
    content, dropped = merge(USER_FILE, wanted)
    assert dropped == ["CIRCUITPY_WIFI_SSID"]
    parsed = parse(content)
    assert parsed == {
        "CIRCUITPY_WIFI_SSID": "new network",
        "CIRCUITSPOTIFY_CODE": "abc",
        "MY_OWN_KEY": "keep me",
        "CIRCUITPY_WEB_API_PORT": 8080,
    }
    text = content.decode()
    assert text.startswith(BEGIN_MARK)
    assert "# my own notes" in text and '[subtable]\nsubvalue = "ignored by getenv"\n' in text
    assert tomllib.loads(text)["subtable"] == {"subvalue": "ignored by getenv"}


@settings(max_examples=100, deadline=None, database=None)
@given(secret=representable, ssid=ssids, password=passwords)
def test_merge_is_idempotent_and_replaces_its_own_block(secret, ssid, password):
    first, _ = merge(USER_FILE, settings_for(secret, ssid, password))
    assert merge(first, settings_for(secret, ssid, password))[0] == first
    changed, dropped = merge(first, settings_for(secret + "x", ssid, password))
    assert dropped == []
    assert parse(changed)["CIRCUITSPOTIFY_CLIENT_SECRET"] == secret + "x"
    assert changed.count(BEGIN_MARK.encode()) == 1


def test_a_key_removed_from_the_inventory_leaves_the_managed_block():
    first, _ = merge(None, {"CIRCUITPY_WEB_API_PASSWORD": "hunter22", "A": "1"})
    second, _ = merge(first, {"A": "1"})
    assert "CIRCUITPY_WEB_API_PASSWORD" not in parse(second)


def test_parser_models_circuitpython_errors():
    parsed = parse(b'A = "unterminated\nB = 12 # c\nC = "x" junk\nD = nope\nE = "end"')
    assert isinstance(parsed["A"], ValueError)
    assert parsed["B"] == 12
    assert isinstance(parsed["C"], ValueError)
    assert isinstance(parsed["D"], ValueError)
    assert isinstance(parsed["E"], ValueError), "no newline at end of file"
