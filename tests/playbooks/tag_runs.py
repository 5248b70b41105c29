"""Run a playbook once per documented tag of each of its roles, and compare what ran.

molecule/check runs this against its containers (the roles that need a Pi); test_tags.py
does the same for the roles that run on the controller. Every run is --check: it proves
which tasks a tag selects and that they run without the facts of unselected steps.

    python tests/playbooks/tag_runs.py PLAYBOOK -- ANSIBLE-PLAYBOOK-ARGS...
Exit 0 when every documented tag ran exactly its tasks; 1 with a list of what differed.
"""

from __future__ import annotations

import subprocess
import sys
import time

import roletags


def _start(playbook: str, tag: str, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(roletags.BIN / "ansible-playbook"), *extra, "--check", "--tags", tag, playbook],
        cwd=roletags.TOP,
        env=roletags.ansible_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(role: str, tag: str, proc: subprocess.Popen) -> tuple[str, str, int, str]:
    output = proc.communicate(timeout=900)[0]
    return role, tag, proc.returncode, output


def main(argv: list[str]) -> int:
    playbook, extra = argv[0], argv[argv.index("--") + 1 :] if "--" in argv else []
    jobs = [
        (role, tag)
        for role in sorted(roletags.roles_of(roletags.TOP / playbook))
        for tag in roletags.documented_tags(role)
    ]
    started = time.monotonic()
    results = []
    running: list[tuple[str, str, subprocess.Popen]] = []
    for role, tag in jobs:
        running.append((role, tag, _start(playbook, tag, extra)))
        if len(running) == 3:  # two cores: a few runs at a time
            results.append(_finish(*running.pop(0)))
    results += [_finish(*job) for job in running]
    problems = []
    for role, tag, rc, output in results:
        unexpected, never = roletags.compare_run(output, role, tag)
        ran = len(roletags.ran_tasks(output, role))
        print(f"{tag:28} rc={rc} {ran:3} tasks of {role} ran")
        if rc != 0 or unexpected or never or not ran:
            problems.append((tag, rc, unexpected, never, output[-2500:]))
    print(f"{len(jobs)} tag runs of {playbook} in {time.monotonic() - started:.0f} s")
    for tag, rc, unexpected, never, tail in problems:
        print(f"--- {tag}: rc {rc}; ran but not selected {unexpected}; selected, never ran {never}")
        print(tail)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
