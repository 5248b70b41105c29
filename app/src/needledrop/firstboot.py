"""First boot of the appliance image: personalise the display from its boot partition.

    python -m needledrop.firstboot [--boot /boot/firmware] [--root /] [--apply-system]
    python -m needledrop.firstboot --show-problem [--root /]

Reads ``needledrop.toml`` from the boot partition (docs/image.md gives its format) and, for
what it does not say, the cloud-init ``user-data`` and ``network-config`` that Raspberry Pi
Imager 2 writes there (hostname, time zone, Wi-Fi). Writes the hostname, the time zone, a
NetworkManager Wi-Fi profile, the app's config (backend, panel, Spotify endpoints), the
Spotify environment file (root:needledrop 0640) and the token cache (needledrop 0600) under
``--root``; then deletes ``needledrop.toml`` from the boot partition, so no secret stays on
the FAT. Everything is checked before anything is written: a bad or missing file changes
nothing, is reported in one sentence naming the key and the fix (exit 2), and is kept in
``<state>/firstboot-problem.txt`` for ``--show-problem`` to draw on the panel.

Pure file work on two directories (``--boot``, ``--root``): the tests run it on temporary ones.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import signal
import sys
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from needledrop.config import ConfigError, parse_config, redirect_uri_problem

SETTINGS_FILE = "needledrop.toml"
USER_DATA = "user-data"
NETWORK_CONFIG = "network-config"
APP_CONFIG = Path("etc/needledrop/needledrop.toml")
ENV_FILE = Path("etc/needledrop/spotify.env")
STATE_DIR = Path("var/lib/needledrop")
DONE_FILE = STATE_DIR / "firstboot.json"
PROBLEM_FILE = STATE_DIR / "firstboot-problem.txt"
BACKEND_DROPIN = Path("etc/systemd/system/needledrop.service.d/60-firstboot-backend.conf")
WIFI_PROFILE = Path("etc/NetworkManager/system-connections/needledrop-wifi.nmconnection")
SERVICE_USER = "needledrop"
BACKENDS = ("rgbmatrix", "png", "emulator")
EXIT_OK, EXIT_CONFIG = 0, 2

TOP_KEYS = {"hostname", "timezone", "wifi", "display", "matrix", "spotify"}
TABLE_KEYS = {
    "wifi": {"ssid", "password", "country", "hidden"},
    "display": {"backend"},
    "spotify": {"client_id", "client_secret", "redirect_uri", "token", "accounts_url", "api_url"},
}
HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TIMEZONE_RE = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")
CREDENTIAL_RE = re.compile(r"^[A-Za-z0-9_\-.~]{1,256}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


class SettingsError(Exception):
    """A problem with the boot partition's settings; ``str()`` is one sentence with the fix."""


@dataclass(frozen=True)
class Wifi:
    ssid: str
    password: str | None = None
    country: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class Spotify:
    client_id: str
    client_secret: str
    redirect_uri: str
    token: dict[str, Any]
    accounts_url: str | None = None
    api_url: str | None = None


@dataclass(frozen=True)
class Settings:
    hostname: str | None = None
    timezone: str | None = None
    wifi: Wifi | None = None
    backend: str | None = None
    matrix: dict[str, Any] = field(default_factory=dict)
    spotify: Spotify | None = None
    sources: tuple[str, ...] = ()


# --- reading -----------------------------------------------------------------------------------


def _unknown(key: str, allowed: set[str]) -> SettingsError:
    near = difflib.get_close_matches(key.split(".")[-1], sorted(allowed), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return SettingsError(
        f"{SETTINGS_FILE}: unknown key {key!r}{hint}; allowed here: {', '.join(sorted(allowed))}."
    )


def _str(table: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise SettingsError(f"{SETTINGS_FILE}: {where}{key} is missing; add it.")
        return None
    if not isinstance(value, str):
        raise SettingsError(
            f"{SETTINGS_FILE}: {where}{key} must be a string in quotes, not {value!r}."
        )
    return value


def check_hostname(name: str) -> str:
    if not HOSTNAME_RE.match(name):
        raise SettingsError(
            f"{SETTINGS_FILE}: hostname {name!r} is not a valid host name; use 1 to 63 lower-case "
            'letters, digits and inner hyphens (e.g. "kitchen").'
        )
    return name


def check_timezone(name: str, root: Path) -> str:
    if not TIMEZONE_RE.match(name) or ".." in name:
        raise SettingsError(
            f"{SETTINGS_FILE}: timezone {name!r} is not a time zone name; use one like "
            '"Europe/Berlin" (timedatectl list-timezones).'
        )
    zoneinfo = root / "usr/share/zoneinfo"
    if zoneinfo.is_dir() and not (zoneinfo / name).is_file():
        raise SettingsError(
            f"{SETTINGS_FILE}: timezone {name!r} is not in {zoneinfo}; use one like "
            '"Europe/Berlin" (timedatectl list-timezones).'
        )
    return name


def check_wifi(table: Mapping[str, Any]) -> Wifi:
    for key in table:
        if key not in TABLE_KEYS["wifi"]:
            raise _unknown(f"wifi.{key}", TABLE_KEYS["wifi"])
    ssid = _str(table, "ssid", "wifi.", required=True)
    assert ssid is not None
    if not 1 <= len(ssid.encode()) <= 32 or any(c in ssid for c in "\n\r\x00"):
        raise SettingsError(
            f"{SETTINGS_FILE}: wifi.ssid must be 1 to 32 bytes on one line; fix the network name."
        )
    password = _str(table, "password", "wifi.")
    if password is not None and not (
        (8 <= len(password) <= 63 and all(" " <= c <= "~" for c in password))
        or re.fullmatch(r"[0-9a-fA-F]{64}", password)
    ):
        raise SettingsError(
            f"{SETTINGS_FILE}: wifi.password must be 8 to 63 printable ASCII characters (or 64 "
            "hex digits); fix it, or leave it out for an open network."
        )
    country = _str(table, "country", "wifi.")
    if country is not None and not COUNTRY_RE.match(country):
        raise SettingsError(
            f'{SETTINGS_FILE}: wifi.country must be a two-letter country code like "DE", not '
            f"{country!r}."
        )
    hidden = table.get("hidden", False)
    if not isinstance(hidden, bool):
        raise SettingsError(f"{SETTINGS_FILE}: wifi.hidden must be true or false.")
    return Wifi(ssid=ssid, password=password, country=country, hidden=hidden)


def check_spotify(table: Mapping[str, Any]) -> Spotify:
    for key in table:
        if key not in TABLE_KEYS["spotify"]:
            raise _unknown(f"spotify.{key}", TABLE_KEYS["spotify"])
    creds = {}
    for key in ("client_id", "client_secret"):
        value = _str(table, key, "spotify.", required=True)
        assert value is not None
        if not CREDENTIAL_RE.match(value):
            raise SettingsError(
                f"{SETTINGS_FILE}: spotify.{key} is not a Spotify client credential (letters and "
                "digits, no spaces); copy it again from the Spotify developer dashboard."
            )
        creds[key] = value
    redirect = _str(table, "redirect_uri", "spotify.") or "http://127.0.0.1:8888/callback"
    problem = redirect_uri_problem(redirect)
    if problem or any(c in redirect for c in "\n\r"):
        raise SettingsError(
            f"{SETTINGS_FILE}: spotify.redirect_uri {problem or 'must be one line'}."
        )
    raw = table.get("token")
    token: Any
    if isinstance(raw, str):
        try:
            token = json.loads(raw)
        except ValueError:
            token = None
    else:
        token = raw
    if (
        not isinstance(token, dict)
        or not isinstance(token.get("refresh_token"), str)
        or not (token["refresh_token"])
    ):
        raise SettingsError(
            f"{SETTINGS_FILE}: spotify.token must be the token cache JSON of 'needledrop auth' "
            "(an object with a refresh_token), as a string in ''' quotes; sign in again and "
            "paste the file's content."
        )
    urls = {k: _str(table, k, "spotify.") for k in ("accounts_url", "api_url")}
    return Spotify(
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        redirect_uri=redirect,
        token=token,
        accounts_url=urls["accounts_url"],
        api_url=urls["api_url"],
    )


def parse_settings(doc: Mapping[str, Any], root: Path) -> Settings:
    """Check a parsed needledrop.toml; raises SettingsError naming the first bad key."""
    for key in doc:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS)
    for table in ("wifi", "display", "matrix", "spotify"):
        if table in doc and not isinstance(doc[table], dict):
            raise SettingsError(f"{SETTINGS_FILE}: {table} must be a table ([{table}]).")
    hostname = _str(doc, "hostname", "")
    timezone = _str(doc, "timezone", "")
    display = doc.get("display", {})
    for key in display:
        if key not in TABLE_KEYS["display"]:
            raise _unknown(f"display.{key}", TABLE_KEYS["display"])
    backend = _str(display, "backend", "display.")
    if backend is not None and backend not in BACKENDS:
        raise SettingsError(
            f"{SETTINGS_FILE}: display.backend must be one of {', '.join(BACKENDS)}, not "
            f"{backend!r}."
        )
    return Settings(
        hostname=check_hostname(hostname) if hostname is not None else None,
        timezone=check_timezone(timezone, root) if timezone is not None else None,
        wifi=check_wifi(doc["wifi"]) if "wifi" in doc else None,
        backend=backend,
        matrix=dict(doc.get("matrix", {})),
        spotify=check_spotify(doc["spotify"]) if "spotify" in doc else None,
        sources=(SETTINGS_FILE,),
    )


def _load_yaml(path: Path) -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - python3-yaml is on Raspberry Pi OS (cloud-init)
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def read_cloud_init(boot: Path, root: Path) -> Settings:
    """Hostname and time zone from user-data, Wi-Fi from network-config (Imager 2's files).

    Unreadable or odd files give nothing: cloud-init owns them and reports on them itself.
    """
    sources: list[str] = []
    hostname = timezone = None
    wifi = None
    user = _load_yaml(boot / USER_DATA) if (boot / USER_DATA).is_file() else None
    if isinstance(user, dict):
        sources.append(USER_DATA)
        if isinstance(user.get("hostname"), str):
            hostname = check_hostname(user["hostname"])
        if isinstance(user.get("timezone"), str):
            timezone = check_timezone(user["timezone"], root)
    net = _load_yaml(boot / NETWORK_CONFIG) if (boot / NETWORK_CONFIG).is_file() else None
    if isinstance(net, dict):
        wifis = (net.get("network") or net).get("wifis") or {}
        for device in wifis.values() if isinstance(wifis, dict) else []:
            points = device.get("access-points") if isinstance(device, dict) else None
            if isinstance(points, dict) and points:
                ssid, ap = next(iter(points.items()))
                password = ap.get("password") if isinstance(ap, dict) else None
                country = device.get("regulatory-domain")
                wifi = check_wifi(
                    {"ssid": str(ssid)}
                    | ({"password": password} if isinstance(password, str) else {})
                    | ({"country": country} if isinstance(country, str) else {})
                )
                sources.append(NETWORK_CONFIG)
                break
    return Settings(hostname=hostname, timezone=timezone, wifi=wifi, sources=tuple(sources))


def read_settings(boot: Path, root: Path) -> Settings:
    """The boot partition's settings: needledrop.toml over Imager's cloud-init files."""
    path = boot / SETTINGS_FILE
    cloud = read_cloud_init(boot, root)
    if not path.is_file():
        if cloud.sources:
            return cloud
        raise SettingsError(
            f"No {SETTINGS_FILE} on the boot partition ({boot}); put one there "
            "(docs/image.md) and restart the display."
        )
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text; save it as UTF-8.") from None
    except tomllib.TOMLDecodeError as e:
        why = str(e).replace("\n", " ")
        raise SettingsError(f"{path} is not valid TOML ({why}); fix that line.") from None
    except (RecursionError, ValueError) as e:
        raise SettingsError(f"{path} has a value that cannot be read ({e}); fix it.") from None
    own = parse_settings(doc, root)
    return Settings(
        hostname=own.hostname or cloud.hostname,
        timezone=own.timezone or cloud.timezone,
        wifi=own.wifi or cloud.wifi,
        backend=own.backend,
        matrix=own.matrix,
        spotify=own.spotify,
        sources=own.sources + cloud.sources,
    )


# --- the app's config --------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = (
            c if c not in '"\\' and c != "\x7f" and c >= " " else f"\\u{ord(c):04x}" for c in value
        )
        return '"' + "".join(escaped) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def dump_toml(doc: Mapping[str, Any]) -> str:
    """TOML text of a document of scalars, lists and one level of tables (the app's config)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for table, items in doc.items():
        if isinstance(items, dict):
            lines += ["", f"[{table}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in items.items()]
    return "\n".join(lines) + "\n"


def merged_app_config(current: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    doc: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in current.items()}
    if settings.backend:
        doc.setdefault("display", {})["backend"] = settings.backend
    if settings.matrix:
        doc.setdefault("matrix", {}).update(settings.matrix)
    if settings.spotify:
        doc["source"] = "spotify"
        for key in ("accounts_url", "api_url"):
            value = getattr(settings.spotify, key)
            if value:
                doc.setdefault("spotify", {})[key] = value
    return doc


def check_app_config(doc: Mapping[str, Any], settings: Settings) -> None:
    """The app's own parser on the merged config; its complaint names the settings key."""
    env = {}
    if settings.spotify:
        env = {
            "SPOTIPY_CLIENT_ID": settings.spotify.client_id,
            "SPOTIPY_CLIENT_SECRET": settings.spotify.client_secret,
            "SPOTIPY_REDIRECT_URI": settings.spotify.redirect_uri,
        }
    try:
        parse_config(doc, env)
    except ConfigError as e:
        raise SettingsError(f"{SETTINGS_FILE}: the app refuses it: {e}.") from None


# --- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def service_owner(root: Path) -> Owner:
    """The service user's ids from the root's own passwd/group (not this machine's)."""
    uid = gid = None
    try:
        for line in (root / "etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) > 3 and parts[0] == SERVICE_USER:
                uid, gid = int(parts[2]), int(parts[3])
    except OSError:
        pass
    if uid is None or gid is None:
        raise SettingsError(
            f"The image has no {SERVICE_USER} user in {root / 'etc/passwd'}; rebuild it with "
            "make image (pi_base creates the user)."
        )
    return Owner(uid, gid)


def _write(path: Path, text: str, mode: int, owner: Owner | None = None, gid: int = 0) -> None:
    """Write atomically with the mode and owner set before the content lands."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.firstboot")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        if os.geteuid() == 0:
            os.fchown(fd, owner.uid if owner else 0, owner.gid if owner else gid)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, path)


def wifi_profile(wifi: Wifi) -> str:
    lines = [
        "[connection]",
        "id=needledrop-wifi",
        "type=wifi",
        "autoconnect=true",
        "",
        "[wifi]",
        "mode=infrastructure",
        f"ssid={wifi.ssid}",
        f"hidden={'true' if wifi.hidden else 'false'}",
    ]
    if wifi.password:
        lines += ["", "[wifi-security]", "key-mgmt=wpa-psk", f"psk={wifi.password}"]
    lines += ["", "[ipv4]", "method=auto", "", "[ipv6]", "method=auto", ""]
    return "\n".join(lines)


def apply(settings: Settings, root: Path) -> list[str]:
    """Write everything the settings say under ``root``; returns what was done, no secrets."""
    done: list[str] = []
    owner = service_owner(root) if settings.spotify else None
    app_config = root / APP_CONFIG
    try:
        current = tomllib.loads(app_config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(
            f"The image's app config {app_config} is unreadable ({e}); rebuild it with make image."
        ) from None
    merged = merged_app_config(current, settings)
    check_app_config(merged, settings)
    try:
        gid = service_owner(root).gid
    except SettingsError:
        gid = 0

    if settings.hostname:
        _write(root / "etc/hostname", settings.hostname + "\n", 0o644)
        hosts = root / "etc/hosts"
        lines = hosts.read_text().splitlines() if hosts.exists() else ["127.0.0.1\tlocalhost"]
        lines = [ln for ln in lines if not ln.startswith("127.0.1.1")]
        _write(hosts, "\n".join(lines + [f"127.0.1.1\t{settings.hostname}"]) + "\n", 0o644)
        done.append(f"hostname {settings.hostname}")
    if settings.timezone:
        localtime = root / "etc/localtime"
        if localtime.is_symlink() or localtime.exists():
            localtime.unlink()
        localtime.symlink_to(f"/usr/share/zoneinfo/{settings.timezone}")
        _write(root / "etc/timezone", settings.timezone + "\n", 0o644)
        done.append(f"time zone {settings.timezone}")
    if settings.wifi:
        _write(root / WIFI_PROFILE, wifi_profile(settings.wifi), 0o600)
        if settings.wifi.country:
            _write(root / "etc/default/crda", f"REGDOMAIN={settings.wifi.country}\n", 0o644)
        done.append(f"Wi-Fi {settings.wifi.ssid!r}")
    if merged != current:
        _write(app_config, dump_toml(merged), 0o640, gid=gid)
        done.append(f"app config ({merged.get('display', {}).get('backend', 'rgbmatrix')} backend)")
    # The image's unit starts as root for the GPIO; any other backend runs as the service user
    # from the start, so that every file it writes stays the service user's.
    dropin = root / BACKEND_DROPIN
    if merged.get("display", {}).get("backend", "rgbmatrix") != "rgbmatrix":
        _write(
            dropin,
            f"# needledrop firstboot: not the GPIO backend\n[Service]\nUser={SERVICE_USER}\n",
            0o644,
        )
    elif dropin.exists():
        dropin.unlink()
    if settings.spotify:
        assert owner is not None
        s = settings.spotify
        env = (
            "# needledrop firstboot: Spotify client credentials (from the boot partition)\n"
            f"SPOTIPY_CLIENT_ID={s.client_id}\n"
            f"SPOTIPY_CLIENT_SECRET={s.client_secret}\n"
            f"SPOTIPY_REDIRECT_URI={s.redirect_uri}\n"
        )
        _write(root / ENV_FILE, env, 0o640, gid=owner.gid)
        token_path = Path(str(merged.get("paths", {}).get("token_cache", "")).lstrip("/"))
        if not str(token_path) or str(token_path) == ".":
            token_path = STATE_DIR / "spotify-token.json"
        _write(root / token_path, json.dumps(s.token, indent=2) + "\n", 0o600, owner=owner)
        done.append("Spotify credentials and token")
    return done


def scrub(boot: Path) -> bool:
    """Delete needledrop.toml (it holds the secrets) from the boot partition."""
    path = boot / SETTINGS_FILE
    if path.exists():
        path.unlink()
        return True
    return False


def personalise(boot: Path, root: Path) -> list[str]:
    """Read, check, apply, scrub; a SettingsError leaves both directories as they were."""
    settings = read_settings(boot, root)
    done = apply(settings, root)
    if scrub(boot):
        done.append(f"{SETTINGS_FILE} deleted from the boot partition")
    record = {"sources": list(settings.sources), "done": done}
    _write(root / DONE_FILE, json.dumps(record, indent=2) + "\n", 0o644)
    problem = root / PROBLEM_FILE
    if problem.exists():
        problem.unlink()
    return done


# --- the panel message -------------------------------------------------------------------------


def show_problem(root: Path, hold: bool) -> int:
    """Draw the recorded problem with the app's backend (the message screen); hold it if asked."""
    from needledrop.backends import BackendError, open_backend
    from needledrop.config import load_config
    from needledrop.render import Renderer
    from needledrop.state import DisplayState

    try:
        text = (root / PROBLEM_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return EXIT_OK
    try:
        cfg = load_config(root / APP_CONFIG)
        backend = open_backend(cfg)
    except (ConfigError, BackendError) as e:
        print(f"needledrop firstboot: cannot draw the message ({e})", file=sys.stderr)
        return EXIT_CONFIG
    renderer = Renderer(*cfg.size, cfg, None)
    try:
        backend.show(renderer.frame(DisplayState(message=text), 0.0))
        if hold:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
    finally:
        renderer.close()
        backend.close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="needledrop-firstboot", description=__doc__.split("\n")[0])
    p.add_argument("--boot", type=Path, default=Path("/boot/firmware"))
    p.add_argument("--root", type=Path, default=Path("/"))
    p.add_argument("--show-problem", action="store_true", help="draw the last problem")
    p.add_argument("--hold", action="store_true", help="with --show-problem: keep it shown")
    args = p.parse_args(argv)
    if args.show_problem:
        return show_problem(args.root, args.hold)
    try:
        done = personalise(args.boot, args.root)
    except SettingsError as e:
        print(f"needledrop firstboot: {e}", file=sys.stderr)
        try:
            _write(args.root / PROBLEM_FILE, f"{e}\n", 0o644)
        except OSError as w:
            print(f"needledrop firstboot: cannot record the problem ({w})", file=sys.stderr)
        return EXIT_CONFIG
    print(f"needledrop firstboot: {'; '.join(done) or 'nothing to change'}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
