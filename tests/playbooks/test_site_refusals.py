"""Bad input stops site.yml before any host is touched, with a message naming the variable and
the fix.

The displays of the throwaway inventory are SSH hosts on a closed loopback port: contacting one
at all would show as UNREACHABLE. So a run that fails with the expected message, no host
unreachable and no host changed has stopped in the input checks (the first play of
playbooks/displays.yml, on the controller) before any role reached a host. The control: the same
inventory with good input gets past the checks and does try to reach the hosts. The wheelhouse
play is skipped (--skip-tags wheelhouse): it downloads from PyPI and touches only the controller.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from credentials_harness import (
    BIN,
    CASES,
    GOOD,
    PLAIN_ACCOUNTS,
    TOP,
    VAULT_PASSWORD,
    parse_recap,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DISPLAY = {
    # Nothing listens on port 1 of loopback: any contact with the host fails as UNREACHABLE.
    "ansible_host": "127.0.0.1",
    "ansible_port": 1,
    "ansible_user": "pi",
    "ansible_connection": "ssh",
    "rgb_matrix_rows": 32,
    "rgb_matrix_cols": 64,
    "matrix_app_backend": "png",
}


@dataclass
class SiteRun:
    rc: int
    output: str
    flat: str  # whitespace folded: messages may wrap
    recap: dict[str, dict[str, int]]


def run_site(
    root: Path,
    displays: dict[str, dict],
    vault: dict[str, str] = GOOD,
    accounts: dict | None = None,
) -> SiteRun:
    """site.yml against `displays` (name -> host vars over DISPLAY), the accounts in a vault."""
    inv = root / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (root / "vault-pass").write_text(VAULT_PASSWORD + "\n")
    vault_file = inv / "group_vars" / "all" / "vault.yml"
    vault_file.write_text(yaml.safe_dump(vault))
    vault_id = f"fleet@{root / 'vault-pass'}"
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", "--vault-id", vault_id, str(vault_file)],
        check=True,
        capture_output=True,
    )
    plain = {"spotify_accounts": PLAIN_ACCOUNTS if accounts is None else accounts}
    (inv / "group_vars" / "all" / "vars.yml").write_text(yaml.safe_dump(plain))
    hosts = {name: {**DISPLAY, **over} for name, over in displays.items()}
    (inv / "hosts.yml").write_text(
        yaml.safe_dump({"displays": {"hosts": hosts}, "boards": {"hosts": {}}})
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inv / "hosts.yml"), "--vault-id", vault_id]
        + ["--skip-tags", "wheelhouse", "-e", json.dumps({"ansible_ssh_timeout": 5})]
        + [str(TOP / "site.yml")],
        cwd=TOP,
        env=env,
        capture_output=True,
        text=True,
    )
    output = done.stdout + done.stderr
    return SiteRun(done.returncode, output, " ".join(output.split()), parse_recap(output))


def assert_refused_before_any_host(run: SiteRun, hosts: list[str]) -> None:
    assert run.rc == 2, run.output[-3000:]
    assert "Traceback" not in run.output
    assert "UNREACHABLE" not in run.output, run.output[-3000:]
    assert "Gathering Facts" not in run.output
    for host in hosts:
        assert run.recap[host]["changed"] == 0
        assert run.recap[host]["unreachable"] == 0
        assert run.recap[host]["failed"] == 1, run.recap


def test_good_input_passes_the_checks_and_reaches_for_the_hosts(tmp_path: Path) -> None:
    """The control: with nothing wrong, the play goes on and does contact the hosts."""
    run = run_site(tmp_path, {"kitchen": {}})
    assert run.rc != 0
    assert "UNREACHABLE" in run.output, run.output[-3000:]
    assert run.recap["kitchen"]["unreachable"] == 1


# The spotify_credentials role's own bad-input cases (tests/playbooks/credentials_harness.py),
# now through site.yml, and the app's: as (vault, accounts, host vars, message).
SITE_CASES = {
    "missing vault variable": CASES["missing vault variable"],
    "a display naming an unknown account": CASES["unknown account"],
    "token JSON without refresh_token": CASES["token without refresh_token"],
    "non-loopback http redirect URI": CASES["non-loopback http redirect"],
    "unknown backend": (
        GOOD,
        None,
        {"matrix_app_backend": "lcd"},
        r"matrix_app_backend must be one of: rgbmatrix, png, emulator, got: lcd",
    ),
    "a panel the app can't drive": (
        GOOD,
        None,
        {"rgb_matrix_rows": 128},
        r"kitchen: the needledrop app cannot use this config \(.*matrix\.rows: must be an even "
        r"integer from 8 to 64, not 128\); "
        r"fix rgb_matrix_rows in the inventory",
    ),
}


@pytest.mark.parametrize("case", list(SITE_CASES))
def test_bad_input_stops_site_yml_before_any_host_naming_the_fix(tmp_path: Path, case: str):
    vault, accounts, host_vars, message = SITE_CASES[case]
    run = run_site(tmp_path, {"kitchen": host_vars}, vault, accounts)
    assert_refused_before_any_host(run, ["kitchen"])
    assert re.search(message, run.flat), run.flat[-3000:]


# Panels outside what the app drives: (variable, value) pairs from each limit's wrong side.
BAD_PANELS = st.one_of(
    st.tuples(st.just("rows"), st.integers(65, 512) | st.integers(-8, 7)),
    st.tuples(st.just("rows"), st.integers(4, 31).map(lambda n: 2 * n + 1)),
    st.tuples(st.just("cols"), st.integers(1025, 9999) | st.integers(-4, 15)),
    st.tuples(st.just("chain_length"), st.integers(33, 999) | st.integers(-3, 0)),
    st.tuples(st.just("parallel"), st.integers(7, 99) | st.integers(-3, 0)),
    st.tuples(st.just("pwm_bits"), st.integers(12, 64) | st.integers(-3, 0)),
    st.tuples(st.just("brightness"), st.integers(101, 1000) | st.integers(-3, 0)),
    st.tuples(st.just("gpio_slowdown"), st.integers(11, 99) | st.integers(-9, -2)),
)


@pytest.mark.timeout(900)
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(panels=st.lists(BAD_PANELS, min_size=3, max_size=3))
def test_every_panel_out_of_limits_stops_site_yml_naming_its_variable(
    tmp_path_factory: pytest.TempPathFactory, panels: list[tuple[str, int]]
) -> None:
    """Three displays per run, each with another panel value the app refuses."""
    displays = {f"d{i}": {f"rgb_matrix_{key}": value} for i, (key, value) in enumerate(panels)}
    run = run_site(tmp_path_factory.mktemp("site"), displays)
    assert_refused_before_any_host(run, list(displays))
    for name, (key, _) in zip(displays, panels, strict=True):
        said = re.search(
            rf"{name}: the needledrop app cannot use this config \((.*?)\); fix (\S+)", run.flat
        )
        assert said, run.flat[-3000:]
        assert said.group(2) == f"rgb_matrix_{key}", said.group(0)


# http redirect hosts that are not loopback: names, and IPv4 addresses outside 127.0.0.0/8.
NON_LOOPBACK = st.from_regex(r"\A[a-z][a-z0-9]{0,10}(\.[a-z]{2,6}){0,2}\Z").filter(
    lambda h: h != "localhost"
) | st.tuples(st.integers(1, 223).filter(lambda a: a != 127), *[st.integers(0, 255)] * 3).map(
    lambda t: ".".join(map(str, t))
)


@pytest.mark.timeout(900)
@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hosts=st.lists(NON_LOOPBACK, min_size=3, max_size=3), port=st.integers(1, 65535))
def test_every_non_loopback_http_redirect_stops_site_yml(
    tmp_path_factory: pytest.TempPathFactory, hosts: list[str], port: int
) -> None:
    """Three accounts per run, one per display, each redirecting to another non-loopback host."""
    accounts = {
        f"a{i}": {**PLAIN_ACCOUNTS["home"], "redirect_uri": f"http://{h}:{port}/callback"}
        for i, h in enumerate(hosts)
    }
    displays = {f"d{i}": {"spotify_account": f"a{i}"} for i in range(len(hosts))}
    run = run_site(tmp_path_factory.mktemp("site"), displays, GOOD, accounts)
    assert_refused_before_any_host(run, list(displays))
    for i in range(len(hosts)):
        assert re.search(
            rf"spotify_accounts\.a{i}\.redirect_uri may use http only on a loopback address",
            run.flat,
        ), run.flat[-3000:]
