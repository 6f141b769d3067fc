"""Several `qa-bot serve` replicas behind a fake Telegram that delivers webhook updates round-robin, as a
load balancer in front of replicas would, and delivers an update again to the next replica whenever one
does not answer 200 (as Telegram does). For the end-to-end tests and `qa-bot loadtest --replicas N`;
everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from ..devtools.fake_api import FakeBotAPI
from .webhook import SECRET_HEADER

WEBHOOK_PATH = "/telegram"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Delivery:
    """One update's way through the replicas: (replica index, HTTP status or error) per attempt."""

    update: dict
    attempts: list[tuple[int, str]] = field(default_factory=list)
    acked_by: int | None = None
    in_flight_to: int | None = None


class RoundRobinWebhooks:
    """Takes the updates pushed on a FakeBotAPI and POSTs each to the replicas in turn."""

    def __init__(self, api: FakeBotAPI, urls: list[str], secret: str, connections: int = 40,
                 retry_delay: float = 0.2, timeout: float = 30.0) -> None:
        self.api, self.urls, self.secret = api, urls, secret
        self.deliveries: dict[int, Delivery] = {}
        self._next = 0
        self._queue: deque[Delivery] = deque()
        self._slots = asyncio.Semaphore(connections)  # Telegram's max_connections
        self._retry_delay, self._timeout = retry_delay, timeout
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._inflight):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    def acked(self) -> int:
        return sum(1 for d in self.deliveries.values() if d.acked_by is not None)

    def in_flight(self, replica: int) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.in_flight_to == replica]

    async def _run(self) -> None:
        while True:
            while self.api.updates:
                update = self.api.updates.pop(0)
                delivery = self.deliveries[update["update_id"]] = Delivery(update)
                task = asyncio.create_task(self._deliver(delivery))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            await asyncio.sleep(0.005)

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._session is not None
        while delivery.acked_by is None:
            replica = self._next % len(self.urls)
            self._next += 1
            async with self._slots:
                delivery.in_flight_to = replica
                try:
                    async with self._session.post(self.urls[replica], json=delivery.update,
                                                  headers={SECRET_HEADER: self.secret}) as response:
                        outcome = str(response.status)
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    outcome = type(exc).__name__
                delivery.in_flight_to = None
            delivery.attempts.append((replica, outcome))
            if outcome == "200":
                delivery.acked_by = replica
            else:
                await asyncio.sleep(self._retry_delay)


@dataclass
class Replica:
    index: int
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)


def start_replicas(n: int, env: Mapping[str, str], log_dir: Path, secret: str,
                   python: str = sys.executable) -> list[Replica]:
    """`n` `qa-bot serve` processes in webhook mode on free local ports; `env` carries the rest of the
    settings (database, token, Bot API base URL)."""
    replicas = []
    for i in range(n):
        port = free_port()
        log = Path(log_dir) / f"replica-{i}.log"
        child_env = {**env, "QA_BOT_WEBHOOK_URL": f"https://bot.example.org{WEBHOOK_PATH}",
                     "QA_BOT_WEBHOOK_PORT": str(port), "QA_BOT_WEBHOOK_LISTEN": "127.0.0.1",
                     "QA_BOT_WEBHOOK_SECRET": secret, "QA_BOT_HEALTH_PORT": "0"}
        with open(log, "wb") as fh:
            process = subprocess.Popen([python, "-m", "qa_bot.cli", "serve"], env=child_env, stdout=fh,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        replicas.append(Replica(i, port, process, log))
    return replicas


async def wait_listening(replicas: list[Replica], timeout: float = 120.0) -> None:
    """Until every replica accepts connections on its webhook port (or one has exited)."""
    deadline = time.monotonic() + timeout
    for replica in replicas:
        while True:
            if replica.process.poll() is not None:
                raise RuntimeError(f"replica {replica.index} exited: {replica.log.read_text()[-2000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", replica.port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica {replica.index} does not listen") from None
                await asyncio.sleep(0.1)


def stop_replicas(replicas: list[Replica], timeout: float = 20.0) -> None:
    for replica in replicas:
        replica.kill(signal.SIGTERM)
    for replica in replicas:
        try:
            replica.process.wait(timeout)
        except subprocess.TimeoutExpired:
            replica.kill()
            replica.process.wait()
