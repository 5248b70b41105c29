"""The health gate's retry counts template for every way a user sets the timeout.

`-e matrix_app_health_timeout=20` reaches the handlers as the string "20" (key=value extra vars
are strings); the gate must wait the same as for the integer 20, not fail its own task.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as hs
from test_matrix_app_panel import APP_ROLE, _templar, _trusted

HANDLERS = yaml.safe_load((APP_ROLE / "handlers" / "main.yml").read_text())
RETRIES = [h["retries"] for h in HANDLERS if "retries" in h]


def retries(expr: str, timeout: Any) -> int:
    return int(_templar({"matrix_app_health_timeout": timeout}).template(_trusted(expr)))


def test_the_gate_has_its_two_waits() -> None:
    assert len(RETRIES) == 2  # the new release's wait and the wait after going back


@pytest.mark.parametrize("expr", RETRIES)
@given(seconds=hs.integers(min_value=1, max_value=3600), as_text=hs.booleans())
def test_retries_cover_the_timeout_whether_int_or_text(
    expr: str, seconds: int, as_text: bool
) -> None:
    n = retries(expr, str(seconds) if as_text else seconds)
    assert n == -(-seconds // 2)  # every 2 s until the timeout, rounded up
