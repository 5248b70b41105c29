"""The appliance image's first boot: personalise from the boot partition (docs/image.md).

Runs ``needledrop.firstboot`` on a temporary boot directory and root directory shaped like the
image's: the app config matrix_app writes, the service user in etc/passwd, the zoneinfo files.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needledrop import firstboot
from needledrop.config import parse_config

UID = 4242
TOKEN = {
    "access_token": "at-canary-4c1d",
    "token_type": "Bearer",
    "expires_in": 3600,
    "expires_at": 0,
    "refresh_token": "rt-canary-93ab",
    "scope": "user-read-currently-playing user-read-playback-state",
    "authorized_at": "2026-11-29",
}
SECRETS = ("client-secret-canary-77", "rt-canary-93ab", "at-canary-4c1d", "wifi-canary-pass")

GOOD = f"""
hostname = "kitchen"
timezone = "Europe/Berlin"

[wifi]
ssid = "Home net"
password = "wifi-canary-pass"
country = "DE"

[display]
backend = "png"

[matrix]
rows = 64
cols = 64
hardware_mapping = "adafruit-hat-pwm"

[spotify]
client_id = "client-id-1234"
client_secret = "client-secret-canary-77"
redirect_uri = "http://127.0.0.1:8888/callback"
token = '''{json.dumps(TOKEN)}'''
accounts_url = "http://10.0.2.2:8080"
api_url = "http://10.0.2.2:8080/v1/"
"""

IMAGE_CONFIG = """
source = "spotify"

[display]
backend = "rgbmatrix"
fps = 10
png_dir = "/var/lib/needledrop/frames"

[matrix]
rows = 32
cols = 64
hardware_mapping = "regular"
drop_priv_user = "needledrop"
drop_priv_group = "needledrop"

[paths]
token_cache = "/var/lib/needledrop/spotify-token.json"
state_dir = "/var/lib/needledrop"
cache_dir = "/var/cache/needledrop"
"""


def make_root(root: Path) -> None:
    (root / "etc/needledrop").mkdir(parents=True)
    (root / "etc/needledrop/needledrop.toml").write_text(IMAGE_CONFIG)
    (root / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/bash\nneedledrop:x:{UID}:{UID}::/var/lib/needledrop:/usr/sbin/nologin\n"
    )
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    (root / "etc/hostname").write_text("raspberrypi\n")
    for zone in ("Europe/Berlin", "UTC"):
        (root / "usr/share/zoneinfo" / zone).parent.mkdir(parents=True, exist_ok=True)
        (root / "usr/share/zoneinfo" / zone).write_bytes(b"TZif2")
    (root / "var/lib/needledrop").mkdir(parents=True)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    boot, root = tmp_path / "boot", tmp_path / "root"
    boot.mkdir()
    (boot / "config.txt").write_text("dtparam=audio=off\n")
    make_root(root)
    return boot, root


def tree(path: Path) -> dict[str, bytes | str]:
    """Every file's content (and every link's target) under path."""
    out: dict[str, bytes | str] = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def test_good_settings_personalise_the_root_and_leave_no_secret_on_the_boot_partition(
    dirs: tuple[Path, Path],
) -> None:
    boot, root = dirs
    (boot / "needledrop.toml").write_text(GOOD)

    assert firstboot.main(["--boot", str(boot), "--root", str(root)]) == 0

    assert (root / "etc/hostname").read_text() == "kitchen\n"
    assert "127.0.1.1\tkitchen" in (root / "etc/hosts").read_text()
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Berlin"
    cfg = tomllib.loads((root / "etc/needledrop/needledrop.toml").read_text())
    assert cfg["display"]["backend"] == "png"
    assert cfg["matrix"]["rows"] == 64 and cfg["matrix"]["hardware_mapping"] == "adafruit-hat-pwm"
    assert cfg["spotify"]["api_url"] == "http://10.0.2.2:8080/v1/"
    env = root / "etc/needledrop/spotify.env"
    assert "SPOTIPY_CLIENT_SECRET=client-secret-canary-77\n" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert (env.stat().st_uid, env.stat().st_gid) == (0, UID)
    token = root / "var/lib/needledrop/spotify-token.json"
    assert json.loads(token.read_text()) == TOKEN
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert token.stat().st_uid == UID
    wifi = root / firstboot.WIFI_PROFILE
    assert "ssid=Home net\n" in wifi.read_text()
    assert stat.S_IMODE(wifi.stat().st_mode) == 0o600
    # A non-GPIO backend runs as the service user from the start.
    assert "User=needledrop" in (root / firstboot.BACKEND_DROPIN).read_text()
    # The secrets left the FAT partition; the rest of it is untouched.
    assert not (boot / "needledrop.toml").exists()
    assert tree(boot) == {"config.txt": b"dtparam=audio=off\n"}
    record = json.loads((root / firstboot.DONE_FILE).read_text())
    assert record["sources"] == ["needledrop.toml"]
    # Secrets only in the files meant for them.
    meant = {
        "etc/needledrop/spotify.env",
        "var/lib/needledrop/spotify-token.json",
        str(firstboot.WIFI_PROFILE),
    }
    for rel, content in tree(root).items():
        if rel not in meant:
            for secret in SECRETS:
                assert secret.encode() not in (
                    content if isinstance(content, bytes) else content.encode()
                ), rel


def test_the_written_app_config_is_one_the_app_accepts(dirs: tuple[Path, Path]) -> None:
    boot, root = dirs
    (boot / "needledrop.toml").write_text(GOOD)
    firstboot.personalise(boot, root)
    doc = tomllib.loads((root / "etc/needledrop/needledrop.toml").read_text())
    cfg = parse_config(doc, {})
    assert cfg.display.backend == "png" and cfg.size == (64, 64)


def test_a_missing_settings_file_is_one_sentence_and_exit_2_and_is_recorded_for_the_panel(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    boot, root = dirs
    before = tree(root)
    assert firstboot.main(["--boot", str(boot), "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "No needledrop.toml on the boot partition" in err and "docs/image.md" in err
    assert "Traceback" not in err
    problem = (root / firstboot.PROBLEM_FILE).read_text()
    assert problem.startswith("No needledrop.toml")
    after = tree(root)
    del after[str(firstboot.PROBLEM_FILE)]
    assert after == before


BAD = [
    ('hostname = "Kitchen_1"', "hostname"),
    ('hostname = "-kitchen"', "hostname"),
    ('timezone = "Mars/Olympus"', "timezone"),
    ('timezone = "../../etc/passwd"', "timezone"),
    ('colour = "red"', "'colour'"),
    ('[wifi]\npassword = "12345678"', "wifi.ssid"),
    ('[wifi]\nssid = "x"\npassword = "short"', "wifi.password"),
    ('[wifi]\nssid = "x"\ncountry = "Germany"', "wifi.country"),
    ('[wifi]\nssid = "x"\npasword = "12345678"', "did you mean 'password'"),
    ('[display]\nbackend = "hdmi"', "display.backend"),
    ("[matrix]\nrows = 7", "matrix.rows"),
    ('[matrix]\nhardware_mapping = "nope"', "matrix.hardware_mapping"),
    ('[spotify]\nclient_id = "a"\ntoken = "{}"', "spotify.client_secret"),
    ('[spotify]\nclient_id = "a b"\nclient_secret = "s"\ntoken = "{}"', "spotify.client_id"),
    (
        '[spotify]\nclient_id = "a"\nclient_secret = "s"\ntoken = \'{"access_token": "x"}\'',
        "spotify.token",
    ),
    ('[spotify]\nclient_id = "a"\nclient_secret = "s"\ntoken = "not json"', "spotify.token"),
    (
        '[spotify]\nclient_id = "a"\nclient_secret = "s"\n'
        'redirect_uri = "http://localhost:8888/callback"\n'
        'token = \'{"refresh_token": "r"}\'',
        "spotify.redirect_uri",
    ),
    ("hostname = ", "not valid TOML"),
    ("wifi = 3", "wifi must be a table"),
]


@pytest.mark.parametrize(("text", "names"), BAD)
def test_a_bad_settings_file_changes_nothing_and_names_the_key(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], text: str, names: str
) -> None:
    boot, root = dirs
    (boot / "needledrop.toml").write_text(text + "\n")
    boot_before, root_before = tree(boot), tree(root)
    assert firstboot.main(["--boot", str(boot), "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert names in err and "Traceback" not in err
    assert err.count("\n") == 0, "one sentence on one line"
    # The file stays for the user to fix; the root gains only the recorded problem.
    assert tree(boot) == boot_before
    after = tree(root)
    assert after.pop(str(firstboot.PROBLEM_FILE)).decode().strip() in err
    assert after == root_before


def test_a_later_good_file_clears_the_problem(dirs: tuple[Path, Path]) -> None:
    boot, root = dirs
    assert firstboot.main(["--boot", str(boot), "--root", str(root)]) == 2
    (boot / "needledrop.toml").write_text(GOOD)
    assert firstboot.main(["--boot", str(boot), "--root", str(root)]) == 0
    assert not (root / firstboot.PROBLEM_FILE).exists()


def test_imagers_cloud_init_files_give_hostname_time_zone_and_wifi(dirs: tuple[Path, Path]) -> None:
    boot, root = dirs
    (boot / "user-data").write_text(
        "#cloud-config\nhostname: hall\ntimezone: UTC\nusers:\n- name: pi\n  lock_passwd: true\n"
    )
    (boot / "network-config").write_text(
        "network:\n  version: 2\n  wifis:\n    wlan0:\n      dhcp4: true\n"
        '      regulatory-domain: GB\n      access-points:\n        "Flat 2":\n'
        '          password: "wifi-canary-pass"\n'
    )
    # The panel and the account come from needledrop.toml; it wins where both speak.
    (boot / "needledrop.toml").write_text(
        GOOD.replace('hostname = "kitchen"\n', "")
        .replace('timezone = "Europe/Berlin"\n', "")
        .split("[wifi]")[0]
        + '[display]\nbackend = "png"\n'
    )
    firstboot.personalise(boot, root)
    assert (root / "etc/hostname").read_text() == "hall\n"
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert "ssid=Flat 2\n" in (root / firstboot.WIFI_PROFILE).read_text()
    # Imager's files are cloud-init's: left where they are.
    assert (boot / "user-data").exists() and (boot / "network-config").exists()


def test_the_gpio_backend_keeps_the_units_root_start(dirs: tuple[Path, Path]) -> None:
    boot, root = dirs
    dropin = root / firstboot.BACKEND_DROPIN
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Service]\nUser=needledrop\n")
    (boot / "needledrop.toml").write_text('[display]\nbackend = "rgbmatrix"\n')
    firstboot.personalise(boot, root)
    assert not dropin.exists()


# --- property tests: classes of input -----------------------------------------------------------

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)


@given(LABEL)
def test_every_valid_host_name_is_accepted(name: str) -> None:
    assert firstboot.check_hostname(name) == name


@given(st.text(min_size=0, max_size=80))
def test_a_host_name_is_accepted_only_if_it_is_a_valid_label(name: str) -> None:
    valid = firstboot.HOSTNAME_RE.match(name) is not None
    try:
        firstboot.check_hostname(name)
    except firstboot.SettingsError as e:
        assert not valid and "hostname" in str(e)
    else:
        assert valid and "\n" not in name and len(name) <= 63


@given(st.text(max_size=80))
def test_a_wifi_password_is_wpa_or_refused_naming_the_key(password: str) -> None:
    wpa = (8 <= len(password) <= 63 and all(" " <= c <= "~" for c in password)) or (
        len(password) == 64 and all(c in "0123456789abcdefABCDEF" for c in password)
    )
    try:
        firstboot.check_wifi({"ssid": "net", "password": password})
    except firstboot.SettingsError as e:
        assert not wpa and "wifi.password" in str(e)
    else:
        assert wpa


SCALAR = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
KEY = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


@given(
    st.dictionaries(KEY, SCALAR | st.lists(st.text(max_size=8), max_size=3), max_size=4),
    st.dictionaries(KEY, st.dictionaries(KEY, SCALAR, max_size=4), max_size=3),
)
def test_the_config_writer_reads_back_as_written(
    top: dict[str, object], tables: dict[str, dict[str, object]]
) -> None:
    doc = {k: v for k, v in top.items() if k not in tables} | tables
    assert tomllib.loads(firstboot.dump_toml(doc)) == doc


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_any_bytes_as_settings_give_exit_0_or_2_never_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    boot, root = base / "boot", base / "root"
    boot.mkdir()
    make_root(root)
    (boot / "needledrop.toml").write_bytes(data)
    assert firstboot.main(["--boot", str(boot), "--root", str(root)]) in (0, 2)
