# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Change a few variables of an encrypted vault file, keep everything else (playbooks/reauth.yml).

``spotify_vault_update: {path: .../vault.yml, values: {vault_spotify_home_token: ...}}``
decrypts the file with the secrets this playbook run was given (``--vault-id``), sets only the
named variables (which must be there already: a name that is not is a wrong file or a typo, and
the run stops before writing), and encrypts the result again with the same vault id and
password. Every other variable, comment and quoting stays as it was (ruamel round trip).

The plaintext never touches the disk: it lives in memory; the new ciphertext goes to a 0600
temporary next to the file (removed on any failure) and is renamed over it with the file's old
mode. Nothing is written when the values are already there (changed=false) or in check mode.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    from ansible.plugins.action import ActionBase
except ImportError:  # pragma: no cover
    ActionBase = object  # type: ignore[assignment,misc]


class VaultEditError(Exception):
    """One sentence for the user; the vault file is unchanged."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.explicit_start = True
    return yaml


def vault_id_of(ciphertext: bytes) -> str | None:
    """The vault id in a ``$ANSIBLE_VAULT;1.2;AES256;ID`` header (None for 1.1 files)."""
    head = ciphertext.split(b"\n", 1)[0].decode("ascii", "replace").strip().split(";")
    return head[3] if len(head) > 3 and head[3] else None


def edit_plaintext(plain: str, values: Mapping[str, str], path: str) -> tuple[str, list[str]]:
    """The YAML text with ``values`` set (each name must exist), and the names that changed."""
    yaml = _yaml()
    try:
        data = yaml.load(plain)
    except Exception as e:  # ruamel's many parser errors
        raise VaultEditError(
            f"{path} does not hold YAML after decryption ({type(e).__name__})."
        ) from None
    if not isinstance(data, Mapping):
        raise VaultEditError(f"{path} does not hold a YAML mapping of variables.")
    missing = [k for k in values if k not in data]
    if missing:
        raise VaultEditError(
            f"{path} has no {', '.join(missing)}: point reauth_vault_file at the vault file that "
            "holds them (or add them with scripts/vault_spotify_token.py first); nothing was "
            "changed."
        )
    changed = [k for k, v in values.items() if data[k] != v]
    for k in changed:
        data[k] = values[k]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue(), changed


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically, keeping its mode; the temporary is 0600 and is
    removed when anything fails."""
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_vault(path: Path, values: Mapping[str, str], vault: Any, check: bool) -> list[str]:
    """Set ``values`` in the encrypted ``path`` with ``vault`` (an ansible VaultLib holding the
    run's secrets). Returns the names that changed."""
    from ansible.errors import AnsibleError

    try:
        ciphertext = path.read_bytes()
    except OSError as e:
        raise VaultEditError(f"Cannot read {path} ({e.strerror or e}).") from None
    if not ciphertext.startswith(b"$ANSIBLE_VAULT;"):
        raise VaultEditError(
            f"{path} is not an ansible-vault encrypted file; encrypt it with ansible-vault "
            "encrypt --vault-id fleet@prompt first."
        )
    wanted = vault_id_of(ciphertext)
    try:
        plain, used_id, used_secret = vault.decrypt_and_get_vault_id(ciphertext)
    except AnsibleError:
        raise VaultEditError(
            f"Cannot decrypt {path} with the vault password given for id {wanted or 'default'}: "
            "wrong password or vault id (--vault-id fleet@prompt)."
        ) from None
    text, changed = edit_plaintext(plain.decode("utf-8"), values, str(path))
    if changed and not check:
        vault_id = wanted if wanted is not None else None
        encrypted = vault.encrypt(text, used_secret, vault_id=vault_id)
        replace_file(path, encrypted)
    return changed


class ActionModule(ActionBase):  # type: ignore[misc,valid-type]
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        path = Path(str(self._task.args.get("path") or ""))
        values = self._task.args.get("values") or {}
        try:
            if not isinstance(values, Mapping) or not values:
                raise VaultEditError("values must name the vault variables to set.")
            vault = self._loader._vault  # the secrets of this run (--vault-id / --ask-vault-pass)
            if not vault.secrets:
                raise VaultEditError(
                    f"No vault password was given to change {path}: add --vault-id fleet@prompt."
                )
            changed = update_vault(
                path, {str(k): str(v) for k, v in values.items()}, vault, self._task.check_mode
            )
        except VaultEditError as e:
            result.update(failed=True, msg=str(e), changed=False)
            return result
        result.update(changed=bool(changed), names=changed, path=str(path))
        return result
