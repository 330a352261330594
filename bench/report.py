"""docs/benchmarks.md: each benchmark rewrites its own section, and says what it ran on."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from contextlib import suppress
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(
    title: str, section: str, *, after: str | None = None, report: Path = REPORT
) -> None:
    """Replace the report's section headed `title`, else put it after the section `after` (a
    heading, "# Benchmarks" for the top) or at the end; the other sections stay as they are."""
    current = report.read_text() if report.exists() else "# Benchmarks\n"
    section = section.rstrip("\n") + "\n\n"

    def span(heading: str) -> re.Match[str] | None:
        pattern = rf"^{re.escape(heading)}\n.*?(?=^## |\Z)"
        return re.compile(pattern, re.MULTILINE | re.DOTALL).search(current)

    found = span(title)
    anchor = span(after) if after else None
    if found:
        updated = current[: found.start()] + section + current[found.end() :]
    elif anchor:
        head = current[: anchor.end()].rstrip("\n") + "\n\n"
        updated = head + section + current[anchor.end() :]
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(updated.rstrip("\n") + "\n")


def machine() -> dict[str, str]:
    """What the figures were measured on, for the report."""
    import importlib.metadata
    import platform

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    model = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = "?"
    with suppress(OSError, subprocess.SubprocessError):
        here = Path(__file__).resolve().parent.parent
        git = ["git", "-C", str(here)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "onboard"], capture_output=True
        )
        commit = head.stdout.decode().strip() + (
            " with uncommitted changes to onboard/" if dirty.stdout.strip() else ""
        )
    return {
        "commit": commit,
        "cores": str(cores),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{p} {version(p)}" for p in ("slack_bolt", "slack_sdk", "waitress", "SQLAlchemy")
        ),
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    }
