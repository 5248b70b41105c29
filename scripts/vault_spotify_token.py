#!/usr/bin/env python3
r"""Put a Spotify sign-in into the fleet's vault: the .cache from `needledrop auth` and its date.

    .venv/bin/python scripts/vault_spotify_token.py \
        --vault inventory/mine/group_vars/all/vault.yml \
        --account home --cache spotify-token.json [--signed-in 2026-11-29] [--client]

Writes vault_spotify_<account>_token (the cache as one line of JSON) and
vault_spotify_<account>_authorized_at into the encrypted vault file (created if absent),
keeping every other variable and comment. --client also asks (without echo) for the app's
client id and secret. No secret goes on the command line, into the output or onto disk
unencrypted. The vault password comes from --vault-id (default: $ANSIBLE_VAULT_IDENTITY_LIST,
else fleet@prompt). Exit code 2 for a problem the user can fix.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROLE = Path(__file__).resolve().parents[1] / "roles" / "spotify_credentials"


class UserError(Exception):
    """One sentence for the user; exit code 2."""


def _checks():
    spec = importlib.util.spec_from_file_location(
        "spotify_credentials_filter", ROLE / "filter_plugins" / "spotify_credentials.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vault(vault_id: str):
    from ansible.cli import CLI
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib

    secrets = CLI.setup_vault_secrets(DataLoader(), [vault_id], initialize_context=False)
    if not secrets:
        raise UserError(f"No vault password from --vault-id {vault_id}.")
    return VaultLib(secrets), secrets[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vault", type=Path, required=True, help="the encrypted vault.yml to update")
    p.add_argument("--account", required=True, help="account name in spotify_accounts")
    p.add_argument("--cache", type=Path, help="the .cache / token file from 'needledrop auth'")
    p.add_argument("--signed-in", help="sign-in date (default: the cache's authorized_at)")
    p.add_argument("--client", action="store_true", help="also ask for client id and secret")
    p.add_argument("--vault-id", default=None, help="e.g. fleet@prompt or fleet@path/to/file")
    args = p.parse_args(argv)
    try:
        done = update(args)
    except UserError as e:
        print(f"vault-spotify-token: {e}", file=sys.stderr)
        return 2
    print(done)
    return 0


def update(args: argparse.Namespace) -> str:
    checks = _checks()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", args.account):
        raise UserError(
            f"--account {args.account!r} must be lower-case letters, digits and _ "
            "(it becomes part of the vault variable names)."
        )
    if args.cache is None and not args.client:
        raise UserError("Nothing to do: give --cache (the sign-in) and/or --client.")
    prefix = f"vault_spotify_{args.account}"
    new: dict[str, str] = {}
    said: list[str] = []
    if args.cache is not None:
        try:
            raw = args.cache.read_text(encoding="utf-8")
        except OSError as e:
            raise UserError(f"Cannot read --cache {args.cache} ({e.strerror or e}).") from None
        token = checks.parse_token(raw)
        if isinstance(token, str):
            raise UserError(f"--cache {args.cache} {token}.")
        signed_in = args.signed_in if args.signed_in is not None else token.get("authorized_at")
        if signed_in in (None, ""):
            raise UserError(
                f"--cache {args.cache} carries no authorized_at: give --signed-in with the "
                "date the account signed in (2026-11-29)."
            )
        stamp = checks.parse_authorized_at(signed_in, time.time())
        if isinstance(stamp, str):
            raise UserError(f"--signed-in {stamp}.")
        token.pop("authorized_at", None)  # the vault keeps the date beside the token
        new[f"{prefix}_token"] = json.dumps(token, separators=(", ", ": "))
        iso = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        new[f"{prefix}_authorized_at"] = iso
        fp = hashlib.sha256(token["refresh_token"].encode()).hexdigest()[:8]
        said.append(f"{prefix}_token (refresh token #{fp})")
        said.append(f"{prefix}_authorized_at = {iso}")
    if args.client:
        client_id = input("Client ID (from the app's Spotify dashboard): ").strip()
        secret = getpass.getpass("Client secret (not shown): ").strip()
        for key, value in (("client_id", client_id), ("client_secret", secret)):
            if not value or not checks.ENV_SAFE.match(value):
                raise UserError(f"The {key} is empty or holds blanks or quotes; copy it again.")
        new[f"{prefix}_client_id"] = client_id
        new[f"{prefix}_client_secret"] = secret
        said.append(f"{prefix}_client_id, {prefix}_client_secret")

    vault_id = args.vault_id or os.environ.get("ANSIBLE_VAULT_IDENTITY_LIST", "").split(",")[0]
    vault, (secret_id, secret) = _vault(vault_id or "fleet@prompt")
    from ansible.errors import AnsibleError
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    if args.vault.exists():
        try:
            plain = vault.decrypt(args.vault.read_bytes()).decode("utf-8")
        except AnsibleError:
            raise UserError(
                f"Cannot decrypt {args.vault} with vault id {secret_id}: wrong password or id."
            ) from None
        data = yaml.load(plain) or {}
    else:
        data = yaml.load("---\n# Secrets of the fleet (ansible-vault, vault id fleet).\n{}\n")
    for key, value in new.items():
        data[key] = value
    out = io.StringIO()
    yaml.explicit_start = True
    yaml.dump(data, out)
    encrypted = vault.encrypt(out.getvalue(), secret, vault_id=secret_id)
    args.vault.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{args.vault.name}.", dir=args.vault.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(encrypted)
        os.replace(tmp, args.vault)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    names = ", ".join(k for k in new)
    return (
        f"{args.vault}: wrote {'; '.join(said)} (vault id {secret_id}).\n"
        f"spotify_accounts.{args.account} in the plain vars must name {names}"
        " (docs/spotify-accounts.md)."
    )


if __name__ == "__main__":
    sys.exit(main())
