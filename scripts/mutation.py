#!/usr/bin/env python3
"""Mutation testing of the app's core modules and the board client with cosmic-ray.

    make mutation            every module, one after the other
    make mutation M=schedule one module (several: M="schedule status")
    make mutation M=schedule MUTATION_ARGS=--survivors
                             only the last run's survivors again, after adding tests
    make mutation MUTATION_ARGS=--report-only
                             the figures of the finished runs, nothing run

Each module is mutated in a scratch copy of the work tree (.cache/mutation/<module>/tree), so the
work tree is never touched and an interrupted run leaves nothing behind. Every mutant runs only
the tests that cover its module (MODULES below), with a per-mutant timeout; a timeout counts as
killed. Results: .cache/mutation/<module>.md (the figures and every survivor's diff) and
.cache/mutation/summary.md (the table for docs/testing.md).

cosmic-ray lives in its own venv (.cache/mutation/venv, requirements-mutation.txt: its pins
conflict with the project's), and runs the tests with the project's venv (the interpreter that
runs this script).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mutation_skip import annotation_spans

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "mutation"
CR_BIN = CACHE / "venv" / "bin"


@dataclass(frozen=True)
class Module:
    path: str  # the file mutated, relative to the repository
    tests: tuple[str, ...]  # globs of the tests that cover it (only those: CPU is shared)
    timeout: float  # seconds per mutant; a mutant running longer is killed (counted as killed)


APP = "app/src/needledrop"
# Fault-handling tests, whichever module they are about (the fault-handling work added
# test_atomic_writes.py, test_rate_limit.py and test_token_cache_faults.py).
FAULTS = ("tests/app/test_*fault*.py", "tests/app/test_atomic*.py", "tests/app/test_rate_limit*.py")
CONFIG_TESTS = (
    "tests/app/test_config.py",
    "tests/app/test_config_[!f]*.py",
    "tests/app/test_config*.py",
)
MODULES: dict[str, Module] = {
    "schedule": Module(f"{APP}/schedule.py", ("tests/app/test_schedule*.py",), 60),
    "status": Module(
        f"{APP}/status.py", ("tests/app/test_status*.py", "tests/app/test_rate_limit*.py"), 60
    ),
    "files": Module(
        f"{APP}/files.py",
        ("tests/app/test_files*.py", *FAULTS, "tests/app/test_status*.py"),
        60,
    ),
    # The fuzz file last: a few seconds of hypothesis, run only for mutants the fast example
    # and boundary tables miss.
    "config": Module(f"{APP}/config.py", CONFIG_TESTS, 60),
    "settings": Module(f"{APP}/settings.py", CONFIG_TESTS, 60),
    "spotify": Module(f"{APP}/spotify.py", ("tests/app/test_spotify*.py", *FAULTS), 90),
    "runner": Module(f"{APP}/runner.py", ("tests/app/test_runner*.py", *FAULTS), 90),
    "board": Module(
        "roles/circuitpython/files/board/needledrop_spotify.py",
        (
            "tests/boards/test_token_store.py",
            "tests/boards/test_board_client.py",
            "tests/boards/test_board_*.py",
        ),
        240,
    ),
}

# Small plausible bugs, one at a time (the kinds mutmut makes): a boundary moved (< for <=),
# an operator flipped to its neighbour, a number or a boolean changed, a condition negated, an
# `and` for an `or`, a loop that never runs, an except clause that no longer catches, a decorator
# dropped. Left out: each arithmetic or comparison operator swapped for every other one (mostly
# nonsense like + for <<, which multiplies the count by ten without telling more) and cosmic-ray's
# VariableReplacer/VariableInserter (random names).
KEPT = (
    r"ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Div_FloorDiv|Mod_Div"
    r"|Pow_Mul|LShift_RShift|RShift_LShift|BitOr_BitAnd|BitAnd_BitOr|BitXor_BitOr)",
    r"ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot|IsNot_Is"
    r"|In_NotIn|NotIn_In)",
    r"ReplaceUnaryOperator_(USub_UAdd|Delete_Not|Delete_USub)",
    r"AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd",
    r"ReplaceBreakWithContinue|ReplaceContinueWithBreak|ExceptionReplacer|NumberReplacer",
    r"ZeroIterationForLoop|RemoveDecorator",
)
EXCLUDE = r"core/(?!(" + "|".join(KEPT) + r")$).*"


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def scratch_tree(dest: Path) -> None:
    """The tracked and new (not ignored) files of the work tree, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = REPO / rel
        if not src.is_file():  # deleted but still in the index
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def cr(*args: str, cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(
            [str(CR_BIN / args[0]), *args[1:]], cwd=cwd, env=env, stdout=out, stderr=out
        )
    if proc.returncode != 0:
        sys.exit(f"mutation: `{' '.join(args)}` failed (exit {proc.returncode}); see {log}")


def run_module(name: str, module: Module, survivors_only: bool = False) -> dict[str, object]:
    """Mutate one module and run its tests against each mutant. ``survivors_only``: run only
    the mutants that survived the last run (after tests were added; killed ones stay killed)."""
    work = CACHE / name
    session = work / "session.sqlite"
    if survivors_only:
        if not (work / "source.py").exists():
            sys.exit(f"mutation: no finished run of {name} to continue; run it in full first")
        shutil.rmtree(work / "tree", ignore_errors=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    tree = work / "tree"
    scratch_tree(tree)
    if survivors_only and (tree / module.path).read_bytes() != (work / "source.py").read_bytes():
        sys.exit(f"mutation: {module.path} changed since the last run; run {name} in full")
    # In the order given (fast tests first: pytest -x stops at the first failure), once each.
    found = [str(p.relative_to(tree)) for g in module.tests for p in sorted(tree.glob(g))]
    tests = list(dict.fromkeys(found))
    if not tests:
        sys.exit(f"mutation: no test file matches {', '.join(module.tests)}")
    pytest = (
        f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p _hypothesis_pytestplugin "
        f"-p pytest_timeout --timeout={int(module.timeout)} " + " ".join(tests)
    )
    config = work / "cosmic-ray.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {toml_str(module.path)}\n"
        f"timeout = {float(module.timeout)}\n"
        "excluded-modules = []\n"
        f"test-command = {toml_str(pytest)}\n\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{toml_str(EXCLUDE)}]\n"
    )
    env = dict(os.environ)
    for var in ("PYTEST_ADDOPTS", "UPDATE_GOLDEN", "S"):
        env.pop(var, None)
    # The copy's app, not the editable install's (which points at the work tree).
    env["PYTHONPATH"] = str(tree / "app" / "src")
    # A second less per mutant: only the two plugins the tests use (the venv also holds
    # molecule's and ansible's), and fewer, fixed hypothesis examples (tests/conftest.py).
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["HYPOTHESIS_PROFILE"] = "mutation"
    # The board tests' drive: written by the playbook in the baseline run, reused by each mutant.
    env["NEEDLEDROP_TEST_BOARD_DRIVE"] = str(work / "board-drive")
    log = work / "cosmic-ray.log"
    start = time.monotonic()
    if survivors_only:
        with sqlite3.connect(session) as db:
            db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
        before = float((work / "seconds").read_text())
    else:
        before = 0.0
        cr("cosmic-ray", "init", str(config), str(session), cwd=tree, env=env, log=log)
        cr("cr-filter-operators", str(session), str(config), cwd=tree, env=env, log=log)
    skip = str(Path(__file__).with_name("mutation_skip.py"))
    cr("python", skip, str(session), module.path, cwd=tree, env=env, log=log)
    cr("cosmic-ray", "baseline", str(config), cwd=tree, env=env, log=log)
    cr("cosmic-ray", "exec", str(config), str(session), cwd=tree, env=env, log=log)
    seconds = before + time.monotonic() - start
    shutil.copy2(tree / module.path, work / "source.py")  # the tree goes; the report needs this
    (work / "seconds").write_text(f"{seconds:.0f}\n")
    return report(name, module)


def report(name: str, module: Module) -> dict[str, object]:
    """Figures and survivors of the module's finished session (.cache/mutation/<module>/)."""
    work = CACHE / name
    session = work / "session.sqlite"
    seconds = float((work / "seconds").read_text())
    spans = annotation_spans((work / "source.py").read_text(encoding="utf-8"))
    dump = subprocess.run(
        [str(CR_BIN / "cosmic-ray"), "dump", str(session)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    killed = survived = incompetent = timeouts = 0
    survivors: list[str] = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None or result["worker_outcome"] == "skipped":
            continue
        pos = tuple(item["mutations"][0]["start_pos"])
        if any(start <= pos < end for start, end in spans):
            continue  # in an annotation (a session made before mutation_skip.py)
        outcome = result["test_outcome"]
        if outcome == "killed":
            killed += 1
            timeouts += result.get("output") == "timeout"
        elif outcome == "survived":
            survived += 1
            for mutation in item["mutations"]:
                line_no = mutation["start_pos"][0]
                survivors.append(
                    f"### {Path(mutation['module_path']).name}:{line_no} "
                    f"{mutation['operator_name'].removeprefix('core/')} "
                    f"#{mutation['occurrence']}\n\n```diff\n{result.get('diff', '').strip()}\n```\n"
                )
        else:
            incompetent += 1
    total = killed + survived
    percent = 100.0 * killed / total if total else 0.0
    figures = {
        "module": name,
        "path": module.path,
        "killed": killed,
        "total": total,
        "percent": percent,
        "timeouts": timeouts,
        "incompetent": incompetent,
        "seconds": round(seconds),
    }
    text = (
        f"# {name} ({module.path})\n\n"
        f"killed {killed} of {total} mutants ({percent:.1f} %), {timeouts} of them by timeout; "
        f"{incompetent} incompetent (not counted); {seconds:.0f} s\n"
        f"tests: {', '.join(module.tests)}\n\n## Survivors\n\n" + "\n".join(survivors)
    )
    (CACHE / f"{name}.md").write_text(text)
    (CACHE / f"{name}.json").write_text(json.dumps(figures))
    return figures


def summary() -> str:
    rows = ["| module | killed | total | killed % | time |", "| --- | ---: | ---: | ---: | ---: |"]
    for name in MODULES:
        figures_file = CACHE / f"{name}.json"
        if not figures_file.exists():
            continue
        f = json.loads(figures_file.read_text())
        rows.append(
            f"| `{f['path']}` | {f['killed']} | {f['total']} | {f['percent']:.1f} % "
            f"| {f['seconds']} s |"
        )
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(MODULES)} (default all)")
    parser.add_argument("--goal", type=float, default=85.0, help="percent killed to pass")
    parser.add_argument(
        "--report-only", action="store_true", help="report finished sessions, run nothing"
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run only the last run's survivors again (after adding tests; the module unchanged)",
    )
    args = parser.parse_args()
    names = args.modules or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}: choose from {', '.join(MODULES)}")
    if not args.report_only and not (CR_BIN / "cosmic-ray").exists():
        sys.exit("mutation: cosmic-ray is not installed; run `make mutation` (it installs it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    below = []
    for name in names:
        if args.report_only:
            if not (CACHE / name / "seconds").exists():
                continue
            f = report(name, MODULES[name])
        else:
            print(f"mutation: {name} ({MODULES[name].path}) ...", flush=True)
            f = run_module(name, MODULES[name], survivors_only=args.survivors)
        print(
            f"mutation: {name}: killed {f['killed']}/{f['total']} = {f['percent']:.1f} % "
            f"in {f['seconds']} s (survivors: .cache/mutation/{name}.md)",
            flush=True,
        )
        if f["percent"] < args.goal:
            below.append(name)
        shutil.rmtree(CACHE / name / "tree", ignore_errors=True)
    table = summary()
    (CACHE / "summary.md").write_text(table)
    print(table, end="")
    if below:
        print(f"mutation: below {args.goal:.0f} %: {', '.join(below)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
