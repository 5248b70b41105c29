#!/usr/bin/python
# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Seed the app's Spotify token cache from the vault, keeping a fresher copy on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: spotify_token_seed
short_description: Seed the display app's Spotify token cache, keeping the host's fresher copy
description:
  - The app refreshes its access token on the host, so the host's cache is usually fresher than
    the vault's. The module writes the vault's token only when the host's file is absent,
    unreadable, corrupt (not JSON, no refresh token), or from another authorisation (another
    refresh token and another C(authorized_at) sign-in time), or when I(force) is set.
  - Another refresh token with the same sign-in time is the app's own: Spotify may hand out a
    new refresh token on a refresh, and the host's copy is then the live one.
  - When the host's file holds the same authorisation with another sign-in date, only
    C(authorized_at) is updated; the access token the app refreshed stays.
  - Writes atomically (temp file in the same directory, fsync, rename) with the owner, group
    and mode given; fixes owner and mode of a kept file.
  - Never returns a secret: the result and the diff name the reason and a short fingerprint of
    the refresh token (8 hex digits of its SHA-256).
options:
  path:
    description: The token cache file.
    type: path
    required: true
  token:
    description:
      - The spotipy cache as a JSON object with C(refresh_token), C(access_token), C(expires_at)
        (and C(authorized_at)). A string, so that no_log hides it as one value.
    type: str
    required: true
  account:
    description: The account's name, for messages.
    type: str
    default: ""
  force:
    description: Write the vault's token whatever the host holds.
    type: bool
    default: false
  owner:
    description: Owner of the file.
    type: str
    required: true
  group:
    description: Group of the file.
    type: str
    required: true
  mode:
    description: Mode of the file.
    type: str
    default: "0600"
author: needledrop contributors
"""

RETURN = r"""
reason:
  description: Why the file was written or kept, one sentence without secrets.
  type: str
  returned: always
action:
  description: C(write), C(update_authorized_at), C(keep).
  type: str
  returned: always
fingerprint:
  description: 8 hex digits of the SHA-256 of the refresh token now on the host.
  type: str
  returned: always
"""

import grp
import hashlib
import json
import os
import pwd
import tempfile
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule


def fingerprint(refresh_token):
    return hashlib.sha256(str(refresh_token).encode()).hexdigest()[:8]


def read_host(path):
    """(token dict or None, problem or None) for the host's file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None, "absent"
    except OSError as e:
        return None, f"unreadable ({e.strerror})"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "corrupt (not JSON)"
    if not isinstance(data, dict):
        return None, "corrupt (not a JSON object)"
    if not isinstance(data.get("refresh_token"), str) or not data["refresh_token"]:
        return None, "corrupt (no refresh token)"
    if not data.get("access_token") or "expires_at" not in data:
        return None, "corrupt (no access token or expiry)"
    return data, None


def decide(host, problem, vault, force):
    """(action, token to write or None, reason). Pure: the tests drive it directly."""
    if force:
        return "write", dict(vault), "forced (spotify_credentials_force_token)"
    if host is None:
        return "write", dict(vault), f"the host's token cache was {problem}"
    if host["refresh_token"] != vault["refresh_token"]:
        signed_in = host.get("authorized_at")
        if signed_in is not None and signed_in == vault.get("authorized_at"):
            # Same sign-in: Spotify handed the app a new refresh token when it refreshed.
            # The host's is the live one; the vault's may be revoked by now.
            return (
                "keep",
                None,
                "same sign-in; the app received a newer refresh token when it refreshed",
            )
        return (
            "write",
            dict(vault),
            "the vault holds another authorisation (another refresh token and sign-in)",
        )
    if host.get("authorized_at") != vault.get("authorized_at"):
        kept = dict(host)
        kept["authorized_at"] = vault.get("authorized_at")
        return (
            "update_authorized_at",
            kept,
            "same authorisation; the sign-in date changed (the host's access token is kept)",
        )
    return "keep", None, "the host holds the same authorisation (the app may have refreshed it)"


def summary(token, account):
    """A diff line without secrets."""
    if token is None:
        return ""
    stamp = token.get("authorized_at")
    signed = (
        datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
        if isinstance(stamp, int | float)
        else "unknown"
    )
    expires = token.get("expires_at")
    expiry = (
        datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(expires, int | float)
        else "unknown"
    )
    return (
        f"account: {account}\nrefresh token: #{fingerprint(token.get('refresh_token'))}\n"
        f"signed in: {signed}\naccess token expires: {expiry}\n"
    )


def write_atomic(path, token, uid, gid, mode):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(token, handle)  # one line, as spotipy and the app write it
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "token": {"type": "str", "required": True, "no_log": True},
            "account": {"type": "str", "default": ""},
            "force": {"type": "bool", "default": False},
            "owner": {"type": "str", "required": True},
            "group": {"type": "str", "required": True},
            "mode": {"type": "str", "default": "0600"},
        },
        supports_check_mode=True,
    )
    p = module.params
    path, account = p["path"], p["account"]
    mode = int(p["mode"], 8)
    try:
        vault = json.loads(p["token"])
    except ValueError:
        vault = None
    if not isinstance(vault, dict):
        module.fail_json(msg=f"The token of account {account!r} is not a JSON object.")
    if not isinstance(vault.get("refresh_token"), str) or not vault["refresh_token"]:
        module.fail_json(msg=f"The token of account {account!r} has no refresh_token.")
    try:
        uid = pwd.getpwnam(p["owner"]).pw_uid
        gid = grp.getgrnam(p["group"]).gr_gid
    except KeyError:
        uid = gid = None
    if uid is None and not module.check_mode:  # in check mode pi_base has not created them
        module.fail_json(
            msg=(
                f"User {p['owner']!r} or group {p['group']!r} does not exist on this host: run "
                "pi_base first or set spotify_credentials_user/spotify_credentials_group."
            )
        )
    directory = os.path.dirname(path)
    host, problem = read_host(path)
    action, new, reason = decide(host, problem, vault, p["force"])
    result = {
        "changed": False,
        "action": action,
        "reason": reason,
        "path": path,
        "account": account,
        "fingerprint": fingerprint((new or host)["refresh_token"]),
    }
    if module._diff:
        result["diff"] = {
            "before": summary(host, account),
            "after": summary(new if new is not None else host, account),
            "before_header": path,
            "after_header": path,
        }
    if new is not None:
        result["changed"] = True
        if not module.check_mode:
            if not os.path.isdir(directory):
                module.fail_json(
                    msg=(
                        f"Directory {directory} is missing: run pi_base first (it creates the "
                        "service user's home) or set spotify_credentials_token_path."
                    )
                )
            write_atomic(path, new, uid, gid, mode)
        module.exit_json(**result)
    # Kept: make owner and mode right without touching the content.
    st = os.stat(path)
    if uid is None:
        result["changed"] = True
        result["reason"] += f"; owner {p['owner']} does not exist yet"
    elif st.st_uid != uid or st.st_gid != gid or (st.st_mode & 0o7777) != mode:
        result["changed"] = True
        result["reason"] += "; owner/mode fixed"
        if not module.check_mode:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
