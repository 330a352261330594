"""Kept-alive connections to Slack's Web API.

slack_sdk's WebClient opens a new connection for every call (urllib), which is a TCP and TLS
handshake per message. This client keeps a pool of connections open through urllib3 and
leaves everything else to slack_sdk: arguments, retry handlers, `SlackApiError`, rate-limit
headers. A failure surfaces as urllib would raise it (`HTTPError` with Slack's status and
body, `URLError` when nothing could be sent, the socket's own error when the connection
broke or timed out once the call was sent), so callers and retry handlers treat it as before:
slack_sdk's `ConnectionErrorRetryHandler` resends on `URLError` and a reset, never on a
timeout, when Slack may have done the call.

It overrides one private method of slack_sdk's BaseClient; tests/bot/test_slack_connections.py
fails (twenty calls on twenty connections) if a new slack_sdk stops calling it.
"""

from __future__ import annotations

import io
import threading
from http.client import HTTPMessage
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import urllib3
from slack_sdk import WebClient

# One pool manager per process (per TLS context, and the bot makes one: None): every
# WebClient shares its connections, kept per destination host.
_POOLS: dict[int, urllib3.PoolManager] = {}
_POOLS_LOCK = threading.Lock()
# Connections kept open per host: the HTTP threads (16 by default), the after-ack pool (8)
# and the outbox worker may all call at once. One more is opened for that call and closed
# after it, never waited for.
POOL_SIZE = 32


def _pool(ssl: Any) -> urllib3.PoolManager:
    with _POOLS_LOCK:
        key = id(ssl)
        if key not in _POOLS:
            _POOLS[key] = urllib3.PoolManager(
                maxsize=POOL_SIZE,
                block=False,
                ssl_context=ssl,
                # A call is sent once: a retry belongs to the outbox (or to the WebClient's
                # own retry handlers), which know whether the method may be repeated.
                retries=False,
            )
        return _POOLS[key]


class KeepAliveWebClient(WebClient):
    """A WebClient whose calls reuse open connections."""

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy or not url.lower().startswith("http"):
            return super()._perform_urllib_http_request_internal(url, req)
        try:
            response = _pool(self.ssl).request(
                "POST",
                url,
                body=req.data,  # type: ignore[arg-type]
                headers=dict(req.header_items()),
                timeout=self.timeout,
                redirect=False,
                preload_content=True,
            )
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise TimeoutError(str(exc)) from exc  # sent, the answer late: never resend
        except urllib3.exceptions.ProtocolError as exc:  # reset or closed mid-answer
            cause = exc.args[-1] if exc.args else None
            raise (cause if isinstance(cause, OSError) else URLError(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:  # connect, DNS or TLS: nothing was sent
            raise URLError(exc) from exc
        headers = HTTPMessage()
        for name, value in response.headers.items():
            headers[name] = value
        if response.status >= 300:  # urllib raises for these too (Slack does not redirect)
            raise HTTPError(
                url, response.status, response.reason or "", headers, io.BytesIO(response.data)
            )
        body = response.data
        if headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": headers, "body": body}
        charset = headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": headers, "body": body.decode(charset)}
