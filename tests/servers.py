"""Real servers for the tests, benchmarks and scripts: `specsize serve` and `specsize web` started as subprocesses
on a free localhost port, and how they drive Debian's headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(*args: str, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """`python -m specsize serve --port N ARGS`, waited on until /health answers 200; its output (stdout and stderr
    together) stays readable in proc.stdout."""
    import httpx

    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "specsize", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"specsize serve exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"specsize serve did not answer /health in {timeout:.0f} s")


def stop_serve(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (the server drains what is in flight), then kill if it has not exited within `timeout` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_web(timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """`python -m specsize web --port N` with this checkout's src first on the path, waited on until it accepts a
    connection; its output stays readable in proc.stdout. Stop it with stop_serve."""
    port = free_port()
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, *sys.path]))
    cmd = [sys.executable, "-m", "specsize", "web", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"specsize web exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"specsize web did not accept a connection in {timeout:.0f} s")
