"""The `python -m bench` command line: parses the options and runs the ack-latency benchmark.

Owns argument parsing and the exit code; the measuring and the report live in bench.ack_latency.
"""

from __future__ import annotations

import argparse
import sys

from bench import ack_latency


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure how fast the bot answers /onboard slash commands over HTTP, "
        "next to a bare Bolt app that only acks, and rewrite docs/benchmarks.md.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="send a tenth of the requests (a smoke run; the figures are noisier)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="also measure the bot on this database (postgresql://…), next to SQLite",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the table only; leave docs/benchmarks.md as it is",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return ack_latency.main(
        quick=options.quick, database_url=options.database_url, write=not options.no_write
    )


if __name__ == "__main__":  # the guard matters: the server process is spawned, and imports this
    sys.exit(main())
