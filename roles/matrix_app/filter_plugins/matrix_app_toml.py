"""matrix_app_toml: one value of the app's config as a TOML value (the config template's keys).

JSON is not TOML: ``to_json`` writes a character beyond U+FFFF as a surrogate pair, which TOML
refuses, and leaves DEL unescaped, which TOML forbids in a string. This writes what TOML 1.0
allows, so any string the inventory holds reaches the app as it was
(tests/playbooks/test_matrix_app_panel.py reads every rendering back with tomllib).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def matrix_app_toml(value: Any) -> str:
    """``value`` (bool, number, string, list of those) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return _string(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(matrix_app_toml(v) for v in value) + "]"
    return _string(str(value))


class FilterModule:
    """The role's filters."""

    def filters(self) -> dict[str, Any]:
        return {"matrix_app_toml": matrix_app_toml}
