"""Kept-alive connections to Slack's Web API.

slack_sdk's WebClient opens a new connection for every call (urllib), which is a TCP and TLS
handshake per message. This client keeps a pool of connections open through urllib3 and
leaves everything else to slack_sdk: arguments, retry handlers, `SlackApiError`, rate-limit
headers. A failure surfaces as urllib would raise it (`HTTPError` with Slack's status and
body, `URLError` when the connection fails), so callers classify it as before.
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

# One pool per process and destination: every WebClient of the bot shares its connections.
_POOLS: dict[int, urllib3.PoolManager] = {}
_POOLS_LOCK = threading.Lock()
# More threads than this may call at once (HTTP threads and after-ack threads); a connection
# beyond it is opened for that call and closed after it, never waited for.
POOL_SIZE = 16


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
        except urllib3.exceptions.HTTPError as exc:
            # Not an OSError: re-raised as urllib's, which callers treat as "network".
            raise URLError(exc) from exc
        headers = HTTPMessage()
        for name, value in response.headers.items():
            headers[name] = value
        if response.status >= 400:
            raise HTTPError(
                url, response.status, response.reason or "", headers, io.BytesIO(response.data)
            )
        body = response.data
        if headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": headers, "body": body}
        charset = headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": headers, "body": body.decode(charset)}
