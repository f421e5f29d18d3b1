"""`specsize web`: serve the planner as a page (the optional extra `specsize[web]`)."""

from __future__ import annotations

import socket

import click

from specsize.errors import SpecsizeError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on.")
def web(host: str, port: int) -> None:
    """Serve the planner as a web page: a form for the scenario (model or pasted config.json, precision, GPUs,
    engine, workload, speculative method, k, draft, acceptance or a bench.json), the per-GPU table, the memory
    breakdown, speedup / MoE penalty / throughput-latency charts, the launch command and every assumption with
    its source; and a validation page (predicted vs published). The page calls what `specsize plan` calls:
    it shows what `plan --json` says. Everything is served from the package (no CDN), so it works offline.
    The URL holds the whole scenario: share it to share the plan.

    \b
    Examples:
      specsize web                      # then open http://127.0.0.1:8080
      specsize web --port 9000
      specsize web --host 0.0.0.0       # reachable from other machines (no authentication: a trusted network)
    """
    try:
        import uvicorn

        from specsize.web.app import create_app
    except ImportError as e:
        msg = f"specsize web needs the web extra ({e.name} is missing): pip install 'specsize[web]'"
        raise SpecsizeError(msg) from None
    if not 0 < port < 65536:
        raise SpecsizeError(f"--port must be 1..65535, got {port}")
    _check_free(host, port)
    click.echo(f"specsize web: http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def _check_free(host: str, port: int) -> None:
    """One clear line, before uvicorn starts, when the address cannot be listened on (in use, not ours)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SpecsizeError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except OSError as e:
            raise SpecsizeError(f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --port") from None
