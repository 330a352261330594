"""The ack-latency section of docs/benchmarks.md: the table, the goal, and the sentences that
read this run's figures (every number in them comes from the run)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench.ack_rows import (
    CONCURRENCIES,
    GOAL_CONCURRENCY,
    GOAL_MS,
    GOAL_RATIO,
    NAMES,
    OLD_TITLE,
    SECTION,
    SPLIT,
    VALID_SHARE,
    Result,
    bare_of,
    find,
    p99,
)
from bench.report import REPORT, machine
from bench.scenarios import (
    APPROVERS,
)
from bench.servers import (
    AFTER_ACK_THREADS,
    WORKER_NICE,
)
from onboard.bot.inbox import MODAL_THREADS

HEADER = [
    "| request | app | conc. | requests | p50 ms | p95 ms | p99 ms | p99 ÷ bare | req/s "
    "| server CPU ms/req | drain s | no ack in 3 s |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def table_row(results: list[Result], r: Result) -> str:
    bare = bare_of(results, r)
    ratio = f"{r.percentile(99) / bare.percentile(99):.2f}×" if bare else ""
    what = NAMES[r.row.kind]
    app = (
        "bare Bolt"
        if r.row.app == "bare"
        else "bot" + (f" ({r.row.database})" if r.row.database else "")
    )
    return (
        f"| {what} | {app} | {r.concurrency} | {r.requests} | {r.percentile(50):.1f} "
        f"| {r.percentile(95):.1f} | {r.percentile(99):.1f} | {ratio} | {r.per_second:.0f} "
        f"| {r.cpu_per_request:.2f} | {r.settle:.1f} | {r.timeouts} |"
    )


def goal_lines(results: list[Result]) -> list[str]:
    lines = [
        f"| at concurrency {GOAL_CONCURRENCY} | bot p99 ms | bare p99 ms | ratio "
        f"| ≤ {GOAL_RATIO}× bare | < {GOAL_MS:.0f} ms |",
        "| --- | ---: | ---: | ---: | :---: | :---: |",
    ]
    for r in results:
        bare = bare_of(results, r)
        if r.concurrency != GOAL_CONCURRENCY or bare is None:
            continue
        ratio = r.percentile(99) / bare.percentile(99)
        on = f" ({r.row.database})" if r.row.database else ""
        lines.append(
            f"| {NAMES[r.row.kind]}{on} | {r.percentile(99):.1f} | {bare.percentile(99):.1f} "
            f"| {ratio:.2f}× | {'yes' if ratio <= GOAL_RATIO else '**no**'} "
            f"| {'yes' if r.percentile(99) < GOAL_MS else '**no**'} |"
        )
    return lines


def met(results: list[Result], kind: str) -> bool:
    return meets(results, find(results, GOAL_CONCURRENCY, "bot", kind))


def meets(results: list[Result], r: Result) -> bool:
    bare = bare_of(results, r)
    assert bare is not None
    return r.percentile(99) <= GOAL_RATIO * bare.percentile(99) and r.percentile(99) < GOAL_MS


def split_lines(results: list[Result]) -> list[str]:
    """What moving the work after the acks to a second process did, at the goal's concurrency."""
    c = GOAL_CONCURRENCY
    split = [
        r for r in results if r.concurrency == c and r.row.app == "bot" and SPLIT in r.row.database
    ]
    if not split:
        return []
    database = split[0].row.database.split(",")[0]
    pairs = []
    for two in split:
        one = next(
            r
            for r in results
            if r.concurrency == c
            and r.row.app == "bot"
            and r.row.kind == two.row.kind
            and r.row.database == database
        )
        pairs.append(
            f"{NAMES[two.row.kind]} {two.percentile(99):.0f} ms p99 "
            f"(against {one.percentile(99):.0f})"
        )
    passed = [NAMES[r.row.kind] for r in split if meets(results, r)]
    return [
        "- **`serve --ack-only`** answers Slack and writes each click and valid form to the "
        "inbox table before the ack; an `onboard scheduler` process beside it does their work "
        "(the decision, saving the form) and the queued Slack calls, so the acks no longer "
        "take turns for one interpreter with that work (a modal opens from the replica itself, "
        "within its trigger's 3 s). The work waits for the worker's next "
        f"look (every 0.2 s). At concurrency {c} on {database}: " + "; ".join(pairs) + " ms "
        f"with everything in one process. Split this way, the goal is met by "
        f"{', '.join(passed) or 'none of the five'}. The worker runs at `nice {WORKER_NICE}`, "
        "but the database's processes that run its queries and the stand-in that answers its "
        "Slack calls do not, so on these two cores the acks still share the CPU with the work."
    ]


def reading(results: list[Result], threads: int, clients: tuple[int, int]) -> list[str]:
    """Sentences that read this run's figures; every number in them comes from the run."""
    c = GOAL_CONCURRENCY
    kinds = ("help", "new", "approve", "errors", "valid")
    passed = [NAMES[k] for k in kinds if met(results, k)]
    failed = [NAMES[k] for k in kinds if not met(results, k)]
    help_, new, approve, errors, valid = (find(results, c, "bot", k) for k in kinds)
    first = find(results, 1, "bot", "valid")
    lone_click = find(results, 1, "bot", "approve")
    busiest = max(CONCURRENCIES)
    timeouts = sum(r.timeouts for r in results)
    lines = [
        f"- **The goal** (p99 within {GOAL_RATIO}× the bare app's and under {GOAL_MS:.0f} ms "
        f"at concurrency {c}) is met by {', '.join(passed) or 'none of the five'} and missed by "
        f"{', '.join(failed) or 'none'}.",
        f"- **Commands and a form with mistakes** cost the bot little: {help_.cpu_per_request:.1f}"
        f" ms of CPU for `help` and {errors.cpu_per_request:.1f} ms for a form with mistakes "
        f"(checked without the database: the user comes from the directory's cache), against "
        f"{find(results, c, 'bare', 'command').cpu_per_request:.1f} ms for bare Bolt. At "
        f"concurrency {c} their p99 are {help_.percentile(99):.0f} and "
        f"{errors.percentile(99):.0f} ms"
        + (
            f": under {GOAL_MS:.0f} ms"
            if max(help_.percentile(99), errors.percentile(99)) < GOAL_MS
            else ""
        )
        + ". The bot's web layer checks the signature and decodes the body once, itself, and "
        "hands Bolt the result; Bolt's own adapter (the bare app's) percent-decodes a modal's "
        "payload in a Python loop, which the bot does in C, so for a submission the bot can "
        "ack faster than the bare app. The ratio to the bare app moves most from run to run.",
        f"- **A click** is acked once the inbox holds it, on the HTTP thread (on SQLite the "
        f"acks waiting for its one write lock keep their rows in one transaction between "
        f"them: `storage/group_commit.py`); its work "
        f"follows on the after-ack pool: the decision's transaction and audit event, an "
        f"ephemeral answer "
        f"through Slack, then the outbox re-renders the deliverable message; "
        f"{approve.cpu_per_request:.1f} ms of CPU per click in all, against "
        f"{find(results, c, 'bare', 'click').cpu_per_request:.1f} ms for bare Bolt's ack. "
        "Under a steady stream of clicks that work queues and takes turns for the interpreter "
        "with the next acks (CPython runs one thread's Python at a time), so the acks slow "
        f"down in step: at concurrency {c} the bot answered {approve.per_second:.0f} clicks/s "
        f"with a p50 of {approve.percentile(50):.0f} ms and a p99 of "
        f"{approve.percentile(99):.0f} ms, and went on for {approve.settle:.1f} s after the "
        f"last answer ('drain s'). At concurrency 1 the ack takes "
        f"{lone_click.percentile(50):.1f} ms at p50.",
        "- **`/onboard new`** acks empty at once (its work is not written to the inbox: the "
        "trigger it needs lasts 3 s, so after a crash it could not be done anyway); rendering "
        "the New client modal and `views.open` follow on the threads kept for opening modals "
        f"({new.percentile(99):.0f} ms p99 at concurrency {c}, {new.cpu_per_request:.1f} ms "
        "of CPU each). The stand-in answers `views.open` in a few milliseconds; with real "
        "Slack those threads wait longer, which holds no ack up.",
        f"- **A valid New client form** is checked before the ack (a mistake is shown under "
        f"its field), acked with a *Saving…* modal once the inbox holds it, then saved on "
        f"the after-ack pool in one "
        f"transaction (the client, its contacts, journey, tasks, audit events and outbox "
        f"rows) and the modal updated to say so, or brought back filled in with the reason "
        f"nothing was saved. Its ack: {first.percentile(50):.0f} ms at p50 at concurrency 1, "
        f"{valid.percentile(99):.0f} ms p99 at concurrency {c}; the saving and the channel's "
        f"set-up that follows cost {valid.cpu_per_request:.0f} ms of CPU a client. "
        f"{timeouts} request(s) in the run got no ack within Bolt's 3 s; the bot wrote "
        f"{clients[0]} clients for the {clients[1]} valid forms it was sent (warm-ups "
        "included).",
        *split_lines(results),
        f"- **Concurrency {busiest}** is more clients than the {threads} HTTP threads of either "
        "app: waitress reads the requests and queues them until a thread is free, so for the "
        "bare app too the latency there is mostly that queue "
        f"({p99(results, busiest, 'bare', 'command'):.0f} ms p99 for a command, against "
        f"{p99(results, busiest, 'bot', 'help'):.0f} ms for the bot's `help`).",
    ]
    worst = max(results, key=lambda r: r.percentile(99))
    lines.append(
        f"- The slowest p99 of the run is {worst.percentile(99):.0f} ms ({worst.row.name}, "
        f"concurrency {worst.concurrency}): {worst.percentile(99) / 3000:.0%} of the 3 s "
        "Slack allows."
    )
    return lines


def render(
    results: list[Result],
    *,
    quick: bool,
    databases: list[str],
    took: float,
    threads: int,
    counts: dict[int, int],
    problems: list[str],
    queued: tuple[int, int],
    load: str,
    clients: tuple[int, int],
) -> str:
    m = machine()
    # The bot's own answer to a flood of `/onboard new` (inbox.MODAL_WAIT_LIMIT): counted
    # apart from the warnings that would mean something went wrong.
    told_busy = sum(1 for p in problems if "forms wait to open" in p)
    problems = [p for p in problems if "forms wait to open" not in p]
    wrong = sum(len(r.failures) - r.timeouts for r in results)
    reconnects = sum(r.connects for r in results)
    client_busy = max(r.client_cpu / r.seconds for r in results if r.seconds)
    others = [r.others for r in results]
    busy_rows = sum(1 for share in others if share > 0.1)
    postgres = "PostgreSQL" in databases
    database = "a SQLite file" + (
        " (or, in the rows that say so, a PostgreSQL database made for the run)" if postgres else ""
    )
    lines = [
        SECTION,
        "",
        "<!-- Written by `python -m bench` (bench/ack_latency.py); edits to this section are "
        "overwritten. -->",
        "",
        "Slack waits at most 3 seconds for the HTTP answer to a slash command, a button click "
        "or a modal submission (the *ack*). This measures that answer, from the request leaving "
        "the client to the answer's body read, for:",
        "",
        "- **`/onboard help`**: the user is looked up (cached), the help message is rendered "
        "and sent in the ack;",
        "- **`/onboard new Acme Rockets`**: an empty ack, then the New client modal is rendered "
        "and opened with `views.open`;",
        f"- **Approve click**: one of {APPROVERS} client approvers clicks **Approve** on a "
        "posted deliverable. Every click is that approver's *first* decision on that version "
        "(enough deliverables naming all of them were posted beforehand, over HTTP, as an "
        "account manager would), so the real work follows each ack. A second click on the "
        "same version takes the same ack path, then only reads the decision and says it was "
        "already made;",
        "- **New client form, 2 mistakes**: the New client modal submitted with an email "
        "without its domain and a go-live date in the past; the ack is `response_action: "
        "errors`, a message under each of the two fields;",
        "- **New client form, valid**: the same modal filled in right, each time with a new "
        "client name; the ack (`response_action: update`, a *Saving…* modal) comes once the "
        "form is checked; the client is written after it, then the outbox creates its "
        "channel, invites people, and posts and pins its card. "
        f"1/{VALID_SHARE} as many of these are sent as of the others;",
        "- **bare Bolt**: the same bodies to a Bolt app whose only listeners call `ack()` (a "
        "command, an `approve` action, a `new_client` view), through Bolt's WSGI adapter: what "
        "Bolt, its signature check and the server stack cost with no work at all.",
        "",
        "The bot is `onboard serve` itself, in its own process with its outbox worker and "
        f"scheduler running, on {database} in a temporary directory, logging at INFO to a "
        f"file. The rows marked *{SPLIT}* run it as the README's replicas do: `onboard serve "
        "--ack-only --no-scheduler` answers Slack and an `onboard scheduler` process beside "
        f"it, started with `nice -n {WORKER_NICE}` as the README advises for a shared "
        "machine, does the requests' work and makes the queued Slack calls (its CPU counts in "
        "*server CPU*). Its listeners run on the HTTP thread and Bolt answers when they return "
        "(`process_before_response`); a listener writes the request's work to the inbox table "
        "before it returns, and the work runs on a pool "
        f"({AFTER_ACK_THREADS} threads) of the same process, or of the scheduler's; work that "
        f"only opens a modal is not written and runs on {MODAL_THREADS} threads of its own. "
        "The bare app runs in another process on waitress with "
        f"the bot's options (`create_server`, {threads} threads, `process_before_response`). "
        "The Slack stand-in that the bot calls runs in a third process, and the clients that "
        "send the requests and time the answers in a fourth, so that the stand-in's work for "
        "the bot does not hold up the clients' clocks. Every request is a real Slack body "
        "(form-encoded command, `payload=` JSON for clicks and submissions) with a fresh "
        "trigger, made just before it is sent (at most two per client wait in the queue to "
        "the clients) and signed as it is sent (HMAC v0, current timestamp), on one "
        "keep-alive connection per client thread, each thread sending its next request as "
        "soon as its last is answered. This closed loop keeps the server as busy as it can "
        "be: it measures acks under a sustained load, not one burst. Each row follows a "
        "warm-up at its concurrency, and the next row starts only when all the processes are "
        "idle again.",
        "",
        f"- Machine: {m['cores']} CPUs (`nproc`), {m['cpu']}; {m['os']}; load average "
        f"{load} at the start",
        f"- Python {m['python']}; {m['packages']}; the bot at commit {m['commit']}",
        f"- Date: {m['date']}; this benchmark took {took:.0f} s"
        + (" (`--quick`: a tenth of the requests, so p99 is noise)" if quick else ""),
        "- Reproduce: `./dev bench` (or `.venv/bin/python -m bench`; `--quick` for a smoke run, "
        "`--only ack` for this section alone, `--threads N` to set `ONBOARD_HTTP_THREADS` and "
        "the bare app's threads, `--database-url postgresql://…` to add PostgreSQL rows)",
        "",
        *HEADER,
        *(table_row(results, r) for r in results),
        "",
        "Latencies in milliseconds. *p99 ÷ bare*: against the bare app's row for the same kind "
        "of request at the same concurrency. *req/s*: requests over the row's wall time. "
        "*server CPU*: the server process's user and system time from the row's first request "
        "until it was idle again, per request, so the work after the ack is counted. *drain "
        "s*: how long the server went on working after the row's last answer. *no ack in 3 s*: "
        "answers that were Bolt's 404 after 3 s without an ack.",
        "",
        f"### The goal at concurrency {GOAL_CONCURRENCY}",
        "",
        *goal_lines(results),
        "",
        "### Reading the figures",
        "",
        *reading(results, threads, clients),
        "- Both apps answer from the HTTP thread (`process_before_response`): by default Bolt "
        "1.x runs the listener on a pool while the HTTP thread looks for the ack every 10 ms "
        "(`time.sleep(0.01)` in `ThreadListenerRunner`), so an ack not there at the first "
        "look costs a whole 10 ms step, and under load an ack waits for a free pool thread "
        "behind earlier requests' work.",
        "- CPU is what runs out. CPython runs one thread's Python code at a time, so with a "
        "closed loop the work after the acks and the next acks take turns on one core of the "
        f"process, whatever the thread count: `ONBOARD_HTTP_THREADS` ({threads} here) moves "
        "where requests wait more than how long. The bare app does no work, so its floor is "
        "Bolt's and waitress's alone; the ratio to it moves most from run to run.",
        "- Clients, stand-in and servers share the machine's cores over loopback, and the "
        f"figures include that: the clients' process used at most {client_busy:.0%} of one "
        "CPU in any row. A user in Slack sees Slack's network and servers on top.",
        "",
        f"Checks on this run: {wrong} failed or unexpected answers besides the "
        f"{sum(r.timeouts for r in results)} without an ack in 3 s; {reconnects} connections "
        f"re-opened by the server; waitress logged {queued[0]} times in the bot (and {queued[1]} "
        f"in the bare app) that every HTTP thread was busy and a request waited; "
        f"{told_busy} `/onboard new` answered at once that forms were busy, as earlier "
        "forms had waited 2 s to open (warm-ups included: in a measured row each would count "
        "above as an unexpected answer); "
        f"{len(problems)} other warnings or errors in the bot's log"
        + (f" (first: `{problems[0][:160]}`)" if problems else "")
        + f". Other processes on the machine used {statistics.fmean(others):.0%} of one CPU "
        f"on average while rows were measured (at most {max(others):.0%}; {busy_rows} rows "
        "above 10%"
        + ("; PostgreSQL's own processes count as others" if postgres else "")
        + "). Requests per row: "
        + ", ".join(f"{n} at concurrency {c}" for c, n in counts.items())
        + f" (valid forms: 1/{VALID_SHARE} of that).",
        "",
    ]
    return "\n".join(lines)


def print_row(results: list[Result], result: Result) -> None:
    print(table_row(results, result), flush=True)
    if result.others > 0.1:
        print(f"    (other processes used {result.others:.0%} of a CPU meanwhile)", file=sys.stderr)
    for failure in result.failures[:3]:
        print(f"    failed: {failure}", file=sys.stderr)


PREAMBLE = (
    "<!-- Each section is written by the benchmark it names: `python -m bench` writes the ack "
    "latency and memory sections, `python -m bench --all` every section. -->"
)


def tidy_preamble(report: Path = REPORT) -> None:
    """Rename the section this benchmark wrote before it covered clicks and submissions, and
    say at the top which command writes what (this file used to be written whole)."""
    if not report.exists():
        return
    text = report.read_text()
    old = (
        "<!-- Written by `python -m bench` (bench/ack_latency.py); edits here are overwritten. -->"
    )
    text = text.replace(old, PREAMBLE, 1)
    if PREAMBLE not in text and text.startswith("# Benchmarks\n"):
        text = text.replace("# Benchmarks\n", f"# Benchmarks\n\n{PREAMBLE}\n", 1)
    report.write_text(text.replace(f"\n{OLD_TITLE}\n", f"\n{SECTION}\n", 1))
