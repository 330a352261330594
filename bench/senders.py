"""The benchmark's clients, in a process of their own: the keep-alive connections that send
prepared requests as Slack would, one thread each, and time the answers.

Why a process: the bench's own process serves the Slack stand-in, which the bot calls for its
work after each ack (a click's ephemeral answer, the deliverable's update, a channel's set-up).
Timed in that process, an answer already sent by the bot waited for the stand-in's Python to
give the interpreter back before its clock stopped, so the bot's work showed up as ack latency
twice. Here the clock runs in an interpreter that does nothing else.

The bench process still prepares each request (a fresh trigger, the next click) and feeds it
through a queue a few requests deep, so what is sent is at most a few answers old.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from types import TracebackType
from typing import Self

from bench.scenarios import Prepared, problem
from bench.servers import SIGNING_SECRET
from onboard.standin.driver import Answer, slack_headers

AHEAD = 2  # requests prepared ahead, per client thread
START_SECONDS = 60  # for the process to import and connect
ANSWER_SECONDS = 60  # the most one answer may take before the run is called stuck


@dataclass(frozen=True)
class Phase:
    latencies: list[float]  # seconds, one per answered request
    seconds: float  # wall time from the first send to the last answer
    failures: list[str]  # wrong answers, and requests that got none
    unanswered: int  # requests that got no answer at all (connection errors)
    connects: int  # connections opened again during the phase (the server closed one)


@dataclass(frozen=True)
class Sent:
    """One request's fate, as the sending thread reports it."""

    started: float  # time.perf_counter() (CLOCK_MONOTONIC: the same in every process here)
    ended: float
    failure: str | None
    answered: bool
    reconnected: bool


class KeepAlive:
    """One persistent connection, as a client thread's: sends prepared requests, times answers."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)

    def open(self) -> None:
        """Connect now, so that no timed request pays for the handshake."""
        if self.connection.sock is None:
            self.connection.connect()

    def send(self, prepared: Prepared) -> Sent:
        """Sign `prepared` now (a current timestamp, as Slack does) and time its answer, from
        the request's first byte to the answer's last."""
        now = int(time.time())
        headers = slack_headers(SIGNING_SECRET, prepared.body, prepared.content_type, now)
        reconnected = self.connection.sock is None
        started = time.perf_counter()
        try:
            self.connection.request("POST", "/slack/events", body=prepared.body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            failure = f"{prepared.kind}: {type(exc).__name__}: {exc}"
            return Sent(started, time.perf_counter(), failure, False, reconnected)
        ended = time.perf_counter()
        answer = Answer(response.status, data, dict(response.getheaders()))
        return Sent(started, ended, problem(prepared, answer), True, reconnected)

    def close(self) -> None:
        self.connection.close()


class Senders:
    """`concurrency` client threads in a child process, each sending its next request as soon
    as its last is answered (a closed loop), fed by `drive` from this process."""

    def __init__(self, url: str, concurrency: int) -> None:
        context = multiprocessing.get_context("spawn")  # this process runs threads: no fork
        self.concurrency = concurrency
        self._jobs: Queue[Prepared | None] = context.Queue(maxsize=concurrency * AHEAD)
        self._results: Queue[Sent | str] = context.Queue()
        self._process: BaseProcess = context.Process(
            target=_send_all,
            args=(url, concurrency, self._jobs, self._results),
            name="bench-clients",
            daemon=True,
        )

    def __enter__(self) -> Self:
        self._process.start()
        ready = self._results.get(timeout=START_SECONDS)
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the clients' process did not start: {ready}")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def drive(
        self, requests: Iterable[Prepared], on_answer: Callable[[int], None] | None = None
    ) -> Phase:
        """Send `requests` and wait for every answer. They are drawn from `requests` only as
        the queue to the clients has room, so that what each prepares (a trigger_id lives 3 s,
        as Slack's) is fresh; each answer's time starts at its send.

        `on_answer(n)` is called here after the n-th answer, for sampling during a run."""
        fed: list[int | BaseException] = []  # how many were sent, or why preparing failed
        feeding = threading.Thread(target=self._feed, args=(requests, fed), daemon=True)
        feeding.start()
        sent: list[Sent] = []
        while feeding.is_alive() or (isinstance(fed[0], int) and len(sent) < fed[0]):
            # Whether the feeding was still going when the wait began: if it ended during a
            # short wait, the answers may still be coming (a cold server's first ones).
            feeding_went_on = feeding.is_alive()
            try:
                result = self._results.get(timeout=0.1 if feeding_went_on else ANSWER_SECONDS)
            except queue.Empty:
                if feeding_went_on:
                    continue
                raise RuntimeError("the clients' process stopped answering") from None
            if isinstance(result, str):
                raise RuntimeError(f"the clients' process failed: {result}")
            sent.append(result)
            if on_answer is not None:
                on_answer(len(sent))
        if isinstance(fed[0], BaseException):
            raise fed[0]
        if not sent:
            return Phase([], 0.0, [], 0, 0)
        return Phase(
            [s.ended - s.started for s in sent if s.answered],
            max(s.ended for s in sent) - min(s.started for s in sent),
            [s.failure for s in sent if s.failure],
            sum(1 for s in sent if not s.answered),
            sum(1 for s in sent if s.reconnected),
        )

    def _feed(self, requests: Iterable[Prepared], fed: list[int | BaseException]) -> None:
        count = 0
        try:
            for prepared in requests:
                self._jobs.put(prepared)
                count += 1
        except BaseException as exc:  # drive() raises it, once the requests sent are answered
            fed.append(exc)
        else:
            fed.append(count)

    def close(self) -> None:
        if self._process.is_alive():
            for _ in range(self.concurrency):
                self._jobs.put(None)
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)


def _send_all(url: str, concurrency: int, jobs: Queue[Prepared | None], results: Queue) -> None:
    """The child process: one thread per client, each taking the next job when answered."""

    def work(client: KeepAlive) -> None:
        try:
            while (prepared := jobs.get()) is not None:
                results.put(client.send(prepared))
        except Exception as exc:  # reported to the bench, which stops with it
            results.put(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    try:
        clients = [KeepAlive(url) for _ in range(concurrency)]
        for client in clients:
            client.open()
    except OSError as exc:
        results.put(f"could not connect to {url}: {exc} (pid {os.getpid()})")
        return
    threads = [
        threading.Thread(target=work, args=(client,), name=f"client-{i}")
        for i, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    results.put("ready")
    for thread in threads:
        thread.join()
