#!/usr/bin/env python3
"""Boot the appliance image in qemu-system-aarch64 and check its first boot (make image-boot-test).

A copy of the built image gets a test ``needledrop.toml`` on its FAT partition (mtools); the
image's own kernel and initrd (read from its ext4 root with debugfs) boot it on qemu's ``virt``
machine with the root on partition 2. The project's fake Spotify serves on this machine's
loopback; the guest reaches it through qemu's user networking as 10.0.2.2. Passes when the
first boot personalised the display (settings deleted from the FAT, secrets in 0600/0640
files) and the app drew frames of what the fake plays; prints the figures for docs/image.md.

With ``--site`` (on demand, not in CI) the booted display then joins a fleet: the test copy
(never the built image) gets what Raspberry Pi Imager's user customisation gives a user, a
throw-away SSH key in pi's authorized_keys and passwordless sudo for pi, and qemu forwards a
loopback port to the guest's SSH. A temporary inventory names that one display with the same
panel, backend and account (client credentials and token in a vault with a throw-away
password) the settings file gave, and ``site.yml`` runs against it twice: the first run is
"site.yml afterwards", the second the no-change re-run of a provisioned display. Prints both
times, their ratio, the changed counts and the tasks the first run changed; fails when a run
fails, the second changes anything, the first compiles or overwrites the token the app
refreshed.

    python scripts/image-boot-test.py [--image .cache/image/out/needledrop-display-trixie-arm64.img]
                                      [--timeout 1500] [--keep] [--site]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests"))

from fakes.spotify import SCOPES, FakeSpotify, _Grant, fake_track  # noqa: E402

REFRESH_TOKEN = "rt-image-boot-test"
SECRET = "client-secret-boot-test"
MIB = 1024 * 1024
CLIENT_ID = "fake-client-id"
# The sign-in time as `needledrop auth` stamps it (epoch seconds): 2026-11-29T10:32:25Z.
AUTHORIZED_AT = 1795948345
HOSTNAME = "qemu-display"
TIMEZONE = "Europe/Berlin"
SSH_OPTS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
]


def fail(msg: str) -> NoReturn:
    print(f"image-boot-test: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def partitions(image: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["sfdisk", "-J", str(image)], check=True, capture_output=True, text=True)
    parts: list[dict[str, Any]] = json.loads(out.stdout)["partitiontable"]["partitions"]
    return parts


def extract_partition(image: Path, part: dict[str, Any], dest: Path) -> None:
    subprocess.run(
        [
            "dd",
            f"if={image}",
            f"of={dest}",
            "bs=512",
            f"skip={part['start']}",
            f"count={part['size']}",
            "conv=sparse",
            "status=none",
        ],
        check=True,
    )


def debugfs(fs: Path, request: str) -> str:
    out = subprocess.run(["debugfs", "-R", request, str(fs)], capture_output=True, text=True)
    return out.stdout


def power_down(monitor: Path, qemu: subprocess.Popen[bytes]) -> None:
    """Press the guest's power button (logind shuts it down cleanly), else stop qemu."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(monitor))
            s.sendall(b"system_powerdown\n")
            time.sleep(1)
        qemu.wait(240)
        return
    except (OSError, subprocess.TimeoutExpired):
        pass
    qemu.terminate()
    try:
        qemu.wait(30)
    except subprocess.TimeoutExpired:
        qemu.kill()
        qemu.wait()


def signed_in_token() -> dict[str, Any]:
    """The token cache `needledrop auth` would have written: long expired, so the app refreshes."""
    return {
        "access_token": "expired",
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": 0,
        "refresh_token": REFRESH_TOKEN,
        "scope": SCOPES,
        "authorized_at": AUTHORIZED_AT,
    }


def settings_file(port: int) -> str:
    token = signed_in_token()
    return f"""# make image-boot-test: the fake Spotify on the host's loopback (10.0.2.2)
hostname = "{HOSTNAME}"
timezone = "{TIMEZONE}"

[display]
backend = "png"

[matrix]
rows = 32
cols = 64

[spotify]
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
redirect_uri = "http://127.0.0.1:8888/callback"
token = '''{json.dumps(token)}'''
accounts_url = "http://10.0.2.2:{port}"
api_url = "http://10.0.2.2:{port}/v1/"
"""


# --site: site.yml against the booted display, the way a user adds it to a fleet.


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def grant_ssh(disk: Path, root: dict[str, Any], work: Path) -> Path:
    """What Imager's user customisation gives pi, on the test copy's root: a key and sudo.

    A throw-away ed25519 key in pi's authorized_keys (0600 in a 0700 .ssh, pi's) and a
    NOPASSWD sudoers drop-in (0440, root's), written with debugfs into the copy's ext4.
    """
    key = work / "ssh/id_ed25519"
    key.parent.mkdir(mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "image-boot-test", "-f", str(key)],
        check=True,
    )
    fs = f"{disk}?offset={root['start'] * 512}"
    pw = re.search(
        r"^pi:[^:]*:(\d+):(\d+):[^:]*:([^:]*):", debugfs(Path(fs), "cat /etc/passwd"), re.M
    )
    if not pw:
        fail("the image has no user pi (scripts/image-root.sh creates it)")
    uid, gid, home = pw.group(1), pw.group(2), pw.group(3)
    sudoers = work / "ssh/010_pi-nopasswd"
    sudoers.write_text("pi ALL=(ALL) NOPASSWD: ALL\n")
    requests = [
        f"mkdir {home}/.ssh",
        f"sif {home}/.ssh mode 040700",
        f"sif {home}/.ssh uid {uid}",
        f"sif {home}/.ssh gid {gid}",
        f"write {key}.pub {home}/.ssh/authorized_keys",
        f"sif {home}/.ssh/authorized_keys mode 0100600",
        f"sif {home}/.ssh/authorized_keys uid {uid}",
        f"sif {home}/.ssh/authorized_keys gid {gid}",
        f"write {sudoers} /etc/sudoers.d/010_pi-nopasswd",
        "sif /etc/sudoers.d/010_pi-nopasswd mode 0100440",
        "sif /etc/sudoers.d/010_pi-nopasswd uid 0",
        "sif /etc/sudoers.d/010_pi-nopasswd gid 0",
    ]
    script = work / "ssh/debugfs.cmd"
    script.write_text("\n".join(requests) + "\n")
    out = subprocess.run(
        ["debugfs", "-w", "-f", str(script), fs], capture_output=True, text=True, check=True
    )
    for bad in ("not found", "Could not", "already exists", "Invalid"):
        if bad in out.stderr:
            fail(f"could not give pi an SSH key and sudo on the test copy: {out.stderr.strip()}")
    check = debugfs(Path(fs), f"stat {home}/.ssh/authorized_keys")
    if "Mode:  0600" not in check or not re.search(rf"User:\s+{uid}\s", check):
        fail(f"authorized_keys on the test copy is not pi's 0600: {check[:200]!r}")
    return key


def ssh(
    key: Path, port: int, command: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-p",
            str(port),
            *SSH_OPTS,
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "pi@127.0.0.1",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_inventory(work: Path, key: Path, ssh_port: int, fake_port: int) -> tuple[Path, Path]:
    """One display, as a user adds it: host, panel, backend and account as the settings file."""
    inv = work / "inventory"
    (inv / "group_vars/displays").mkdir(parents=True)
    hosts = {
        "all": {
            "children": {
                "displays": {
                    "hosts": {
                        HOSTNAME: {
                            "ansible_host": "127.0.0.1",
                            "ansible_port": ssh_port,
                            "ansible_user": "pi",
                            "ansible_become": True,
                            "ansible_ssh_private_key_file": str(key),
                            "ansible_ssh_common_args": " ".join(SSH_OPTS),
                            "rgb_matrix_rows": 32,
                            "rgb_matrix_cols": 64,
                        }
                    }
                },
                "boards": {"hosts": {}},
            }
        }
    }
    (inv / "hosts.yml").write_text(json.dumps(hosts, indent=2) + "\n")
    cache = TOP / ".cache/image/standin"
    url = f"http://10.0.2.2:{fake_port}"
    # inventory/image's release source (the stand-in rgbmatrix sources, the app of this tree,
    # the controller's wheelhouse for arm64-py3.13) and the settings file's values.
    plain = f"""---
# qemu's virt machine has no Raspberry Pi device tree: name the model, as playbooks/image.yml does.
pi_base_model: Raspberry Pi 4 Model B
rgb_matrix_pi_model: Raspberry Pi 4 Model B
pi_base_hostname: {HOSTNAME}
pi_base_timezone: {TIMEZONE}
wheelhouse_targets: [arm64-py3.13]
rgb_matrix_source: archive
rgb_matrix_archive: {cache}/standin.tar.gz
rgb_matrix_archive_sha256: "{(cache / "standin.tar.gz.sha256").read_text().strip()}"
rgb_matrix_commit: "{(cache / "standin.tar.gz.sha1").read_text().strip()}"
matrix_app_backend: png
matrix_app_spotify_accounts_url: "{url}"
matrix_app_spotify_api_url: "{url}/v1/"
spotify_accounts:
  boot:
    client_id: "{{{{ vault_spotify_boot_client_id }}}}"
    client_secret: "{{{{ vault_spotify_boot_client_secret }}}}"
    redirect_uri: http://127.0.0.1:8888/callback
    token: "{{{{ vault_spotify_boot_token }}}}"
    authorized_at: "{{{{ vault_spotify_boot_authorized_at }}}}"
"""
    (inv / "group_vars/displays/vars.yml").write_text(plain)
    vault = inv / "group_vars/displays/vault.yml"
    # As scripts/vault_spotify_token.py puts the same sign-in into a vault: the token without
    # its stamp, the stamp beside it as an ISO time.
    vault_token = {k: v for k, v in signed_in_token().items() if k != "authorized_at"}
    signed_in = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(AUTHORIZED_AT))
    vault.write_text(
        "---\n"
        + f"vault_spotify_boot_client_id: {CLIENT_ID}\n"
        + f"vault_spotify_boot_client_secret: {SECRET}\n"
        + f"vault_spotify_boot_token: {json.dumps(json.dumps(vault_token))}\n"
        + f'vault_spotify_boot_authorized_at: "{signed_in}"\n'
    )
    password = work / "ssh/vault-password"
    password.write_text(os.urandom(16).hex() + "\n")
    password.chmod(0o600)
    subprocess.run(
        [
            str(TOP / ".venv/bin/ansible-vault"),
            "encrypt",
            "--vault-id",
            f"boot@{password}",
            "--encrypt-vault-id",
            "boot",
            str(vault),
        ],
        check=True,
        capture_output=True,
    )
    return inv, password


def run_site(inv: Path, password: Path, log: Path) -> dict[str, Any]:
    """One `ansible-playbook site.yml --limit HOSTNAME --diff`: wall time, recap, changed tasks."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(TOP / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        # Each task's time (its log and the slowest ones printed): where the time goes.
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
        PATH=f"{TOP / '.venv/bin'}:{os.environ['PATH']}",
    )
    cmd = [
        str(TOP / ".venv/bin/ansible-playbook"),
        "-i",
        str(inv),
        "--vault-id",
        f"boot@{password}",
        "--limit",
        HOSTNAME,
        "--diff",
        str(TOP / "site.yml"),
    ]
    start = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(cmd, cwd=TOP, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - start
    text = log.read_text(errors="replace")
    changed_tasks = []
    task = ""
    for line in text.splitlines():
        m = re.match(r"(?:TASK|RUNNING HANDLER) \[(.*)\] \*+", line)
        if m:
            task = m.group(1)
        elif re.match(rf"changed: \[{re.escape(HOSTNAME)}\b", line):
            changed_tasks.append(task)
    recap = re.search(rf"^{re.escape(HOSTNAME)}\s+:\s+(.*)$", text, re.M)
    counts = dict(re.findall(r"(\w+)=(\d+)", recap.group(1))) if recap else {}
    slowest = re.findall(r"^(.+?) -{3,} (\d+\.\d+)s$", text, re.M)[:5]
    return {
        "rc": rc,
        "seconds": seconds,
        "counts": counts,
        "changed": changed_tasks,
        "slowest": slowest,
        "log": log,
    }


def site_afterwards(work: Path, key: Path, ssh_port: int, fake: FakeSpotify) -> list[str]:
    """site.yml twice against the booted display; prints the figures, returns the problems."""
    deadline = time.monotonic() + 600
    while True:
        try:
            if ssh(key, ssh_port, "sudo -n true", timeout=60).returncode == 0:
                break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            return ["pi could not log in over SSH with the key (or sudo asked for a password)"]
        time.sleep(5)
    state = (
        "sudo sha256sum /var/lib/needledrop/spotify-token.json | cut -c1-16; "
        "readlink -f /opt/needledrop/current; "
        "test -e /var/cache/needledrop/rgb_matrix && echo BUILD-DIR || echo no-build-dir"
    )
    before = ssh(key, ssh_port, state).stdout.split()
    inv, password = write_inventory(work, key, ssh_port, fake.port)
    runs = []
    states = []
    for n in (1, 2):
        refreshes = len(fake.calls_to("token"))
        runs.append(run_site(inv, password, work / f"site-run{n}.log"))
        states.append(
            (ssh(key, ssh_port, state).stdout.split(), len(fake.calls_to("token")) - refreshes)
        )
        r = runs[-1]
        print(
            f"image-boot-test: site.yml run {n}: {r['seconds']:.0f} s, rc {r['rc']}, "
            f"{' '.join(f'{k}={v}' for k, v in r['counts'].items())} (log {r['log']})"
        )
    one, two = runs
    print(
        f"image-boot-test: site.yml afterwards / no-change re-run = {one['seconds']:.0f} s / "
        f"{two['seconds']:.0f} s = {one['seconds'] / two['seconds']:.2f}"
    )
    for n, r in enumerate(runs, 1):
        for task, secs in r["slowest"]:
            print(f"image-boot-test:   run {n} slowest: {secs} s {task}")
    print(f"image-boot-test: run 1 changed {len(one['changed'])} task(s):")
    for task in one["changed"]:
        print(f"image-boot-test:   {task}")
    print(
        f"image-boot-test: on the display before/after run 1/after run 2 "
        f"(token sha256, release, build dir): {before} / {states[0][0]} / {states[1][0]}"
    )
    problems = []
    for n, r in enumerate(runs, 1):
        if r["rc"] != 0 or not r["counts"]:
            problems.append(f"site.yml run {n} failed (rc {r['rc']}; log {r['log']})")
    if two["counts"].get("changed", "0") != "0":
        problems.append(f"the re-run changed {two['counts'].get('changed')}: {two['changed']}")
    if any("Compile" in t or "compile" in t for t in one["changed"]) or any(
        "BUILD-DIR" in s for s, _ in states
    ):
        problems.append("site.yml compiled the bindings on the display")
    if before and states[0][0] and before[0] != states[0][0][0] and states[0][1] == 0:
        problems.append("run 1 replaced the token the app had refreshed (no refresh in between)")
    if before[1:2] != states[0][0][1:2]:
        problems.append(f"run 1 switched the release: {before[1:2]} -> {states[0][0][1:2]}")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--image", type=Path, default=TOP / ".cache/image/out/needledrop-display-trixie-arm64.img"
    )
    p.add_argument("--timeout", type=float, default=1500.0, help="seconds to wait for frames")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument(
        "--site",
        action="store_true",
        help="then run site.yml twice against the booted display over SSH (figures for the docs)",
    )
    args = p.parse_args()
    if not args.image.is_file():
        fail(f"{args.image} is missing; run make image first")
    tools = ["qemu-system-aarch64", "mcopy", "debugfs", "sfdisk"]
    for tool in tools + (["ssh", "ssh-keygen"] if args.site else []):
        if not shutil.which(tool):
            fail(f"{tool} is missing (make image-boot-test installs qemu-system-arm)")

    work = Path(tempfile.mkdtemp(prefix="needledrop-boot-", dir=TOP / ".cache/image"))
    try:
        disk = work / "disk.img"
        subprocess.run(["cp", "--sparse=always", str(args.image), str(disk)], check=True)
        boot, root = partitions(disk)[:2]

        # The image's own kernel and initrd, from its root.
        rootfs = work / "root.ext4"
        extract_partition(disk, root, rootfs)
        listing = debugfs(rootfs, "ls -l /boot")
        kernels = sorted(re.findall(r"(vmlinuz-\S+)", listing))
        if not kernels:
            fail(f"no /boot/vmlinuz-* in the image's root: {listing!r}")
        version = kernels[-1][len("vmlinuz-") :]
        for name, dest in ((f"vmlinuz-{version}", "vmlinuz"), (f"initrd.img-{version}", "initrd")):
            subprocess.run(
                ["debugfs", "-R", f"dump /boot/{name} {work / dest}", str(rootfs)],
                check=True,
                capture_output=True,
            )
            if not (work / dest).stat().st_size:
                fail(f"could not read /boot/{name} from the image")
        rootfs.unlink()
        key, ssh_port = None, 0
        if args.site:
            key, ssh_port = grant_ssh(disk, root, work), free_port()
        site_problems: list[str] = []

        with FakeSpotify(host="127.0.0.1", port=0, client_secret=SECRET) as fake:
            fake.refresh_tokens[REFRESH_TOKEN] = _Grant(REFRESH_TOKEN, SCOPES)
            fake.player = fake_track(
                title="Boot Test Anthem",
                artists=("The Qemu Four",),
                image_url=None,
                progress_ms=60_000,
                duration_ms=300_000,
            )
            (work / "needledrop.toml").write_text(settings_file(fake.port))
            env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
            subprocess.run(
                [
                    "mcopy",
                    "-o",
                    "-i",
                    f"{disk}@@{boot['start'] * 512}",
                    str(work / "needledrop.toml"),
                    "::/needledrop.toml",
                ],
                check=True,
                env=env,
            )

            console = work / "console.log"
            monitor = work / "monitor.sock"
            cmd = [
                "qemu-system-aarch64",
                "-M",
                "virt",
                "-cpu",
                "max",
                "-smp",
                "2",
                "-m",
                "1024",
                "-nographic",
                # --site: a site.yml that must reboot the display may (and is reported).
                *([] if args.site else ["-no-reboot"]),
                "-kernel",
                str(work / "vmlinuz"),
                "-initrd",
                str(work / "initrd"),
                "-append",
                "root=LABEL=rootfs rootwait console=ttyAMA0 "
                "systemd.journald.forward_to_console=1 panic=-1",
                "-drive",
                f"if=none,file={disk},format=raw,id=hd",
                "-device",
                "virtio-blk-pci,drive=hd",
                "-monitor",
                f"unix:{monitor},server,nowait",
                "-netdev",
                "user,id=net0" + (f",hostfwd=tcp:127.0.0.1:{ssh_port}-:22" if args.site else ""),
                "-device",
                "virtio-net-pci,netdev=net0",
            ]
            start = time.monotonic()
            with console.open("wb") as log:
                qemu = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            try:
                first_poll = None
                while time.monotonic() - start < args.timeout:
                    if qemu.poll() is not None:
                        fail(f"qemu exited ({qemu.returncode}); console: {console}")
                    polls = fake.calls_to("player") + fake.calls_to("currently-playing")
                    if polls and first_poll is None:
                        first_poll = polls[0].at - start
                        print(f"image-boot-test: first poll of the fake after {first_poll:.0f} s")
                    if first_poll is not None and len(polls) >= 3:
                        break
                    time.sleep(2)
                else:
                    fail(f"no poll of the fake within {args.timeout:.0f} s; console: {console}")
                time.sleep(20)  # let the app write frames and status, the journal flush
                if key is not None:
                    site_problems = site_afterwards(work, key, ssh_port, fake)
            finally:
                power_down(monitor, qemu)
            tokens = fake.calls_to("token")

        # What the first boot left on the disk.
        text = console.read_text(errors="replace")
        fb = re.findall(r"needledrop firstboot: [^\r\n]*", text)
        out = work / "boot.fat"
        extract_partition(disk, boot, out)
        fat = subprocess.run(
            ["mdir", "-b", "-i", str(out), "::/"], capture_output=True, text=True, env=env
        ).stdout
        rootfs = work / "root.ext4"
        extract_partition(disk, root, rootfs)
        # Replay the journal (in case the guest did not shut down cleanly) before reading.
        subprocess.run(["e2fsck", "-fy", str(rootfs)], capture_output=True)
        frame = work / "frame.png"
        subprocess.run(
            ["debugfs", "-R", f"dump /var/lib/needledrop/frames/frame.png {frame}", str(rootfs)],
            capture_output=True,
        )
        status_txt = debugfs(rootfs, "cat /var/lib/needledrop/status.json")
        token_stat = debugfs(rootfs, "stat /var/lib/needledrop/spotify-token.json")
        env_stat = debugfs(rootfs, "stat /etc/needledrop/spotify.env")
        hostname = debugfs(rootfs, "cat /etc/hostname").strip()
        build_dir = debugfs(rootfs, "ls /var/cache/needledrop")
        releases = debugfs(rootfs, "ls /opt/needledrop/releases")

        problems = []
        if "needledrop.toml" in fat.lower():
            problems.append("needledrop.toml is still on the boot partition")
        if hostname != "qemu-display":
            problems.append(f"hostname is {hostname!r}")
        if "Mode:  0600" not in token_stat:
            problems.append("the token cache is not 0600")
        if "Mode:  0640" not in env_stat:
            problems.append("spotify.env is not 0640")
        if not frame.exists() or frame.stat().st_size == 0:
            problems.append("no frame.png was drawn")
        if "Boot Test Anthem" not in status_txt:
            problems.append(f"status.json does not show the fake's track: {status_txt[:300]!r}")
        if "rgb_matrix" in build_dir:
            problems.append("a build directory exists: something was compiled on the Pi")
        if not tokens:
            problems.append("the app never refreshed its token at the fake")
        print(f"image-boot-test: firstboot said: {fb[:2]}")
        print(f"image-boot-test: boot to first poll {first_poll:.0f} s (qemu TCG, 2 vCPUs)")
        names = [n for n in re.findall(r"\(\d+\)\s+(\S+)", releases) if n not in (".", "..")]
        print(f"image-boot-test: releases on the disk: {names}")
        if frame.exists():
            kept = TOP / ".cache/image/out/boot-test-frame.png"
            shutil.copy(frame, kept)
            print(f"image-boot-test: the frame is {kept}")
        problems += site_problems
        if problems:
            fail("; ".join(problems) + f" (console: {console})")
        print("image-boot-test: PASS")
        return 0
    finally:
        if not args.keep and sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
