"""spotify_credentials' tags select their tasks, and --check on a fresh display writes nothing."""

from __future__ import annotations

from pathlib import Path

from credentials_harness import Fleet, token_json

VAULT = {
    "vault_spotify_home_client_id": "0123456789abcdef0123456789abcdef",
    "vault_spotify_home_client_secret": "role-test-secret",
    "vault_spotify_home_token": token_json("access-1", "refresh-1"),
    "vault_spotify_home_authorized_at": "2026-10-01",
}


def test_token_tag_writes_only_the_token_and_env_tag_only_the_env_file(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    fleet.write(VAULT)
    token_only = fleet.run("--tags", "spotify_credentials:token")
    assert token_only.rc == 0, token_only.output[-2000:]
    assert fleet.token_file.exists() and not fleet.env_file.exists()
    assert "Check the account's credentials" in token_only.output  # the checks ran first
    env_only = fleet.run("--tags", "spotify_credentials:env")
    assert env_only.rc == 0, env_only.output[-2000:]
    assert fleet.env_file.exists()
    assert "Seed the token cache" not in env_only.output


def test_check_mode_on_a_fresh_display_reports_changes_and_writes_nothing(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)  # the service user's state directory exists (pi_base), no more
    fleet.write(VAULT)
    checked = fleet.run("--check", "--diff")
    assert checked.rc == 0, checked.output[-2000:]
    assert checked.recap["display"]["changed"] >= 3
    assert "the host's token cache was absent" in checked.output
    assert not fleet.env_file.parent.exists()  # not even /etc/needledrop
    assert list(fleet.token_file.parent.iterdir()) == []


def test_a_display_with_a_soon_dying_refresh_token_gets_a_warning(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    fleet.write(VAULT, spotify_credentials_warn_days=400)
    warned = fleet.run()
    assert warned.rc == 0, warned.output[-2000:]
    flat = " ".join(warned.output.split())
    assert (
        "WARNING: Spotify account home signed in on 2026-10-01; its refresh token dies on" in flat
    )
    assert "2027-04-01" in flat
    assert "'ansible-playbook playbooks/reauth.yml -e reauth_account=home'" in flat


def test_a_missing_service_user_is_a_note_in_check_mode_and_a_stop_otherwise(
    tmp_path: Path,
) -> None:
    fleet = Fleet(tmp_path)
    fleet.write(VAULT, spotify_credentials_user="nd-no-such-user")
    checked = fleet.run("--check")
    assert checked.rc == 0, checked.output[-2000:]
    assert checked.recap["display"]["changed"] >= 2
    real = fleet.run()
    assert real.rc == 2
    flat = " ".join(real.output.split())
    assert "User nd-no-such-user or group" in flat and "run pi_base first" in flat
    assert real.recap["display"]["changed"] == 0
    assert not fleet.env_file.exists() and not fleet.token_file.exists()


# The env file as the appliance image's first boot writes it (needledrop.firstboot.apply): the
# same settings as the role's template, its own comment.
FIRSTBOOT_ENV = (
    "# needledrop firstboot: Spotify client credentials (from the boot partition)\n"
    "SPOTIPY_CLIENT_ID={id}\n"
    "SPOTIPY_CLIENT_SECRET={secret}\n"
    "SPOTIPY_REDIRECT_URI=http://127.0.0.1:8888/callback\n"
)


def _firstboot_env(fleet: Fleet, secret: str, mode: int) -> str:
    text = FIRSTBOOT_ENV.format(id=VAULT["vault_spotify_home_client_id"], secret=secret)
    fleet.env_file.parent.mkdir(parents=True, exist_ok=True)
    fleet.env_file.write_text(text)
    fleet.env_file.chmod(mode)
    return text


def test_an_env_file_the_first_boot_wrote_with_the_same_settings_stays(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    fleet.write(VAULT)
    text = _firstboot_env(fleet, VAULT["vault_spotify_home_client_secret"], 0o640)
    run = fleet.run("--tags", "spotify_credentials:env", "--diff")
    assert run.rc == 0, run.output[-2000:]
    assert run.recap["display"]["changed"] == 0, run.output[-3000:]
    assert fleet.env_file.read_text() == text
    assert "client credentials changed" not in run.output  # no restart of the app for it
    # Same settings, wrong mode: the mode is put right, the text stays.
    fleet.env_file.chmod(0o644)
    again = fleet.run("--tags", "spotify_credentials:env")
    assert again.rc == 0, again.output[-2000:]
    assert again.recap["display"]["changed"] == 1
    assert fleet.env_file.stat().st_mode & 0o777 == 0o640
    assert fleet.env_file.read_text() == text


def test_an_env_file_with_another_secret_is_rewritten(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    fleet.write(VAULT)
    _firstboot_env(fleet, "an-old-secret", 0o640)
    run = fleet.run("--tags", "spotify_credentials:env")
    assert run.rc == 0, run.output[-2000:]
    assert run.recap["display"]["changed"] == 1
    text = fleet.env_file.read_text()
    assert "SPOTIPY_CLIENT_SECRET=role-test-secret\n" in text and "Ansible managed" in text
    assert "an-old-secret" not in text
    assert "client credentials changed" in run.output  # the app restarts for it
    assert "role-test-secret" not in run.output  # the comparison showed no secret
