"""playbooks/reauth.yml end to end on the loopback fake Spotify: a display whose refresh token
died (invalid_grant → reauth-needed.json) is found, its account signed in through the loopback
redirect (a browser stand-in follows the authorize URL), the vault updated under the same vault
id with every other variable unchanged, the token pushed, and the same app process healthy on
it; --check changes nothing; bad input stops with one sentence and a byte-identical vault."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from credentials_harness import BIN, VAULT_PASSWORD
from fakes.spotify import FakeSpotify, fake_track
from reauth_harness import OTHER_VAULT, Browser, Display, decrypt

pytestmark = pytest.mark.timeout(300)


def _dead(root: Path, **fake_kw: str) -> Iterator[Display]:
    """A display that showed music, then lost its sign-in (Spotify answers invalid_grant)."""
    with FakeSpotify(**fake_kw) as fake:
        fake.player = fake_track(progress_ms=1000)
        display = Display(root, fake)
        display.write(fake.grant(), authorized_at=int(time.time()) - 170 * 86400)
        display.start_app()
        try:
            display.wait_for("healthy", lambda d: d.get("healthy"))
            fake.revoke()  # the user removed the app / 6 months passed
            display.wait_for("said re-auth needed", lambda d: d.get("reauth_needed"))
            assert display.marker.exists()
            yield display
        finally:
            display.stop_app()


@pytest.fixture
def dead(tmp_path: Path) -> Iterator[Display]:
    yield from _dead(tmp_path)


@pytest.fixture(scope="module")
def still_dead(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Display]:
    """One dead display for the runs that must leave it as it is (each test checks it did)."""
    yield from _dead(tmp_path_factory.mktemp("still-dead"))


def test_one_command_signs_in_updates_the_vault_and_heals_the_display(dead: Display) -> None:
    pid = dead.proc.pid
    vault_before = dead.vault_file.read_bytes()
    old_token = json.loads(dead.token_file.read_text())

    browser = Browser(dead.fake.authorize_url)
    run = dead.run(browser=browser)
    assert run.rc == 0, run.output[-4000:]
    assert len(browser.landed) == 1 and browser.landed[0].startswith(dead.redirect_uri)

    # The vault: same vault id, the account's two entries new, everything else the same.
    raw = dead.vault_file.read_bytes()
    assert raw != vault_before and raw.startswith(b"$ANSIBLE_VAULT;1.2;AES256;fleet\n")
    vault = decrypt(dead.vault_file, dead.password_file)
    new_token = json.loads(vault["vault_spotify_home_token"])
    assert new_token["refresh_token"] in dead.fake.refresh_tokens
    assert new_token["refresh_token"] != old_token["refresh_token"]
    assert vault["vault_spotify_home_authorized_at"] > "2026-06-01T10:00:00Z"
    assert vault["vault_spotify_home_client_secret"] == dead.fake.client_secret
    for key, value in OTHER_VAULT.items():
        assert vault[key] == value, key
    assert "# Secrets of the test fleet." in _plaintext(dead)

    # The display: the new token, healthy, the marker gone, the same process (no restart).
    on_host = json.loads(dead.token_file.read_text())
    assert on_host["refresh_token"] == new_token["refresh_token"]
    doc = dead.status()
    assert doc["healthy"] and not doc["reauth_needed"] and not dead.marker.exists()
    assert doc["pid"] == pid and dead.proc.poll() is None
    assert doc["token"]["expiry_warning"] is False and doc["token"]["days_left"] >= 181

    # The other account's display: not touched, and the table says so.
    studio = dead.root / "studio" / "token.json"
    assert studio.read_text() == OTHER_VAULT["vault_spotify_studio_token"]
    assert re.search(r"studio-display\s+studio\s+no status\s+unchanged", run.output)

    table = run.output[run.output.index("host ") :]
    assert "display" in table and "home" in table and "re-auth needed" in table
    assert "healthy, signed in " + time.strftime("%Y-%m-%d", time.gmtime()) in table

    # A second run finds nothing to do and changes nothing.
    again = dead.run()
    assert again.rc == 0, again.output[-3000:]
    assert "Nothing to renew" in again.output
    assert dead.vault_file.read_bytes() == raw


def test_the_paste_fallback_works_without_a_listener(dead: Display) -> None:
    landed: list[str] = []

    def browser_elsewhere(output: str) -> str | None:
        if "Paste that whole address here" not in output:
            return None
        url = re.search(re.escape(dead.fake.authorize_url) + r"\?\S+", output)
        assert url is not None, output[-2000:]
        answer = requests.get(url.group(0), allow_redirects=False, timeout=10)
        landed.append(answer.headers["Location"])
        return landed[0]

    run = dead.run_at_terminal("-e", "reauth_paste=true", answer=browser_elsewhere)
    assert run.rc == 0, run.output[-4000:]
    assert landed and landed[0].startswith(dead.redirect_uri)
    new = json.loads(decrypt(dead.vault_file, dead.password_file)["vault_spotify_home_token"])
    assert json.loads(dead.token_file.read_text())["refresh_token"] == new["refresh_token"]
    assert dead.status()["healthy"]
    code = parse_qs(urlsplit(landed[0]).query)["code"][0]
    assert code not in run.output.replace(landed[0], "")  # only the pasted echo holds it


def _plaintext(display: Display) -> str:
    return subprocess.run(
        [str(BIN / "ansible-vault"), "view", "--vault-id", f"fleet@{display.password_file}"]
        + [str(display.vault_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_check_mode_reports_the_account_and_changes_nothing(still_dead: Display) -> None:
    dead = still_dead
    vault = dead.vault_file.read_bytes()
    token = dead.token_file.read_bytes()
    run = dead.run("--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert "Sign in again: home (displays: display)" in run.output
    assert "would sign in again" in run.output
    assert dead.fake.calls_to("authorize") == []
    assert dead.vault_file.read_bytes() == vault and dead.token_file.read_bytes() == token
    assert dead.status()["reauth_needed"]


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("wrong_state", "state does not match"),
        ("denied", "did not authorize account home (access_denied"),
        ("port_in_use", "Cannot listen on 127.0.0.1 port"),
        ("code_used", "refused the authorization code of account home (invalid_grant"),
        ("wrong_password", "Decryption failed"),
    ],
)
def test_bad_input_stops_with_one_sentence_and_leaves_the_vault_alone(
    still_dead: Display, case: str, expect: str
) -> None:
    dead = still_dead
    vault = dead.vault_file.read_bytes()
    token = dead.token_file.read_bytes()
    browser = Browser(dead.fake.authorize_url)
    blocker = None
    if case == "wrong_state":
        browser.tweak = lambda url: url.replace("state=", "state=x")
    elif case == "denied":
        dead.fake.deny_authorization = True
    elif case == "port_in_use":
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        blocker.bind(("127.0.0.1", dead.port))
        blocker.listen()
    elif case == "code_used":

        def spend(url: str) -> str:  # someone (a replay) traded the code before we could
            code = parse_qs(urlsplit(url).query)["code"][0]
            form = {"grant_type": "authorization_code", "code": code}
            auth = (dead.fake.client_id, dead.fake.client_secret)
            requests.post(
                dead.fake.token_url,
                data={**form, "redirect_uri": dead.redirect_uri},
                auth=auth,
                timeout=10,
            ).raise_for_status()
            return url

        browser.tweak = spend
    elif case == "wrong_password":
        dead.password_file.write_text("not the password\n")
    try:
        run = dead.run(browser=browser)
    finally:
        if blocker is not None:
            blocker.close()
        dead.fake.deny_authorization = False
        dead.password_file.write_text(VAULT_PASSWORD + "\n")
    assert run.rc != 0
    assert expect in run.output, run.output[-3000:]
    assert "Traceback" not in run.output
    assert dead.vault_file.read_bytes() == vault
    assert dead.token_file.read_bytes() == token
    assert sorted(p.name for p in dead.vault_file.parent.iterdir()) == ["vars.yml", "vault.yml"]
    assert dead.status()["reauth_needed"]


CANARY_SECRET = "canarysecretRe4uTh7q"


@pytest.fixture
def dead_canary(tmp_path: Path) -> Iterator[Display]:
    yield from _dead(tmp_path, client_secret=CANARY_SECRET)


def test_no_secret_reaches_the_output_or_a_stray_file_at_vvv_diff(dead_canary: Display) -> None:
    dead = dead_canary
    old = json.loads(dead.token_file.read_text())
    browser = Browser(dead.fake.authorize_url)
    run = dead.run("-vvv", "--diff", browser=browser)
    assert run.rc == 0, run.output[-3000:]
    assert "<display>" in run.output and "ansible-playbook" in run.output  # really -vvv
    new = json.loads(decrypt(dead.vault_file, dead.password_file)["vault_spotify_home_token"])
    code = parse_qs(urlsplit(browser.landed[0]).query)["code"][0]
    secrets = [CANARY_SECRET, code, OTHER_VAULT["vault_wifi_password"]]
    secrets += [t[k] for t in (old, new) for k in ("access_token", "refresh_token")]
    assert [s for s in secrets if s in run.output] == []
    # The secrets did land where they belong, so the clean output proves something.
    assert json.loads(dead.token_file.read_text())["refresh_token"] == new["refresh_token"]
    intended = {dead.token_file, dead.host / "spotify.env"}
    scanned = 0
    for path in dead.root.rglob("*"):
        if path.is_file() and path not in intended:
            scanned += 1
            text = path.read_bytes().decode("utf-8", "replace")
            assert [s for s in secrets if s in text] == [], f"{path} holds a secret"
            assert "vault_spotify_home_token" not in text or path.name == "vars.yml", path
    assert scanned >= 5


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Display]:
    """A healthy display whose sign-in ends in 5 days (inside the 14-day warning window)."""
    with FakeSpotify() as fake:
        fake.player = fake_track(progress_ms=1000)
        display = Display(tmp_path_factory.mktemp("expiring"), fake)
        display.write(fake.grant(), authorized_at=int(time.time()) - 177 * 86400)
        display.start_app()
        try:
            display.wait_for("healthy", lambda d: d.get("healthy"))
            yield display
        finally:
            display.stop_app()


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        ((), "Sign in again: home (displays: display)"),
        (("-e", "reauth_account=home"), "Sign in again: home (displays: display)"),
    ],
)
def test_an_account_inside_its_warning_window_or_named_is_chosen(
    expiring: Display, extra: tuple[str, ...], expect: str
) -> None:
    doc = expiring.status()
    assert doc["healthy"] and doc["token"]["expiry_warning"] and doc["token"]["days_left"] == 4
    run = expiring.run("--check", *extra)
    assert run.rc == 0, run.output[-3000:]
    assert expect in run.output
    assert "expires " in run.output and "(4 days)" in run.output  # the table's before column


def test_an_unknown_account_name_stops_before_anything(expiring: Display) -> None:
    vault = expiring.vault_file.read_bytes()
    run = expiring.run("-e", "reauth_account=garage")
    assert run.rc != 0
    assert "reauth_account names garage, which spotify_accounts does not define" in run.output
    assert "fix -e reauth_account" in run.output
    assert expiring.fake.calls_to("authorize") == []
    assert expiring.vault_file.read_bytes() == vault


def test_nothing_is_chosen_while_every_sign_in_is_young(tmp_path: Path) -> None:
    with FakeSpotify() as fake:
        fake.player = fake_track(progress_ms=1000)
        display = Display(tmp_path, fake)
        display.write(fake.grant(), authorized_at=int(time.time()) - 30 * 86400)
        display.start_app()
        try:
            display.wait_for("healthy", lambda d: d.get("healthy"))
            run = display.run()
        finally:
            display.stop_app()
    assert run.rc == 0, run.output[-3000:]
    assert "Nothing to renew" in run.output and fake.calls_to("authorize") == []
