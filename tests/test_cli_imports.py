"""The command line's imports, each checked in a fresh interpreter: `import specsize.cli` loads no torch (the
planner runs without the engine's extra), and the command modules cli.py registers do not import cli.py back
(no import cycle: each imports cleanly on its own, before cli.py)."""

import subprocess
import sys

import pytest

COMMAND_MODULES = (
    "cli_engine",
    "cli_serve",
    "cli_web",
    "cli_sheet",
    "cli_disagg",
    "cli_bench_endpoint",
    "cli_validate",
)


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_cli_loads_no_torch():
    assert _fresh("import sys, specsize.cli; print('torch' in sys.modules)") == "False"


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_command_module_does_not_import_cli(name):
    assert _fresh(f"import sys, specsize.{name}; print('specsize.cli' in sys.modules)") == "False"
