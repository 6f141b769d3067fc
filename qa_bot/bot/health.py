"""Health endpoint for systemd watchdogs and container probes: GET http://127.0.0.1:PORT/health, and
the Prometheus metrics at /metrics on the same port.

Answers from memory (no Telegram call), so a probe never costs an API request; status is "ok" while
the index is loaded and polling or the webhook runs, "degraded" otherwise (HTTP 503).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger(__name__)


async def start_health_server(report: Callable[[], dict[str, Any]], port: int, host: str = "127.0.0.1",
                              metrics: Metrics | None = None) -> web.AppRunner:
    """Serve `report()` as JSON on host:port (and `metrics` at /metrics); returns the runner to clean up."""

    async def scrape(_request: web.Request) -> web.Response:
        assert metrics is not None
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})

    async def health(_request: web.Request) -> web.Response:
        try:
            body = report()
        except Exception as exc:  # a probe must get an answer, not a stack trace
            log.exception("health report failed")
            body = {"status": "error", "error": type(exc).__name__}
        return web.json_response(body, status=200 if body.get("status") == "ok" else 503)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/healthz", health)
    if metrics is not None:
        app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("health endpoint on http://%s:%d/health", host, port)
    return runner
