"""Read one display's state for playbooks/status.yml, read-only, with the host's own python3.

Prints one JSON document: the current release and its record, the bindings record, the app's
`needledrop status --json`, the unit's state, isolcpus from the boot line, the reboot notice,
and the CPU temperature and throttling (`vcgencmd` when present, else the kernel's thermal zone).

    python3 fleet_status_probe.py <app root> <config file> <bindings record> <cmdline.txt> <unit>
"""

import json
import os
import shutil
import subprocess
import sys

root, config, bindings_record, cmdline, unit = sys.argv[1:6]


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def run(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, "", str(e)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


current = os.path.join(root, "current")
release_dir = os.path.realpath(current) if os.path.islink(current) else None
out = {
    "release": os.path.basename(release_dir) if release_dir else None,
    "release_record": read_json(os.path.join(release_dir, "needledrop-release.json"))
    if release_dir
    else None,
    "bindings_record": read_json(bindings_record),
}
if release_dir:
    rc, stdout, stderr = run(
        [os.path.join(current, "bin", "needledrop"), "status", "--json", "--config", config]
    )
    try:
        out["status"] = json.loads(stdout)
    except ValueError:
        out["status"] = {"error": stderr.splitlines()[-1] if stderr else "no status JSON"}
else:
    out["status"] = {"error": "no release installed"}
out["unit"] = run(["systemctl", "is-active", unit])[1] or "unknown"
try:
    with open(cmdline, encoding="utf-8") as f:
        words = f.read().split()
    out["isolcpus"] = next((w.split("=", 1)[1] for w in words if w.startswith("isolcpus=")), "")
except OSError:
    out["isolcpus"] = None
out["reboot_required"] = os.path.exists("/run/reboot-required")
temp = throttled = None
if shutil.which("vcgencmd"):
    rc, stdout, _ = run(["vcgencmd", "measure_temp"])  # temp=48.3'C
    if rc == 0 and "=" in stdout:
        try:
            temp = float(stdout.split("=", 1)[1].rstrip("'C"))
        except ValueError:
            temp = None
    rc, stdout, _ = run(["vcgencmd", "get_throttled"])  # throttled=0x50005
    if rc == 0 and "=" in stdout:
        try:
            throttled = int(stdout.split("=", 1)[1], 16)
        except ValueError:
            throttled = None
if temp is None:
    try:
        with open("/sys/class/thermal/thermal_zone0/temp", encoding="ascii") as f:
            temp = int(f.read().strip()) / 1000
    except (OSError, ValueError):
        temp = None
out["cpu_temp_c"] = temp
out["throttled"] = throttled
out["vcgencmd"] = shutil.which("vcgencmd") is not None
print(json.dumps(out))
