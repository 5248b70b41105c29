"""playbooks/reauth.yml -e reauth_board=NAME on a board's FAT image: the sign-in runs on the
controller (a browser stand-in follows the authorize URL to the loopback listener), the new
one-time CODE goes into the vault (same vault id, other variables unchanged) and into the
board's settings.toml; the board client then trades it and drops the tokens of the old CODE
(test_token_store). --check changes nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from boardsim import S3, board_host, fat_board, fat_listing
from circuitpython_settings import parse
from fakes.spotify import FakeSpotify

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "playbooks"))
from reauth_harness import OTHER_VAULT, Browser, Display, decrypt  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def test_a_board_gets_a_new_code_in_the_vault_and_in_settings_toml(tmp_path: Path) -> None:
    with FakeSpotify() as fake:
        fleet = Display(tmp_path, fake)
        fleet.write(fake.grant(), authorized_at=1790000000)
        image = fat_board(tmp_path / "board.img", "9.2.1", S3, "C1B2C3D4E5F6")
        board = board_host(
            circuitpython_drive_paths=[str(image)],
            circuitpython_spotify_client_id="{{ vault_spotify_home_client_id }}",
            circuitpython_spotify_code="{{ vault_circuitpython_code_kitchen_board }}",
            circuitpython_spotify_redirect_uri=fleet.redirect_uri,
            reauth_accounts_url=fake.url,
        )
        (tmp_path / "inventory" / "hosts.yml").write_text(  # a board instead of the display
            yaml.safe_dump({"boards": {"hosts": {"kitchen-board": board}}})
        )
        _add_vault_var(fleet, "vault_circuitpython_code_kitchen_board", "code-used-up")

        vault_before = fleet.vault_file.read_bytes()
        checked = fleet.run("--check", "-e", "reauth_board=kitchen-board")
        assert checked.rc == 0, checked.output[-3000:]
        assert fleet.vault_file.read_bytes() == vault_before
        assert "settings.toml" not in fat_listing(image)

        browser = Browser(fake.authorize_url)
        run = fleet.run("-e", "reauth_board=kitchen-board", browser=browser)
        assert run.rc == 0, run.output[-4000:]
        code = parse_qs(urlsplit(browser.landed[0]).query)["code"][0]
        assert code not in run.output

        vault = decrypt(fleet.vault_file, fleet.password_file)
        assert vault["vault_circuitpython_code_kitchen_board"] == code
        assert fleet.vault_file.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;fleet\n")
        for key, value in OTHER_VAULT.items():
            assert vault[key] == value, key
        settings = parse(fat_listing(image)["settings.toml"])
        assert settings["CIRCUITSPOTIFY_CODE"] == code
        assert code in fake.codes  # unused: the board trades it on its next start
        assert "kitchen-board" in run.output and "new CODE in settings.toml" in run.output


def _add_vault_var(fleet: Display, name: str, value: str) -> None:
    import subprocess

    from credentials_harness import BIN

    plain = decrypt(fleet.vault_file, fleet.password_file)
    plain[name] = value
    fleet.vault_file.write_text(yaml.safe_dump(plain))
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", "--vault-id", f"fleet@{fleet.password_file}"]
        + [str(fleet.vault_file)],
        check=True,
        capture_output=True,
    )
