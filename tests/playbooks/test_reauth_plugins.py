"""The controller-side pieces of playbooks/reauth.yml on their own: editing an encrypted vault
(only the named variables change, in meaning and on disk; the same vault id; nothing left over
when writing fails) and reading a sign-in's redirect (the pasted address, the state check)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOP = Path(__file__).resolve().parents[2]


def _plugin(name: str, kind: str = "action_plugins") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TOP / "playbooks" / kind / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


vault_update = _plugin("spotify_vault_update")
signin = _plugin("spotify_signin")

SECRET = VaultSecret(b"fleet-password")
VAULT = VaultLib([("fleet", SECRET)])

names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
scalars = st.one_of(text, st.integers(-(10**12), 10**12), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    others=st.dictionaries(names, values, min_size=1, max_size=8),
    new=st.dictionaries(names, text, min_size=1, max_size=3),
)
def test_editing_changes_the_named_variables_and_nothing_else(others, new) -> None:
    original = {**others, **{k: "old" for k in new}}
    plain = "---\n# the fleet's secrets\n" + yaml.safe_dump(original, allow_unicode=True)
    edited, changed = vault_update.edit_plaintext(plain, new, "vault.yml")
    after = yaml.safe_load(edited)
    assert after == {**original, **new}
    assert set(changed) == {k for k, v in new.items() if v != "old"}
    assert "# the fleet's secrets" in edited


def _vault_file(tmp_path: Path, data: dict, vault_id: str | None = "fleet") -> Path:
    path = tmp_path / "vault.yml"
    path.write_bytes(VAULT.encrypt("---\n" + yaml.safe_dump(data), SECRET, vault_id=vault_id))
    path.chmod(0o640)
    return path


@pytest.mark.parametrize("vault_id", ["fleet", None])
def test_the_vault_is_encrypted_again_with_its_own_id_and_mode(tmp_path, vault_id) -> None:
    path = _vault_file(tmp_path, {"vault_a": "1", "vault_b": [1, 2]}, vault_id)
    header = path.read_bytes().split(b"\n", 1)[0]
    changed = vault_update.update_vault(path, {"vault_a": "2"}, VAULT, check=False)
    assert changed == ["vault_a"]
    assert path.read_bytes().split(b"\n", 1)[0] == header
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert yaml.safe_load(VAULT.decrypt(path.read_bytes())) == {"vault_a": "2", "vault_b": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.yml"]


def test_check_mode_and_unchanged_values_write_nothing(tmp_path) -> None:
    path = _vault_file(tmp_path, {"vault_a": "1"})
    before = path.read_bytes()
    assert vault_update.update_vault(path, {"vault_a": "2"}, VAULT, check=True) == ["vault_a"]
    assert vault_update.update_vault(path, {"vault_a": "1"}, VAULT, check=False) == []
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("wrong_password", "Cannot decrypt"),
        ("unknown_name", "has no vault_c: point reauth_vault_file"),
        ("plain_file", "is not an ansible-vault encrypted file"),
        ("replace_fails", None),
    ],
)
def test_a_failed_edit_leaves_the_file_byte_identical_and_no_temporary(
    tmp_path, monkeypatch, case, expect
) -> None:
    path = _vault_file(tmp_path, {"vault_a": "1"})
    vault, values = VAULT, {"vault_a": "2"}
    if case == "wrong_password":
        vault = VaultLib([("fleet", VaultSecret(b"wrong"))])
    elif case == "unknown_name":
        values = {"vault_a": "2", "vault_c": "3"}
    elif case == "plain_file":
        path.write_text("vault_a: '1'\n")
    before = path.read_bytes()
    if case == "replace_fails":

        def fail(*args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", fail)
        with pytest.raises(OSError):
            vault_update.update_vault(path, values, vault, check=False)
    else:
        with pytest.raises(vault_update.VaultEditError, match=expect):
            vault_update.update_vault(path, values, vault, check=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.yml"]


# --- the redirect --------------------------------------------------------------------------


@given(code=st.from_regex(r"[A-Za-z0-9_-]{1,80}", fullmatch=True), state=st.text(min_size=1))
def test_the_pasted_address_or_its_query_gives_the_code_back(code, state) -> None:
    from urllib.parse import urlencode

    query = urlencode({"code": code, "state": state})
    for pasted in (
        f"http://127.0.0.1:8888/callback?{query}",
        f"  https://open.spotify.com/?{query}\n",
        query,
    ):
        assert signin.check_redirected(signin.parse_redirected(pasted), state, "home") == code


@given(state=st.text(min_size=1), other=st.text())
def test_any_other_state_is_refused(state, other) -> None:
    if other == state:
        return
    got = {"code": "c", "state": other, "error": None}
    with pytest.raises(signin.SigninError, match="state does not match"):
        signin.check_redirected(got, state, "home")


def test_a_redirect_without_a_code_or_with_an_error_is_refused() -> None:
    with pytest.raises(signin.SigninError, match="press Agree"):
        signin.check_redirected({"error": "access_denied", "state": "s"}, "s", "home")
    with pytest.raises(signin.SigninError, match="carries no code"):
        signin.check_redirected({"code": None, "state": "s", "error": None}, "s", "home")


@pytest.mark.parametrize(
    "uri",
    ["https://open.spotify.com/", "http://localhost:8888/callback", "http://127.0.0.1/callback"],
)
def test_only_a_loopback_redirect_with_a_port_is_listened_on(uri) -> None:
    with pytest.raises(signin.SigninError, match="reauth_paste=true"):
        signin.loopback(uri)


def test_the_paste_fallback_trades_the_code_from_the_pasted_address() -> None:
    sys.path.insert(0, str(TOP / "tests"))
    import requests
    from fakes.spotify import FakeSpotify

    with FakeSpotify() as fake:
        redirect = "http://127.0.0.1:9/callback"  # nothing listens: the person pastes
        url = signin.authorize_url(fake.url, fake.client_id, redirect, "st4te")
        landed = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
        code = signin.check_redirected(signin.parse_redirected(landed), "st4te", "home")
        token = signin.exchange(
            fake.url, fake.client_id, fake.client_secret, redirect, code, "home", now=1000.0
        )
        assert token["refresh_token"] in fake.refresh_tokens
        assert token["expires_at"] == 1000 + token["expires_in"]
        assert set(token) <= {
            "access_token",
            "token_type",
            "expires_in",
            "scope",
            "expires_at",
            "refresh_token",
        }
        json.dumps(token)
        with pytest.raises(signin.SigninError, match="a code works once"):
            signin.exchange(
                fake.url, fake.client_id, fake.client_secret, redirect, code, "home", now=1.0
            )
        with pytest.raises(signin.SigninError, match="invalid_client"):
            signin.exchange(fake.url, fake.client_id, "wrong", redirect, "c", "home", now=1.0)


# --- the table -----------------------------------------------------------------------------

table = _plugin("reauth", "filter_plugins")


@pytest.mark.parametrize(
    ("row", "before", "after"),
    [
        (
            {
                "status": {"reauth_needed": True},
                "renewed": True,
                "after_rc": 0,
                "signed_in": "2026-11-30T01:00:00Z",
            },
            "re-auth needed",
            "healthy, signed in 2026-11-30",
        ),
        (
            {
                "status": {
                    "token": {
                        "expiry_warning": True,
                        "days_left": 9,
                        "refresh_token_expires_about": "2026-12-09T10:00:00Z",
                    }
                },
                "renewed": True,
                "after_rc": 1,
            },
            "expires 2026-12-09 (9 days)",
            "NOT healthy",
        ),
        ({"status": {"healthy": True}}, "healthy", "unchanged"),
        ({"status": {}, "chosen": True, "check_mode": True}, "no status", "would sign in again"),
        ({"status": {"healthy": False}, "chosen": True}, "not healthy", "not signed in"),
    ],
)
def test_each_display_gets_a_line_saying_before_and_after(row, before, after) -> None:
    lines = table.reauth_table([{"host": "kitchen", "account": "home", **row}]).splitlines()
    assert lines[0].split() == ["host", "account", "before", "after"]
    assert lines[1].startswith("kitchen") and " home " in lines[1]
    assert before in lines[1] and lines[1].endswith(after)


def test_a_board_gets_its_own_line() -> None:
    lines = table.reauth_table([{"host": "matrixportal", "board": True}]).splitlines()
    assert lines[1].split()[:2] == ["matrixportal", "board"]
    assert lines[1].endswith("new CODE in settings.toml")
