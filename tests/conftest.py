"""Settings for the whole suite: per-test timeouts and hypothesis profiles.

- Every test has a timeout (pyproject.toml: ``timeout``, 60 s). Tests under tests/boards and
  tests/playbooks are marked ``slow``: they run ansible-playbook or boot simulated boards, and a
  module fixture's playbook run (a minute on a loaded machine) counts against the first test
  that uses it. A slow test gets ``SLOW_TIMEOUT_S`` unless it sets its own with
  ``@pytest.mark.timeout(N)``; mark a slow test elsewhere with ``@pytest.mark.slow``.
- ``HYPOTHESIS_PROFILE=ci`` (set by .ci/run): no deadline (the machine is shared, a slow example
  is not a bug) and no example database, the same examples every run.
  ``HYPOTHESIS_PROFILE=mutation`` (set by ``make mutation``): also fewer examples per property,
  so each mutant's run stays short; explicit ``@settings(max_examples=...)`` still win.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

SLOW_TIMEOUT_S = 600
SLOW_DIRS = ("boards", "playbooks")  # under tests/
TESTS = os.path.dirname(os.path.abspath(__file__))

settings.register_profile("ci", deadline=None, database=None, derandomize=True)
settings.register_profile(
    "mutation", deadline=None, database=None, derandomize=True, max_examples=30
)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        top = os.path.relpath(str(item.path), TESTS).split(os.sep)[0]
        if top in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
