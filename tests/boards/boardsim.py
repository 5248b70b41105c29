"""Simulated CircuitPython boards (FAT images via mtools, plain directories) and playbook runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = REPO / ".cache" / "circuitpython-wheelhouse"
MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")

S3 = ("Adafruit MatrixPortal S3", "ESP32S3", "adafruit_matrixportal_s3")
M4 = ("Adafruit Matrix Portal M4", "samd51j19", "adafruit_matrixportal_m4")
FEATHER_M4 = ("Adafruit Feather M4 Express", "samd51j19", "feather_m4_express")
PICO_W = ("Raspberry Pi Pico W", "rp2040", "raspberry_pi_pico_w")


def boot_out(version: str, board: tuple[str, str, str], uid: str, date: str = "2024-11-20") -> str:
    name, chip, board_id = board
    return (
        f"Adafruit CircuitPython {version} on {date}; {name} with {chip}\r\n"
        f"Board ID:{board_id}\r\nUID:{uid}\r\nMAC:F4:12:FA:5B:{uid[-4:-2]}:{uid[-2:]}\r\n"
    )


def dir_board(path: Path, version: str, board=S3, uid: str = "A1B2C3D4E5F6", files=None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "boot_out.txt").write_text(boot_out(version, board, uid))
    for rel, data in (files or {}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def fat_board(
    image: Path,
    version: str,
    board=S3,
    uid: str = "0123456789AB",
    size_kib: int = 2048,
    files=None,
) -> Path:
    subprocess.run(
        ["/usr/sbin/mkfs.fat", "-C", "-n", "CIRCUITPY", str(image), str(size_kib)],
        check=True,
        capture_output=True,
    )
    all_files = {"boot_out.txt": boot_out(version, board, uid), **(files or {})}
    for rel, data in all_files.items():
        local = image.parent / (image.name + ".put")
        local.write_bytes(data if isinstance(data, bytes) else data.encode())
        subprocess.run(
            ["mcopy", "-o", "-i", str(image), str(local), "::/" + rel],
            check=True,
            env=MTOOLS_ENV,
            capture_output=True,
        )
        local.unlink()
    return image


def fat_listing(image: Path) -> dict[str, bytes]:
    """Every file on a FAT image with its content."""
    out = subprocess.run(
        ["mdir", "-/", "-b", "-i", str(image), "::/"],
        check=True,
        env=MTOOLS_ENV,
        capture_output=True,
        text=True,
    ).stdout
    files = {}
    for line in out.splitlines():
        path = line.strip()
        if not path.startswith("::/") or path.endswith("/"):
            continue
        data = subprocess.run(
            ["mcopy", "-n", "-i", str(image), path, "-"],
            check=True,
            env=MTOOLS_ENV,
            capture_output=True,
        ).stdout
        files[path[3:]] = data
    return files


def dir_listing(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def board_host(**overrides) -> dict:
    """Inventory vars of a board plugged into the controller, nothing found by accident."""
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "circuitpython_mount_roots": [],
        "circuitpython_by_id_dir": "/nonexistent/by-id",
        "circuitpython_wheelhouse_dir": str(WHEELHOUSE),
        "circuitpython_wifi_ssid": 'Café "Lounge" 2.4',
        "circuitpython_wifi_password": "canary-wifi-passphrase-7d1f",
        "circuitpython_spotify_client_id": "fake-client-id",
        "circuitpython_spotify_client_secret": "canary-client-secret-93ab",
    }
    host.update(overrides)
    return host


RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+"
    r"failed=(?P<failed>\d+)",
    re.MULTILINE,
)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.recap = {
            m["host"]: {"changed": int(m["changed"]), "failed": int(m["failed"])}
            for m in RECAP.finditer(self.output)
        }

    def failure_of(self, host: str) -> str:
        """The text of the failed task's message for a host (joined lines)."""
        chunks = re.findall(
            rf"fatal: \[{re.escape(host)}[^\]]*\]: FAILED! =>(.*?)(?=\n\S|\Z)",
            self.output,
            re.DOTALL,
        )
        return " ".join(" ".join(chunks).split())


def run_playbook(
    tmp: Path,
    hosts: dict,
    playbook: str = "playbooks/boards.yml",
    extra_env=None,
    args: tuple[str, ...] = (),
) -> Run:
    inventory = tmp / "hosts.yml"
    inventory.write_text(json.dumps({"boards": {"hosts": hosts}}))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_CACHE_PLUGIN="memory",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        **(extra_env or {}),
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            *args,
            playbook,
        ],
        cwd=REPO,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Run(proc)
