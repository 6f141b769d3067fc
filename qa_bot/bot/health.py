"""Health endpoint for systemd watchdogs and container probes: GET http://127.0.0.1:PORT/health.

Answers from memory (no Telegram call), so a probe never costs an API request; status is "ok" while
the index is loaded and polling or the webhook runs, "degraded" otherwise (HTTP 503).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


async def start_health_server(report: Callable[[], dict[str, Any]], port: int,
                              host: str = "127.0.0.1") -> web.AppRunner:
    """Serve `report()` as JSON on host:port; returns the runner to clean up on shutdown."""

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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("health endpoint on http://%s:%d/health", host, port)
    return runner
