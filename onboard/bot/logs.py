"""Logging: plain text or one JSON object per line, each carrying the Slack request's ID.

Handlers log IDs and outcomes, never tokens, message text or people's names and emails.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request ID, and any extras."""

    _standard = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
        "request_id",
    }

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._standard})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Bolt logs the whole body of a refused request at INFO: names and IDs stay out of logs.
    logging.getLogger("slack_bolt").setLevel(max(logging.WARNING, root.level))
    # slack_sdk logs every Web API call's arguments at DEBUG: emails, names, message text.
    logging.getLogger("slack_sdk").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("onboard.bolt").setLevel(max(logging.WARNING, root.level))
    # waitress warns for every request that waits for a free thread: the ack-latency
    # histogram in /metrics is the place to watch that, not one log line per request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def brief(exc: BaseException) -> str:
    """An exception in one line for a warning (its type and first line): a loop that keeps
    meeting the same outage says so once, without a traceback per round."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
