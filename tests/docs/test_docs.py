"""The docs stay honest: every relative link in README.md, docs/ and the role READMEs resolves
(to a file, and to a heading where it names one), and the README stays short and starts with the
two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
README = TOP / "README.md"
README_MAX_LINES = 200
FIRST_SCREEN_LINES = 40

# Pages other helpers write at the same time as the README links to them. A name here may be
# missing; once the page exists, test_pending_pages_are_still_missing asks to remove it here.
PENDING_PAGES: frozenset[str] = frozenset()

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the text may hold one level of [] (an image in a link).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, …


def doc_files() -> list[Path]:
    """README.md, every page under docs/, and each role's README (the variable references)."""
    return [README, *sorted((TOP / "docs").rglob("*.md")), *sorted(TOP.glob("roles/*/README.md"))]


def prose_lines(text: str, keep_code_spans: bool = False) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out (or kept)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else line if keep_code_spans else INLINE_CODE.sub("", line))
    return lines


def links(text: str) -> list[str]:
    return [m.group(1) for line in prose_lines(text) for m in LINK.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown page, with GitHub's -1, -2 for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose_lines(text, keep_code_spans=True):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(page: Path, top: Path, pending: frozenset[str] = frozenset()) -> list[str]:
    """Each relative link of ``page`` whose file (or heading anchor) does not exist."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        try:
            rel = dest.relative_to(top).as_posix()
        except ValueError:
            problems.append(f"{target} (points outside the repository)")
            continue
        if not dest.exists():
            if rel not in pending:
                problems.append(f"{target} (no such file: {rel})")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text("utf-8")):
            problems.append(f"{target} (no heading with anchor #{anchor} in {rel})")
    return problems


# --- the checker itself can fail ------------------------------------------------------------


def test_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Good heading\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#good-heading) [gone](docs/b.md) [bad anchor](docs/a.md#nope)\n"
        "[self](#top) ![img](docs/missing.png) [web](https://example.org/x)\n"
        "`[in code](docs/c.md)`\n```\n[in a fence](docs/d.md)\n# Not a heading\n```\n# Top\n"
        "[fenced heading](#not-a-heading)\n",
        encoding="utf-8",
    )
    assert broken_links(page, tmp_path) == [
        "docs/b.md (no such file: docs/b.md)",
        "docs/a.md#nope (no heading with anchor #nope in docs/a.md)",
        "docs/missing.png (no such file: docs/missing.png)",
        "#not-a-heading (no heading with anchor #not-a-heading in README.md)",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("6. Sign in and start the app", "6-sign-in-and-start-the-app"),
        ("`[matrix]`", "matrix"),
        ("Six months, then sign in again", "six-months-then-sign-in-again"),
        ("Displays: what the playbook does", "displays-what-the-playbook-does"),
        ("The [bindings](bindings.md) page", "the-bindings-page"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


# --- the docs -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: p.relative_to(TOP).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page, TOP, PENDING_PAGES) == []


def test_pending_pages_are_still_missing() -> None:
    arrived = sorted(p for p in PENDING_PAGES if (TOP / p).exists())
    assert not arrived, f"{arrived} exist now: remove them from PENDING_PAGES in {__file__}"


def test_readme_stays_short() -> None:
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail into docs/"


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_readme_first_screen_shows_the_two_commands(command: str) -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN_LINES])
    assert command in first_screen
