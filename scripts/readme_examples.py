"""Regenerate the README's example outputs from the commands themselves (run from the repository root with specsize
importable; `--check` reports stale blocks instead of writing, exit 1 if any).

A regenerated block is a fenced block whose first line is `$ specsize ...` (continued with a trailing `\\`; not
`generate`, `bench`, `serve` or `web`, whose output is a run's timings): its body is replaced by what the command
prints now. A body may be an excerpt: segments separated by a line `...`. The first segment is the output's
first lines; each later one is found again in the output by its first line with the numbers masked (the words and
their order stay, the figures move), and keeps its length. A segment that cannot be found is an error (the
excerpt no longer matches the output: edit that README block by hand).
"""

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

FENCE = "```"
ELISION = "..."
NUMBER = re.compile(r"\d[\d.,]*")
TIMED = {"generate", "bench", "serve", "web"}  # their output holds this run's timings: shown as run, not regenerated


def command_of(lines: list[str]) -> tuple[str, int]:
    """The command of a block whose first line starts with `$ `, and how many lines it spans."""
    cmd, n = lines[0][2:], 1
    while cmd.endswith("\\"):
        cmd = cmd[:-1] + " " + lines[n].strip()
        n += 1
    return cmd, n


def run(cmd: str) -> list[str]:
    argv = shlex.split(cmd)
    if argv[0] != "specsize":
        raise SystemExit(f"readme_examples: only specsize commands are rerun, not {argv[0]!r}")
    out = subprocess.run([sys.executable, "-m", "specsize", *argv[1:]], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"readme_examples: `{cmd}` failed: {out.stderr.strip()[-500:]}")
    return [line.rstrip() for line in out.stdout.splitlines()]


def mask(line: str) -> list[str]:
    return NUMBER.sub("#", line).split()


def excerpt(body: list[str], output: list[str], cmd: str) -> list[str]:
    """The same excerpt of the new output: the first segment from the top, each later one by its masked first line."""
    segments, seg = [], []
    for line in body:
        if line.strip() == ELISION:
            segments.append(seg)
            seg = []
        else:
            seg.append(line)
    segments.append(seg)
    if len(segments) == 1:
        return output
    new, start = list(output[: len(segments[0])]), len(segments[0])
    for seg in segments[1:]:
        new.append(ELISION)
        if not seg:
            continue
        want = mask(seg[0])
        at = next((i for i in range(start, len(output)) if mask(output[i]) == want), None)
        if at is None:
            raise SystemExit(f"readme_examples: `{cmd}`: the excerpt starting {seg[0].strip()[:60]!r} is no longer in "
                             "its output; edit that README block by hand")  # fmt: skip
        new.extend(output[at : at + len(seg)])
        start = at + len(seg)
    return new


def regenerate(text: str) -> tuple[str, list[str]]:
    """The README with every `$ specsize` block regenerated, and the commands whose block changed."""
    lines, out, changed, i = text.splitlines(), [], [], 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].startswith(FENCE) and i + 1 < len(lines) and lines[i + 1].startswith("$ specsize"):
            if lines[i + 1].split()[2] in TIMED:
                i += 1
                continue
            end = lines.index(FENCE, i + 1)
            cmd, n = command_of(lines[i + 1 : end])
            body = lines[i + 1 + n : end]
            new = excerpt(body, run(cmd), cmd)
            if new != body:
                changed.append(cmd)
            out.extend(lines[i + 1 : i + 1 + n] + new)
            i = end
            continue
        i += 1
    return "\n".join(out) + "\n", changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="list stale blocks, write nothing; exit 1 if any")
    ap.add_argument("--readme", default="README.md")
    args = ap.parse_args()
    readme = Path(args.readme)
    text, changed = regenerate(readme.read_text(encoding="utf-8"))
    for cmd in changed:
        print(f"{'stale' if args.check else 'regenerated'}: {cmd}")
    if args.check:
        sys.exit(1 if changed else 0)
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
