"""Reading a JSON-lines file (the measured corpus, a bench's prompt file): every non-blank line's JSON value with its
line number, a file that cannot be read or a line that is not JSON said in one line naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError


def read_jsonl(path: str | Path, error: type[SpecsizeError] = SpecsizeError) -> list[tuple[int, Any]]:
    """[(line number, value)] for every non-blank line of `path`; raises `error`, naming the file and line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{p}: cannot read it ({e})") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            raise error(
                f"{p} line {n}: not valid JSON ({e.msg}, column {e.colno}); expected one object per line"
            ) from None
    return rows
