"""`kg serve`: linking as an HTTP service and web pages to browse entities, linked documents and eval reports."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from kg.cli.context import AppContext, pass_app
from kg.cli.link_options import link_options
from kg.kgstore.errors import ConfigError

DRAIN_S = 2  # seconds open requests get to finish after SIGTERM


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs an API key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File holding the API key clients must send (X-API-Key header; env KG_API_KEY). Not an "
                   "option value: a command line is visible to every local user.")
@click.option("--report", "reports", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A `kg eval --report` file to browse under /ui/reports (repeatable).")
@click.option("--max-body-bytes", type=click.IntRange(1024), default=2 << 20, show_default=True,
              help="Largest request body; larger ones get 413.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1), default=60.0, show_default=True,
              help="Seconds a link request may take; longer ones get 504.")
@click.option("--max-batch-docs", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Most concurrent link requests linked together in one encoder batch.")
@click.option("--batch-wait-ms", type=click.FloatRange(0), default=0.0, show_default=True,
              help="How long the first waiting request waits for others to share its batch (0: only those "
                   "already waiting share it).")
@click.option("--no-warm", is_flag=True, help="Load the linking models on the first request, not at start-up.")
@link_options()
@pass_app
def serve_cmd(app: AppContext, host: str, port: int, api_key_file: Path | None, reports: tuple[Path, ...],
              max_body_bytes: int, timeout_s: float, max_batch_docs: int, batch_wait_ms: float, no_warm: bool,
              link: dict[str, Any]) -> None:
    """Serve the API (POST /link, GET /search, /entities/QID, /entities/QID/mentions, /documents/ID, /health;
    OpenAPI docs at /docs) and the web pages (/ui) with models and store connections loaded once. The link options
    are /link's defaults (a request's `options` override them), as are kg.toml's [link] settings."""
    import uvicorn

    from kg.cli.web.app import ServeSettings, create_app
    from kg.cli.web.service import KgService

    key = _read_key(api_key_file) if api_key_file else os.environ.get("KG_API_KEY") or None
    settings = ServeSettings(host=host, port=port, api_key=key, max_body_bytes=max_body_bytes, timeout_s=timeout_s,
                             max_batch_docs=max_batch_docs, batch_wait_ms=batch_wait_ms,
                             allowed_hosts=app.config.serve.allowed_hosts,
                             cors_origins=app.config.serve.cors_origins).check()
    service = KgService(app, list(reports), link)
    service.load_reports()
    service.health()  # both stores answer before the server listens
    if not no_warm:
        click.echo("kg serve: loading the linking models (once)", err=True)
        service.linker(service.link_options())
    click.echo(f"kg serve: http://{host}:{port}/ui (API docs /docs){'; API key required' if key else ''}", err=True)
    # the event loop and the link worker hand the GIL to each other twice a request: at the default 5 ms switch
    # interval a waiting thread can sit out most of it
    sys.setswitchinterval(0.0005)
    # SIGTERM: open requests get DRAIN_S to finish, then are cancelled (their linking stops at its next check)
    uvicorn.run(create_app(service, settings), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=DRAIN_S)


def _read_key(path: Path) -> str:
    """The key in `path`, a file only its owner may read (others could read the key and use the API)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} can be read or written by other users (mode {mode:o}): chmod 600 {path}")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ConfigError(f"{path} is empty: put the API key in it")
    return key
