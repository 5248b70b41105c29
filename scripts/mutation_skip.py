"""Mark the mutants no test can kill as skipped in a cosmic-ray session (run by make mutation
with cosmic-ray's own interpreter): mutations inside type annotations. Every mutated module
starts with ``from __future__ import annotations``, so annotations are strings that are never
evaluated: ``Playback | None`` turned into ``Playback & None`` changes nothing that runs.

    python mutation_skip.py SESSION.sqlite MODULE.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    tree = ast.parse(source)
    if not any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    ):
        return []  # annotations are evaluated: mutating them is a real change
    spans = []
    for node in ast.walk(tree):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            notes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        for note in notes:
            if note is not None:
                spans.append(
                    ((note.lineno, note.col_offset), (note.end_lineno, note.end_col_offset))
                )
    return spans


def main() -> int:
    from cosmic_ray.work_db import WorkDB, use_db  # cosmic-ray's venv only
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    session, module = sys.argv[1], Path(sys.argv[2])
    spans = annotation_spans(module.read_text(encoding="utf-8"))
    skipped = 0
    with use_db(session, WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            for mutation in item.mutations:
                # cosmic-ray positions: 1-based lines, 0-based columns, as ast's
                pos = tuple(mutation.start_pos)
                if any(start <= pos < end for start, end in spans):
                    db.set_result(
                        item.job_id,
                        WorkResult(
                            output="in a type annotation (never evaluated)",
                            worker_outcome=WorkerOutcome.SKIPPED,
                        ),
                    )
                    skipped += 1
                    break
    print(f"mutation_skip: {skipped} mutants in type annotations skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
