"""Every tag a role's README documents selects that step's tasks (issue 15, item 5).

Roles and their documented tags are discovered (roles/*/README.md, "Tags:" paragraph), so a
role that lands later is tested as soon as it documents its tags. Real runs: the roles that
run on the controller here (boards on FAT images, the wheelhouse); the roles that need a Pi
are run tag by tag against containers by molecule/check (tests/playbooks/tag_runs.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import roletags
from roletags import ROLES, RoleTasks, documented_tags

sys.path.insert(0, str(roletags.TOP / "tests" / "boards"))
sys.path.insert(0, str(roletags.TOP / "roles" / "circuitpython" / "module_utils"))

DOCUMENTED = [(role, tag) for role in ROLES for tag in documented_tags(role)]


def _list(tmp_path: Path, role: str, *args: str) -> str:
    playbook = roletags.role_playbook(tmp_path, role)
    listed = roletags.ansible(
        "ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook), *args
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return listed.stdout


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_the_role_tags_prefixed_with_the_role_name(role: str) -> None:
    assert role in documented_tags(role), f"roles/{role}/README.md: no 'Tags:' naming `{role}`"
    foreign = [w for w in roletags.tags_paragraph(role) if ":" in w and not w.startswith(role)]
    assert not foreign, f"tags not prefixed with {role}: {foreign}"


@pytest.mark.parametrize(("role", "tag"), DOCUMENTED)
def test_documented_tag_lists_exactly_its_steps_tasks(tmp_path: Path, role: str, tag: str) -> None:
    tasks = RoleTasks.load(role)
    chosen = tasks.selected(tag)
    includes = {"ansible.builtin.include_tasks", "include_tasks"}
    work = [t.name for t in chosen if not includes & set(t.body)]
    assert work, f"--tags {tag} selects no task of {role} (an include without apply?)"
    listed = roletags.listed_tasks(_list(tmp_path, role, "--list-tasks", "--tags", tag), role)
    assert listed == tasks.listed(tag)


@pytest.mark.parametrize(("role", "tag"), DOCUMENTED)
def test_documented_tag_runs_every_step_it_needs(role: str, tag: str) -> None:
    """A step's tasks use only facts the tasks the tag selects set (or vars/main.yml)."""
    chosen = RoleTasks.load(role).selected(tag)
    missing = roletags.missing_facts(role, chosen)
    assert not missing, f"--tags {tag} runs tasks needing {sorted(missing)} from untagged steps"


@pytest.mark.parametrize("role", ROLES)
def test_every_tag_of_the_role_is_documented(tmp_path: Path, role: str) -> None:
    static = roletags.listed_tags(_list(tmp_path, role, "--list-tags"))
    dynamic = {tag for task in RoleTasks.load(role).tasks for tag in task.tags}
    ours = {t for t in static | dynamic if t == role or t.startswith(role + ":")}
    assert ours <= set(documented_tags(role)), ours - set(documented_tags(role))


def test_fact_check_notices_a_step_cut_off_from_its_probe() -> None:
    """The dependency check itself can fail: a task using a fact no selected task sets."""
    use = roletags.Task("Use it", {"x"}, {"ansible.builtin.debug": {"msg": "{{ demo__fact }}"}})
    assert roletags.missing_facts("demo", [use]) == {"demo__fact"}
    make = roletags.Task("Set it", {"x"}, {"ansible.builtin.set_fact": {"demo__fact": 1}})
    assert roletags.missing_facts("demo", [make, use]) == set()


# ---- real runs on the controller -----------------------------------------------------------


def _run_tags(tmp_path: Path, role: str, tag: str) -> tuple[int, str]:
    if role == "circuitpython":
        from boardsim import S3, board_host, fat_board, run_playbook

        image = fat_board(tmp_path / "board.img", "9.2.1", S3, "A1B2C3D4E5F6")
        run = run_playbook(
            tmp_path,
            {"board": board_host(circuitpython_drive_paths=[str(image)])},
            args=("--tags", tag),
        )
        return run.rc, run.output
    playbook = roletags.role_playbook(tmp_path, role, hosts="localhost")
    ran = roletags.ansible(
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "--check",  # the wheelhouse: no download from PyPI for a tag test
        "-e",
        f"{role}_dir={tmp_path / 'wheelhouse'}",
        "-e",
        '{"wheelhouse_targets": ["amd64-py3.11"]}',
        str(playbook),
        "--tags",
        tag,
        env={"ANSIBLE_PYTHON_INTERPRETER": sys.executable},
    )
    return ran.returncode, ran.stdout + ran.stderr


LOCAL = [(role, tag) for role, tag in DOCUMENTED if role in ("circuitpython", "wheelhouse")]


@pytest.mark.parametrize(("role", "tag"), LOCAL)
def test_a_run_with_the_tag_runs_exactly_its_tasks(tmp_path: Path, role: str, tag: str) -> None:
    rc, output = _run_tags(tmp_path, role, tag)
    assert rc == 0, output[-3000:]
    unexpected, never = roletags.compare_run(output, role, tag)
    assert not unexpected and not never, (unexpected, never)


def test_tasks_of_an_include_the_run_skipped_are_not_expected() -> None:
    """A step whose include_tasks was skipped by its `when` (e.g. matrix_app in --check on a
    display the earlier roles have not set up yet) runs none of its tasks; one that was
    included must run them all."""
    via = {t.via for t in RoleTasks.load("matrix_app").selected("matrix_app:service")} - {None}
    assert via, "matrix_app:service selects no task inside an include_tasks"
    step = sorted(via)[-1]
    banner = f"TASK [matrix_app : {step}] ****\n"
    skipped = roletags.expected_banners("matrix_app", "matrix_app:service", {step})
    included = roletags.expected_banners("matrix_app", "matrix_app:service")
    assert len(skipped) < len(included)
    assert roletags.skipped_includes(banner + "skipping: [pi]\n", "matrix_app") == {step}
    assert roletags.skipped_includes(banner + "included: x.yml for pi\n", "matrix_app") == set()
