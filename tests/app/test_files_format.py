"""What write_json_atomic leaves on disk: the mode, the format a person reads with `cat` (status
files) or spotipy reads (the token cache, one line), and nothing else after a failure."""

from __future__ import annotations

import json
import stat

import pytest
from needledrop.files import write_json_atomic

DOC = {"zeta": 1, "alpha": {"b": 2, "a": [1, 2]}}


def test_default_is_a_world_readable_pretty_sorted_file_ending_in_a_newline(tmp_path):
    path = tmp_path / "state" / "deeper" / "status.json"  # directories are created
    write_json_atomic(path, DOC)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == json.dumps(DOC, indent=2, sort_keys=True) + "\n"
    assert path.read_text().splitlines()[1] == '  "alpha": {'


def test_compact_is_one_line_in_the_given_order_with_the_given_mode(tmp_path):
    path = tmp_path / "token.json"
    write_json_atomic(path, DOC, mode=0o600, compact=True)
    assert path.read_text() == json.dumps(DOC)  # as spotipy writes its cache: no newline
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_value_json_cannot_hold_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "status.json"
    write_json_atomic(path, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]
