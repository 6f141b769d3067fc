"""/metrics: exactly the families the operator's dashboards rely on, counted by outcome, served on the
health port in Prometheus text format, and never a question text or a user id in them."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

from fake_bot_api import bot_against_fake_api, free_port
from prometheus_client.parser import text_string_to_metric_families
from test_bot_handlers import feed, message, run

FAMILIES = {"qa_bot_questions", "qa_bot_answer_seconds", "qa_bot_index_passages", "qa_bot_index_generation_info",
            "qa_bot_reloads", "qa_bot_telegram_errors", "qa_bot_telegram_retries"}
QUESTION = "Wie heißt der nationale Sicherheitsberater der USA?"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_questions_are_counted_by_outcome_without_text_or_ids(shared_hash_service, tmp_path: Path) -> None:
    core_box = {}

    async def scenario(app) -> None:
        core_box["core"] = app.bot_data["core"]
        await feed(app, message(424242, QUESTION, update_id=1), message(424242, "Wie backe ich Apfelkuchen?",
                                                                        update_id=2),
                   message(424242, QUESTION, update_id=3), message(424242, QUESTION, update_id=4),
                   message(515151, QUESTION, update_id=5), message(515151, "🙂", update_id=6))

    run(shared_hash_service, tmp_path, scenario, rate_limit=3, allowed_ids=frozenset({424242}), min_score=0.15)
    text = core_box["core"].metrics.render().decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families == FAMILIES
    got = samples(text)
    counts = {outcome: got[("qa_bot_questions_total", (("outcome", outcome),))]
              for outcome in ("answered", "abstained", "refused", "rate_limited", "error")}
    assert counts == {"answered": 2, "abstained": 1, "refused": 2, "rate_limited": 1, "error": 0}
    assert got[("qa_bot_answer_seconds_count", ())] == 3
    assert got[("qa_bot_index_passages", ())] == 17
    generation = shared_hash_service.info().generation
    assert got[("qa_bot_index_generation_info", (("generation", generation),))] == 1
    for private in (QUESTION, "Sicherheitsberater", "Apfelkuchen", "424242", "515151"):
        assert private not in text


def test_metrics_are_served_on_the_health_port_with_retries_and_errors(shared_hash_service, tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> tuple[str, str]:
        async with bot_against_fake_api(shared_hash_service, tmp_path, health_port=port) as bot:
            api = bot.api
            api.fail("500", 2, {"sendMessage"})
            api.message(1, QUESTION)
            await api.wait_until(lambda: api.sent_to(1), 30)

            def get() -> tuple[str, str]:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return response.headers["Content-Type"], response.read().decode()

            return await asyncio.to_thread(get)

    content_type, text = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert content_type.startswith("text/plain") and "version=" in content_type
    got = samples(text)
    assert got[("qa_bot_telegram_retries_total", ())] >= 2
    assert got[("qa_bot_questions_total", (("outcome", "answered"),))] == 1
    assert {f.name for f in text_string_to_metric_families(text)} == FAMILIES


def test_health_listen_address_is_configurable() -> None:
    """QA_BOT_HEALTH_LISTEN: bound to the given address only (127.0.0.2 here: loopback, but not 127.0.0.1)."""
    import urllib.error

    import pytest

    from qa_bot.bot.health import start_health_server
    from qa_bot.bot.metrics import Metrics

    port = free_port()

    async def scenario() -> tuple[int, str]:
        runner = await start_health_server(lambda: {"status": "ok"}, port, "127.0.0.2", metrics=Metrics())

        def get(host: str, path: str) -> tuple[int, str]:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()

        try:
            status, _ = await asyncio.to_thread(get, "127.0.0.2", "/health")
            _, metrics = await asyncio.to_thread(get, "127.0.0.2", "/metrics")
            with pytest.raises(urllib.error.URLError):
                await asyncio.to_thread(get, "127.0.0.1", "/health")
            return status, metrics
        finally:
            await runner.cleanup()

    status, metrics = asyncio.run(scenario())
    assert status == 200 and "qa_bot_questions_total" in metrics
