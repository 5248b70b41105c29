"""The board client's NVM token storage, in-process (no server)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[2] / "roles" / "circuitpython"

_spec = importlib.util.spec_from_file_location(
    "needledrop_spotify", ROLE / "files" / "board" / "needledrop_spotify.py"
)
client = importlib.util.module_from_spec(_spec)
sys.modules["needledrop_spotify"] = client
_spec.loader.exec_module(client)


class FixedNVM:
    """microcontroller.nvm: fixed length, slice writes keep the length."""

    def __init__(self, size=8192):
        self.data = bytearray(b"\xff" * size)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]

    def __setitem__(self, index, value):
        start, stop, _ = index.indices(len(self.data))
        if len(value) != stop - start:
            raise ValueError("Slice and value different lengths.")
        self.data[index] = value


@pytest.mark.parametrize(
    ("access_len", "refresh_len"), [(208, 131), (19, 19), (400, 250), (0, 131)]
)
def test_tokens_of_any_length_round_trip(access_len, refresh_len):
    nvm = FixedNVM()
    store = client.TokenStore(nvm)
    store.save("a" * access_len, "r" * refresh_len, "the-code")
    loaded = client.TokenStore(nvm).load()
    assert loaded["access"] == "a" * access_len and loaded["refresh"] == "r" * refresh_len
    assert loaded["code_mark"] == client.fnv1a(b"the-code") and not loaded["reauth"]


def test_damaged_record_reads_as_no_tokens():
    nvm = FixedNVM()
    client.TokenStore(nvm).save("access", "refresh", "code")
    nvm.data[14] ^= 0x01
    assert client.TokenStore(nvm).load() is None


def test_tokens_too_long_for_nvm_are_refused_not_truncated():
    store = client.TokenStore(FixedNVM(size=64))
    with pytest.raises(ValueError, match="too long"):
        store.save("a" * 40, "r" * 40, "code")


def test_a_refresh_token_circuitspotify_left_is_picked_up():
    nvm = FixedNVM()
    nvm[0:339] = b"A" * 208 + b"R" * 131  # CircuitSpotify's fixed slots
    store = client.TokenStore(nvm)
    assert store.load() is None
    assert store.legacy_refresh_token() == "R" * 131
    sc = client.SpotifyClient(session=None, store=store, getenv=lambda k: None, log=lambda m: None)
    assert sc._record["refresh"] == "R" * 131 and sc._record["access"] == ""


def test_erased_nvm_has_no_legacy_token():
    assert client.TokenStore(FixedNVM()).legacy_refresh_token() is None
