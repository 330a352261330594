"""The one place that talks to Slack's Web API for things that must not be lost.

It classifies every failure as "retry later" (429, 5xx, network) or "refused" (Slack said no).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from onboard.bot.slack_connections import KeepAliveWebClient

log = logging.getLogger(__name__)

# Errors Slack reports in a 200 answer that mean "try again", not "no".
_TRANSIENT = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
}


class SlackCallError(Exception):
    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


class SlackRetryLater(SlackCallError):
    """Slack was busy or unreachable; `retry_after` seconds when it said so."""

    def __init__(self, method: str, error: str, retry_after: float | None = None) -> None:
        super().__init__(method, error)
        self.retry_after = retry_after


class SlackRefused(SlackCallError):
    """Slack answered `ok: false` with a permanent error (`name_taken`, `not_in_channel`…);
    `errors`: the answer's list of errors per item, when it has one (conversations.invite)."""

    def __init__(self, method: str, error: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(method, error)
        self.errors = errors or []


LOOKUP_TIMEOUT = 2  # seconds: for calls made before an ack, which Slack awaits 3 s at most


def web_client(token: str, base_url: str, *, timeout: int = 10) -> WebClient:
    """A WebClient that does not retry on its own: the outbox owns retries and backoff."""
    return KeepAliveWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])


class SlackGateway:
    """Calls Web API methods by name and raises `SlackRetryLater` or `SlackRefused`."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self.on_error: Callable[[str, str], None] = lambda method, error: None

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        function = getattr(self.client, method.replace(".", "_"), None)
        try:
            if function is None:
                response = self.client.api_call(method, json=args)
            else:
                response = function(**args)
        except SlackApiError as exc:
            failure = _classify(method, exc)
            self.on_error(method, failure.error)
            raise failure from None
        except (OSError, TimeoutError) as exc:  # connection refused, reset, timed out
            self.on_error(method, "network")
            raise SlackRetryLater(method, f"network: {type(exc).__name__}") from None
        return dict(response.data) if isinstance(response.data, dict) else {}


class PatientGateway(SlackGateway):
    """The outbox's gateway: once Slack answers 429 for a method, further calls of it are
    answered "retry later" here until its Retry-After has passed. Without this, every other
    row of a batch calling that method spent a call and an attempt on another 429 (a burst
    of posts under chat.postMessage's one a second ran out of attempts and was dropped)."""

    def __init__(self, inner: SlackGateway, clock: Callable[[], dt.datetime]) -> None:
        super().__init__(inner.client)
        self.inner = inner
        self.clock = clock
        self._held: dict[str, dt.datetime] = {}  # method → no call before
        self._lock = threading.Lock()

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            until = self._held.get(method)
        if until is not None and now < until:
            raise SlackRetryLater(method, "ratelimited", (until - now).total_seconds())
        try:
            return self.inner.call(method, **args)
        except SlackRetryLater as exc:
            if exc.error == "ratelimited" and exc.retry_after:
                until = self.clock() + dt.timedelta(seconds=exc.retry_after)
                with self._lock:
                    self._held[method] = max(until, self._held.get(method, until))
            raise


def _classify(method: str, exc: SlackApiError) -> SlackCallError:
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"http_{status}")
    if status == 429:
        header = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        retry_after = _seconds(header)
        # Without the header, a second; "Retry-After: 0" is taken at its word.
        return SlackRetryLater(method, "ratelimited", 1.0 if retry_after is None else retry_after)
    if status >= 500:
        return SlackRetryLater(method, f"http_{status}")  # the body is an HTML page, not a code
    if error in _TRANSIENT:
        return SlackRetryLater(method, error)
    errors = data.get("errors")
    return SlackRefused(method, error, errors if isinstance(errors, list) else None)


def _seconds(header: Any) -> float | None:
    if isinstance(header, list):
        header = header[0] if header else None
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None
