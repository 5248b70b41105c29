"""Judge `needledrop status --json` for a deploy: healthy, written by the unit's current
process, a frame drawn, the source answered. Prints {"ok", "reason", "showing"} and exits 0
only when all hold; "reason" uses the status's own words.

    python health.py <needledrop command> <config file> <unit name>
"""

import json
import subprocess
import sys

needledrop, config, unit = sys.argv[1:4]
shown = subprocess.run(
    ["systemctl", "show", "-p", "MainPID", "--value", unit], capture_output=True, text=True
)
main_pid = int(shown.stdout.strip() or 0)
status = subprocess.run(
    [needledrop, "status", "--json", "--config", config], capture_output=True, text=True
)
try:
    doc = json.loads(status.stdout)
except ValueError:
    doc = {"error": status.stderr.strip() or "needledrop status printed no JSON"}
problems = []
if doc.get("error"):
    problems.append(f"{doc['error']} ({doc.get('status_file', 'status file')})")
if main_pid == 0:
    problems.append("the service is not running")
elif doc.get("pid") not in (None, main_pid):
    problems.append(
        f"status.json is from an earlier process (pid {doc.get('pid')}, not {main_pid})"
    )
if not doc.get("error") and not doc.get("running"):
    problems.append(f"status not updated since {doc.get('updated_at')}")
if doc.get("reauth_needed"):
    reason = (doc.get("reauth") or {}).get("reason") or doc.get("last_error") or ""
    problems.append(f"re-auth needed: {reason}".rstrip(": "))
showing = doc.get("showing") or {}
if showing.get("screen") == "message":
    problems.append(f"the display shows: {showing.get('message')}")
if not doc.get("error") and not doc.get("frames_shown"):
    problems.append("no frame drawn yet")
if not doc.get("error") and doc.get("last_poll_ok_at") is None:
    problems.append(
        f"the source has not answered yet (last error: {doc.get('last_error')})"
        if doc.get("last_error")
        else "the source has not answered yet"
    )
ok = not problems and bool(doc.get("healthy"))
print(json.dumps({"ok": ok, "reason": "; ".join(problems), "showing": showing}))
sys.exit(0 if ok else 1)
