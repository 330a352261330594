"""The `python -m bench` command line: runs the benchmark suite and rewrites docs/benchmarks.md.

Owns the options, the order of the benchmarks and the exit code; each module measures one thing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench import ack_latency, memory
from bench.servers import HTTP_THREADS

HERE = Path(__file__).resolve().parent
OURS = {
    "__init__",
    "__main__",
    "ack_latency",
    "ack_report",
    "ack_rows",
    "memory",
    "memory_report",
    "memory_rows",
    "report",
    "scenarios",
    "servers",
}


def others() -> list[str]:
    """Other benchmark modules in bench/ that run on their own (`python -m bench.<name>`)."""
    return sorted(
        path.stem
        for path in HERE.glob("*.py")
        if path.stem not in OURS and 'if __name__ == "__main__"' in path.read_text()
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the bot's ack latency (a slash command, a button click and a modal "
        "submission, next to a bare Bolt app that only acks) and the memory of `onboard serve`, "
        "and rewrite their sections of docs/benchmarks.md.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="send a tenth of the requests (a smoke run; the figures are noisier)",
    )
    parser.add_argument(
        "--only",
        choices=("ack", "memory"),
        help="run one of the two benchmarks only",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=HTTP_THREADS,
        metavar="N",
        help=f"ONBOARD_HTTP_THREADS, and the bare app's threads (default {HTTP_THREADS})",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="also measure on PostgreSQL, next to SQLite (ack latency and memory): a scratch "
        "database is created on this URL's server (postgresql://…; the user needs CREATEDB) "
        "and dropped afterwards",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="then run the other benchmarks in bench/ too ("
        + (", ".join(others()) or "none")
        + "), each as `python -m bench.<name>`; they take longer",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the figures only; leave docs/benchmarks.md as it is",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    write = not options.no_write
    codes: dict[str, int] = {}
    began = time.monotonic()
    if options.only in (None, "ack"):
        codes["ack_latency"] = ack_latency.main(
            quick=options.quick,
            database_url=options.database_url,
            write=write,
            threads=options.threads,
        )
    if options.only in (None, "memory"):
        codes["memory"] = memory.main(
            quick=options.quick,
            write=write,
            threads=options.threads,
            database_url=options.database_url,
        )
    if options.all:
        for name in others():
            command = [sys.executable, "-m", f"bench.{name}"]
            if options.no_write:
                command.append("--no-write")
            print(f"\n$ python {' '.join(command[1:])}", flush=True)
            codes[name] = subprocess.run(command, cwd=HERE.parent, check=False).returncode
    failed = [name for name, code in codes.items() if code]
    print(
        f"\nbench: {len(codes)} benchmark(s) in {time.monotonic() - began:.0f} s"
        + (
            f"; failed (an answer wrong or missing, a missing ack included): {', '.join(failed)}"
            if failed
            else ""
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":  # the guard matters: the bare app's process is spawned
    sys.exit(main())
