"""What a role's README says about its tags, and what its task files make of them.

Shared by test_tags.py (every role, every documented tag) and tag_runs.py (real runs against
the molecule check scenario's hosts). Roles and playbooks are discovered, never listed, so a
role that lands later is covered as soon as it has a README and tasks/main.yml.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TOP = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLES = sorted(p.parent.parent.name for p in (TOP / "roles").glob("*/tasks/main.yml"))
PLAYBOOKS = sorted(
    str(p.relative_to(TOP)) for p in [*(TOP / "playbooks").glob("*.yml"), TOP / "site.yml"]
)

_BANNER = re.compile(r"^TASK \[(?P<role>[\w.-]+) : (?P<name>.*?)\] \**\s*$", re.MULTILINE)
_LISTED = re.compile(r"^\s+(?P<role>[\w.-]+) : (?P<name>.*?)\tTAGS: \[(?P<tags>.*)\]$", re.M)
ARGSPEC = "Validating arguments against arg spec"


def tags_paragraph(role: str) -> list[str]:
    """The backticked words of the README's "Tags:" paragraph (empty when there is none)."""
    text = (TOP / "roles" / role / "README.md").read_text()
    match = re.search(r"^Tags:(.*?)(?:\n\s*\n|\Z)", text, re.MULTILINE | re.DOTALL)
    return re.findall(r"`([^`\s]+)`", match.group(1)) if match else []


def documented_tags(role: str) -> list[str]:
    """The tags the README documents: the role's name, and role:step names."""
    return [w for w in tags_paragraph(role) if w == role or w.startswith(role + ":")]


@dataclass
class Task:
    name: str
    tags: set[str]
    body: dict
    # Inside an include_tasks: a run shows it, --list-tasks doesn't; it runs only when the
    # include itself (tagged `gate`) is selected.
    gate: set[str] | None = None
    # In a block's rescue: runs only after a failure, and --list-tasks doesn't show it.
    rescue: bool = False
    # The include_tasks whose file holds it: its tasks run only when the include is not skipped.
    via: str | None = None


@dataclass
class RoleTasks:
    role: str
    tasks: list[Task] = field(default_factory=list)

    @classmethod
    def load(cls, role: str) -> RoleTasks:
        found = cls(role)
        found._walk(found._read("main.yml"), set(), None, {}, False)
        return found

    def _read(self, file: str) -> list[dict]:
        return yaml.safe_load((TOP / "roles" / self.role / "tasks" / file).read_text()) or []

    def _walk(
        self,
        items: list[dict],
        tags: set[str],
        gate,
        block: dict,
        rescue: bool,
        via: str | None = None,
    ) -> None:
        for item in items:
            own = tags | set(item.get("tags", []))
            if "block" in item:
                outer = {k: v for k, v in item.items() if k not in ("block", "rescue", "always")}
                for key in ("block", "rescue", "always"):
                    self._walk(
                        item.get(key, []),
                        own,
                        gate,
                        {**block, **outer},
                        rescue or key == "rescue",
                        via,
                    )
                continue
            spec = next(
                (
                    (kind, item.get(f"ansible.builtin.{kind}", item.get(kind)))
                    for kind in ("import_tasks", "include_tasks")
                    if f"ansible.builtin.{kind}" in item or kind in item
                ),
                None,
            )
            if spec is None:
                self.tasks.append(Task(item["name"], own, {**block, **item}, gate, rescue, via))
                continue
            kind, args = spec
            file = args if isinstance(args, str) else args["file"]
            if kind == "import_tasks":
                self._walk(self._read(file), own, gate, block, rescue, via)
                continue
            self.tasks.append(Task(item["name"], own, {**block, **item}, gate, rescue, via))
            # A dynamic include hands on only its apply tags.
            apply = (args.get("apply") if isinstance(args, dict) else None) or {}
            applied = set(apply.get("tags", []))
            self._walk(
                self._read(file),
                applied,
                own if gate is None else own & gate,
                block,
                rescue,
                item["name"],
            )

    def selected(self, tag: str) -> list[Task]:
        """Tasks a run with --tags TAG executes."""
        return [t for t in self.tasks if tag in t.tags and (t.gate is None or tag in t.gate)]

    def listed(self, tag: str) -> list[str]:
        """What --list-tasks --tags TAG should show: the selected static tasks."""
        return [t.name for t in self.selected(tag) if t.gate is None and not t.rescue]


def internal_names(role: str, text: str) -> set[str]:
    return set(re.findall(rf"\b{re.escape(role)}__\w+", text))


def missing_facts(role: str, tasks: list[Task]) -> set[str]:
    """Internal (role__x) names the tasks use that neither they nor vars/main.yml define."""
    role_dir = TOP / "roles" / role
    var_file = role_dir / "vars" / "main.yml"
    role_vars = yaml.safe_load(var_file.read_text()) or {} if var_file.exists() else {}
    defined: set[str] = set()
    used: set[str] = set()
    notified = False
    for task in tasks:
        body = task.body
        for key, value in body.items():
            if key.endswith("set_fact") and isinstance(value, dict):
                defined |= set(value)
        if "register" in body:
            defined.add(body["register"])
        if "loop_control" in body:
            defined.add(body["loop_control"].get("loop_var", "item"))
        text = yaml.safe_dump(body)
        for key, value in body.items():
            if key.endswith("template") and isinstance(value, dict) and "src" in value:
                text += (role_dir / "templates" / value["src"]).read_text()
        used |= internal_names(role, text)
        notified |= "notify" in body
    handlers = role_dir / "handlers" / "main.yml"
    if notified and handlers.exists():
        used |= internal_names(role, handlers.read_text())
        # a handler may use what an earlier handler of the same notification registered
        for handler in yaml.safe_load(handlers.read_text()) or []:
            if "register" in handler:
                defined.add(handler["register"])
    # vars/main.yml values may name facts in turn
    todo = [name for name in used if name in role_vars]
    while todo:
        name = todo.pop()
        for ref in internal_names(role, yaml.safe_dump(role_vars[name])):
            if ref not in used:
                used.add(ref)
                if ref in role_vars:
                    todo.append(ref)
    return used - defined - set(role_vars)


def ansible_env(**extra: str) -> dict:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{BIN}:{os.environ['PATH']}",
        **extra,
    }


def ansible(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=TOP,
        env=ansible_env(**(env or {})),
        text=True,
        capture_output=True,
        check=False,
        timeout=timeout,
    )


def listed_tasks(output: str, role: str) -> list[str]:
    """Task names --list-tasks printed for a role (the argument-spec check left out)."""
    return [
        m["name"]
        for m in _LISTED.finditer(output)
        if m["role"] == role and not m["name"].startswith(ARGSPEC)
    ]


def listed_tags(output: str) -> set[str]:
    tags = re.findall(r"TASK TAGS: \[(.*)\]", output)
    return {t.strip() for line in tags for t in line.split(",") if t.strip()}


def ran_tasks(output: str, role: str) -> list[str]:
    """Task banners a run printed for a role (skipped tasks print theirs too)."""
    return [
        m["name"]
        for m in _BANNER.finditer(output)
        if m["role"] == role and not m["name"].startswith(ARGSPEC)
    ]


def role_playbook(directory: Path, role: str, hosts: str = "all") -> Path:
    """A one-play playbook that applies just this role."""
    path = directory / f"only-{role}.yml"
    path.write_text(
        yaml.safe_dump(
            [
                {
                    "name": f"Only {role}",
                    "hosts": hosts,
                    "gather_facts": False,
                    "roles": [{"role": role}],
                }
            ]
        )
    )
    return path


def roles_of(playbook: Path) -> set[str]:
    """The roles a playbook applies, through import_playbook."""
    found: set[str] = set()
    for play in yaml.safe_load(playbook.read_text()) or []:
        child = play.get("ansible.builtin.import_playbook", play.get("import_playbook"))
        if child:
            found |= roles_of(playbook.parent / child)
        for role in play.get("roles", []):
            found.add(role["role"] if isinstance(role, dict) else role)
    return found


def skipped_includes(output: str, role: str) -> set[str]:
    """Names of the role's include_tasks a run skipped (its `when` was false on every host).

    An include that one play skips but another included (displays.yml validates and builds in
    a play of its own, and the batched play skips those includes) is not skipped."""
    skipped, included = set(), set()
    for m in _BANNER.finditer(output):
        if m["role"] == role:
            after = output[m.end() :].split("\nTASK [", 1)[0]
            if "included:" in after:
                included.add(m["name"])
            elif "skipping:" in after:
                skipped.add(m["name"])
    return skipped - included


def expected_banners(
    role: str, tag: str, skipped: set[str] | frozenset[str] = frozenset()
) -> list[re.Pattern[str]]:
    """The task banners a run with --tags TAG prints for the role (templated names as .*);
    none of the files whose include the run skipped."""
    names = [
        t.name
        for t in RoleTasks.load(role).selected(tag)
        if not t.rescue and (t.via is None or t.via not in skipped)
    ]
    return [re.compile(re.sub(r"\\\{\\\{.*?\\\}\\\}", ".*", re.escape(n)) + "$") for n in names]


def compare_run(output: str, role: str, tag: str) -> tuple[list[str], list[str]]:
    """(tasks that ran but the tag does not select, selected tasks that never ran)."""
    ran = ran_tasks(output, role)
    expected = expected_banners(role, tag, skipped_includes(output, role))
    unexpected = [n for n in ran if not any(p.match(n) for p in expected)]
    never = [p.pattern for p in expected if not any(p.match(n) for n in ran)]
    return unexpected, never
