"""Canary secrets kept in an Ansible Vault never reach the output, even at -vvv --diff.

The secrets travel the way a real fleet keeps them: vault_* values in an encrypted file,
named by plain variables, used by the boards' host vars.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from boardsim import S3, board_host, fat_board, fat_listing, run_playbook

CANARIES = {
    "vault_wifi_password": "canary-wifi-Zq81-passphrase",
    "vault_spotify_client_secret": "canary-secret-Jx42vR",
    "vault_code_leak": "canary-code-AQDp93kT",
}


def _encodings(secret: str) -> set[str]:
    """Forms a careless task could print a secret in."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
        secret.encode().hex(),
    }


def test_vaulted_secrets_stay_out_of_vvv_diff_output(tmp_path: Path) -> None:
    image = fat_board(tmp_path / "board.img", "9.2.1", S3, "C0FFEE123456")
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text("leak-test-password\n")
    group_vars = tmp_path / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    plain = "\n".join(f'{k}: "{v}"' for k, v in CANARIES.items()) + "\n"
    (group_vars / "vault.yml").write_text(plain)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-vault"),
            "encrypt",
            "--vault-id",
            f"fleet@{vault_pass}",
            str(group_vars / "vault.yml"),
        ],
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    assert "canary" not in (group_vars / "vault.yml").read_text()
    (group_vars / "vars.yml").write_text(
        'wifi_password: "{{ vault_wifi_password }}"\n'
        'spotify_client_secret: "{{ vault_spotify_client_secret }}"\n'
    )
    host = board_host(
        circuitpython_drive_paths=[str(image)],
        circuitpython_uid="C0FFEE123456",
        circuitpython_wifi_password="{{ wifi_password }}",
        circuitpython_spotify_client_secret="{{ spotify_client_secret }}",
        circuitpython_spotify_code="{{ vault_code_leak }}",
    )
    args = ("-vvv", "--diff", "--vault-id", f"fleet@{vault_pass}")
    first = run_playbook(tmp_path, {"leaky": host}, args=args)
    second = run_playbook(tmp_path, {"leaky": host}, args=args)

    for run in (first, second):  # a run that stopped early would leak less: both ran through
        assert run.rc == 0 and run.recap["leaky"]["failed"] == 0, run.output[-3000:]
    written = fat_listing(image)["settings.toml"].decode()
    for name, secret in CANARIES.items():
        assert secret in written, f"{name} did not reach the board, so this test proves nothing"
    for run in (first, second):
        assert "ansible-playbook" in run.output and "<leaky>" in run.output  # really -vvv
        for secret in CANARIES.values():
            for form in _encodings(secret):
                assert form not in run.output, f"{form!r} leaked"
