"""The spotify_credentials role's filter (account checks) and module (token seed decisions)."""

from __future__ import annotations

import grp
import importlib.util
import json
import os
import pwd
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

ROLE = Path(__file__).resolve().parents[2] / "roles" / "spotify_credentials"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC).timestamp()


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


F = _load("spotify_credentials_filter", ROLE / "filter_plugins" / "spotify_credentials.py")
M = _load("spotify_token_seed", ROLE / "library" / "spotify_token_seed.py")

TOKEN = {
    "access_token": "acc-1",
    "token_type": "Bearer",
    "expires_in": 3600,
    "scope": "user-read-playback-state",
    "expires_at": 1790000000,
    "refresh_token": "ref-1",
}


def account(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "client_id": "0123456789abcdef",
        "client_secret": "sec-ret",
        "redirect_uri": "http://127.0.0.1:8888/callback",
        "token": json.dumps(TOKEN),
        "authorized_at": "2026-10-01",
    }
    base.update(over)
    return base


def check(accounts: object, name: str = "") -> dict:
    return F.spotify_credentials_account(accounts, name, now=NOW)


# --- the filter: redirect URIs --------------------------------------------------------------

ports = st.integers(min_value=1, max_value=65535)
paths = st.from_regex(r"/[a-z]{0,10}", fullmatch=True)


@given(host=st.sampled_from(["127.0.0.1", "[::1]"]), port=ports, path=paths)
def test_loopback_http_redirect_with_a_port_is_accepted(host: str, port: int, path: str) -> None:
    assert F.redirect_uri_problem(f"http://{host}:{port}{path}") is None


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5}){0,2}", fullmatch=True).filter(
        lambda h: h != "localhost"
    ),
    port=ports,
)
def test_http_redirect_off_loopback_is_refused_and_https_accepted(host: str, port: int) -> None:
    problem = F.redirect_uri_problem(f"http://{host}:{port}/callback")
    assert problem and "loopback" in problem and "https" in problem
    assert F.redirect_uri_problem(f"https://{host}:{port}/callback") is None


@given(scheme=st.sampled_from(["http", "https"]), port=st.one_of(st.none(), ports))
def test_localhost_redirect_is_refused_with_the_loopback_fix(scheme: str, port: int | None) -> None:
    uri = f"{scheme}://localhost{':' + str(port) if port else ''}/callback"
    problem = F.redirect_uri_problem(uri)
    assert problem and "localhost" in problem
    assert f"http://127.0.0.1:{port or 8888}/callback" in problem


def test_loopback_http_without_a_port_is_refused() -> None:
    assert "needs a port" in F.redirect_uri_problem("http://127.0.0.1/callback")


# --- the filter: sign-in dates --------------------------------------------------------------

signin_days = st.dates(min_value=date(2010, 1, 1), max_value=date(2026, 11, 29))


@given(day=signin_days)
def test_sign_in_date_in_every_accepted_form_gives_the_same_epoch(day: date) -> None:
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    forms = [day, day.isoformat(), f"{day.isoformat()}T00:00:00Z", midnight, str(midnight)]
    assert {F.parse_authorized_at(f, NOW) for f in forms} == {midnight}


@given(text=st.text(min_size=1, max_size=20).filter(lambda t: not t.strip().isdigit()))
def test_sign_in_date_that_is_not_a_date_is_refused(text: str) -> None:
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        assume(False)  # an ISO date-time: accepted on purpose
    except ValueError:
        pass
    result = F.parse_authorized_at(text, NOW)
    assert isinstance(result, str) and "date" in result


def test_sign_in_date_in_the_future_is_refused() -> None:
    tomorrow = datetime.fromtimestamp(NOW, UTC) + timedelta(days=3)
    assert "future" in F.parse_authorized_at(tomorrow.date().isoformat(), NOW)


# --- the filter: accounts -------------------------------------------------------------------


def test_the_only_account_is_the_default_and_comes_back_normalised() -> None:
    result = check({"home": account()})
    assert result["problems"] == []
    assert result["name"] == "home"
    token = result["account"]["token"]
    assert token == {**TOKEN, "authorized_at": 1790812800}
    assert result["authorized_on"] == "2026-10-01"
    assert result["refresh_token_dies_on"] == "2027-04-01"
    assert result["days_left"] == 122


def test_a_token_as_yaml_dict_and_a_missing_redirect_work_too() -> None:
    result = check({"home": account(token=dict(TOKEN), redirect_uri=None)})
    assert result["problems"] == []
    assert result["account"]["redirect_uri"] == "http://127.0.0.1:8888/callback"


def test_several_accounts_need_spotify_account() -> None:
    result = check({"home": account(), "studio": account()})
    assert "set spotify_account" in result["problems"][0]
    assert "home, studio" in result["problems"][0]


def test_an_unknown_account_name_lists_the_known_ones() -> None:
    (problem,) = check({"home": account()}, "attic")["problems"]
    assert "'attic'" in problem and "(home)" in problem


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"token": "{not json"}, "token is not valid JSON"),
        (
            {"token": json.dumps({k: v for k, v in TOKEN.items() if k != "refresh_token"})},
            "token has no refresh_token",
        ),
        ({"token": json.dumps([1])}, "token must be the spotipy .cache JSON object"),
        ({"token": ""}, "token is missing"),
        ({"authorized_at": "last spring"}, "authorized_at is not a date"),
        ({"authorized_at": None}, "authorized_at is missing"),
        (
            {"redirect_uri": "http://192.168.1.5:8888/callback"},
            "redirect_uri may use http only on a loopback",
        ),
        ({"client_secret": ""}, "client_secret is missing"),
        ({"client_id": "ab cd"}, "client_id holds blanks"),
    ],
)
def test_each_bad_field_is_named_with_its_fix(over: dict, needle: str) -> None:
    problems = check({"home": account(**over)})["problems"]
    assert len(problems) == 1
    assert problems[0].startswith("spotify_accounts.home.")
    assert needle in problems[0]


secrets = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=12,
    max_size=40,
)


@given(secret=secrets, cut=st.integers(min_value=1, max_value=60))
def test_problems_never_quote_a_secret(secret: str, cut: int) -> None:
    broken = json.dumps({**TOKEN, "access_token": secret, "refresh_token": secret})[:cut]
    problems = check({"home": account(client_secret=secret, token=broken)})["problems"]
    assert problems
    assert not any(secret in p for p in problems)


# --- the module: what to do with the host's copy ---------------------------------------------

access = st.text(min_size=1, max_size=30)
expiry = st.integers(min_value=1_600_000_000, max_value=2_000_000_000)
vault_token = {**TOKEN, "authorized_at": 1790812800}


@given(acc=access, exp=expiry)
def test_a_token_the_app_refreshed_is_kept(acc: str, exp: int) -> None:
    host = {**vault_token, "access_token": acc, "expires_at": exp}
    action, new, reason = M.decide(host, None, vault_token, False)
    assert (action, new) == ("keep", None)


@given(
    acc=access,
    exp=expiry,
    other=st.text(min_size=1, max_size=30).filter(lambda r: r != "ref-1"),
    signed=st.one_of(st.none(), st.integers(min_value=0, max_value=2_000_000_000)),
)
def test_another_authorisation_in_the_vault_replaces_the_host_copy(
    acc: str, exp: int, other: str, signed: int | None
) -> None:
    assume(signed != vault_token["authorized_at"])
    host = {**vault_token, "access_token": acc, "expires_at": exp, "refresh_token": other}
    host["authorized_at"] = signed
    action, new, reason = M.decide(host, None, vault_token, False)
    assert action == "write" and new == vault_token and "another authorisation" in reason
    forced = M.decide({**vault_token, "access_token": acc}, None, vault_token, True)
    assert forced[0] == "write" and forced[1] == vault_token and "forced" in forced[2]


@given(acc=access, exp=expiry, rotated=st.text(min_size=1, max_size=30))
def test_a_refresh_token_the_app_got_on_refresh_is_kept(acc: str, exp: int, rotated: str) -> None:
    """Same sign-in time, another refresh token: Spotify rotated it; the host's is live."""
    host = {**vault_token, "access_token": acc, "expires_at": exp, "refresh_token": rotated}
    action, new, reason = M.decide(host, None, vault_token, False)
    assert (action, new) == ("keep", None)


def test_a_new_sign_in_date_keeps_the_refreshed_access_token() -> None:
    host = {**TOKEN, "access_token": "fresh", "authorized_at": 1}
    action, new, _ = M.decide(host, None, vault_token, False)
    assert action == "update_authorized_at"
    assert new == {**TOKEN, "access_token": "fresh", "authorized_at": 1790812800}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "absent"),
        (b'{"access_token": "x", "refr', "corrupt (not JSON)"),
        (b"[]", "corrupt (not a JSON object)"),
        (json.dumps({**TOKEN, "refresh_token": ""}).encode(), "corrupt (no refresh token)"),
        (json.dumps({"refresh_token": "r"}).encode(), "corrupt (no access token or expiry)"),
        (b"\xff\xfe", "corrupt (not JSON)"),
    ],
)
def test_an_absent_or_corrupt_host_file_is_replaced(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "token.json"
    if content is not None:
        path.write_bytes(content)
    host, found = M.read_host(str(path))
    assert host is None and found == problem
    action, new, reason = M.decide(host, found, vault_token, False)
    assert action == "write" and new == vault_token and problem in reason


# --- the module, run as Ansible runs it ------------------------------------------------------


def run_module(
    tmp_path: Path, check_mode: bool = False, diff: bool = False, **args: object
) -> dict:
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    params = {"owner": me, "group": group, "account": "home", **args}
    params["_ansible_check_mode"] = check_mode
    params["_ansible_diff"] = diff
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    done = subprocess.run(
        [sys.executable, str(ROLE / "library" / "spotify_token_seed.py"), str(argfile)],
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def test_module_writes_0600_atomically_and_says_why_without_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "spotify-token.json"
    secret = {**vault_token, "access_token": "canary-acc-91", "refresh_token": "canary-ref-17"}
    checked = run_module(
        tmp_path, check_mode=True, diff=True, path=str(path), token=json.dumps(secret)
    )
    assert checked["changed"] and not path.exists()
    result = run_module(tmp_path, diff=True, path=str(path), token=json.dumps(secret))
    assert result["changed"] and "absent" in result["reason"]
    assert json.loads(path.read_text()) == secret
    assert (path.stat().st_mode & 0o7777) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    shown = json.dumps(result) + json.dumps(checked)
    assert "canary" not in shown
    assert "refresh token: #" in result["diff"]["after"]


def test_module_keeps_a_refreshed_token_and_fixes_only_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "spotify-token.json"
    refreshed = {**vault_token, "access_token": "newer", "expires_at": 1799999999}
    path.write_text(json.dumps(refreshed))
    path.chmod(0o644)
    result = run_module(tmp_path, path=str(path), token=json.dumps(vault_token))
    assert (
        result["changed"] and result["action"] == "keep" and "owner/mode fixed" in result["reason"]
    )
    assert json.loads(path.read_text()) == refreshed
    assert (path.stat().st_mode & 0o7777) == 0o600
    again = run_module(tmp_path, path=str(path), token=json.dumps(vault_token))
    assert not again["changed"]


# --- the example inventory --------------------------------------------------------------------


def test_example_displays_each_name_an_account_that_passes_the_checks() -> None:
    top = ROLE.parents[1]
    example = top / "inventory" / "example"
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "displays", "-i", str(example / "hosts.yml")]
        + ["--vault-id", f"fleet@{example / 'vault-password.example'}"]
        + ["-m", "ansible.builtin.debug", "-a"]
        + [
            "msg='ACCOUNT {{ inventory_hostname }} {{ r.name }} {{ r.problems | length }}'",
            "-e",
            "r={{ spotify_accounts | spotify_credentials_account(spotify_account) }}",
        ],
        cwd=top,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(top / "ansible.cfg"),
            "ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins"),
        },
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    found = set(re.findall(r"ACCOUNT (\S+) (\S+) (\d+)", shown.stdout))
    assert found == {("kitchen", "home", "0"), ("hall", "studio", "0")}


@pytest.mark.parametrize("expires_at", [0, 1])
def test_a_long_expired_access_token_is_a_token_to_refresh(expires_at: int) -> None:
    result = check({"demo": account(token=json.dumps({**TOKEN, "expires_at": expires_at}))})
    assert result["problems"] == []
    assert result["account"]["token"]["expires_at"] == expires_at


def test_a_token_without_expires_at_is_refused_by_name() -> None:
    token = json.dumps({k: v for k, v in TOKEN.items() if k != "expires_at"})
    (problem,) = check({"demo": account(token=token)})["problems"]
    assert "lacks expires_at" in problem
