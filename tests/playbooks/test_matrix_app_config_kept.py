"""matrix_app keeps a config that says the same as its template, comments aside.

The appliance image's first boot rewrites /etc/needledrop/needledrop.toml from the boot
partition's settings without the template's comment header (needledrop.firstboot.dump_toml).
The first site.yml against that display must not rewrite it (and restart the app) for the
comments alone; any other difference is written. The task's own expressions are evaluated with
Ansible's templating, on the template as the role renders it.
"""

from __future__ import annotations

import base64
import tomllib
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as hs
from needledrop.firstboot import dump_toml
from test_matrix_app_panel import APP_ROLE, _templar, _trusted, render_config

TASKS = yaml.safe_load((APP_ROLE / "tasks" / "config.yml").read_text())
WRITE = next(t for t in TASKS if t["name"].startswith("Write the app's config"))

# The boot test's display (scripts/image-boot-test.py): 64x32, png frames, the fake Spotify.
INVENTORY = {
    "rgb_matrix_rows": 32,
    "rgb_matrix_cols": 64,
    "matrix_app_backend": "png",
    "matrix_app_spotify_accounts_url": "http://10.0.2.2:40123",
    "matrix_app_spotify_api_url": "http://10.0.2.2:40123/v1/",
}


def setting_lines(expr: str, text: str) -> Any:
    """The task's view of the host's config: its `__current` expression on ``text``."""
    content = base64.b64encode(text.encode()).decode()
    variables = {"matrix_app__config_current": {"content": content}}
    return _templar(variables).template(_trusted(expr))


def written(host_text: str, rendered: str) -> bool:
    """Whether the template task runs (its `when`) for this host file and this rendering."""
    current = setting_lines(WRITE["vars"]["__current"], host_text)
    wanted = setting_lines(WRITE["vars"]["__current"], rendered)
    return bool(current != wanted)


def test_both_sides_are_read_the_same_way() -> None:
    settings_expr, current_expr = WRITE["vars"]["__settings"], WRITE["vars"]["__current"]
    assert settings_expr.split(".splitlines()")[1] == current_expr.split(".splitlines()")[1]
    assert "matrix_app__config_current.content is not defined" in WRITE["when"]
    assert "__settings != __current" in WRITE["when"]


def test_the_config_the_first_boot_wrote_is_kept() -> None:
    rendered = render_config(INVENTORY, with_rgb_matrix=True)
    firstboot = dump_toml(tomllib.loads(rendered))
    assert firstboot != rendered  # the header comments are gone
    assert not written(firstboot, rendered)
    other = dump_toml(tomllib.loads(rendered) | {"source": "demo"})
    assert written(other, rendered)


LINES = render_config(INVENTORY, with_rgb_matrix=True).splitlines()
COMMENTS = hs.lists(
    hs.tuples(
        hs.integers(0, len(LINES)),
        hs.sampled_from(["", "   ", "# a note", "  # indented note", "#"]),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(comments=COMMENTS, drop_header=hs.booleans())
def test_comments_and_blank_lines_alone_change_nothing(
    comments: list[tuple[int, str]], drop_header: bool
) -> None:
    lines = [ln for ln in LINES if not (drop_header and ln.startswith("#"))]
    for at, comment in sorted(comments, reverse=True):
        lines.insert(min(at, len(lines)), comment)
    assert not written("\n".join(lines) + "\n", "\n".join(LINES) + "\n")


SETTING_LINES = [i for i, ln in enumerate(LINES) if ln.strip() and not ln.startswith("#")]


@settings(max_examples=60, deadline=None)
@given(at=hs.sampled_from(SETTING_LINES), change=hs.sampled_from(["drop", "edit", "add"]))
def test_any_other_difference_is_written(at: int, change: str) -> None:
    lines = list(LINES)
    if change == "drop":
        del lines[at]
    elif change == "edit":
        lines[at] += "0"
    else:
        lines.insert(at, "extra = 1")
    assert written("\n".join(lines) + "\n", "\n".join(LINES) + "\n")
