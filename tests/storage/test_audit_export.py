"""An auditor gets an export of the audit chain and verifies it offline; tampering is named.

Also: the fast verifier builds exactly `canonical()`'s text, and names a reordered stored event.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from typer.testing import CliRunner

from onboard.bot.audit_cli import audit_cli
from onboard.storage import audit, audit_export
from onboard.storage.db import Database
from onboard.storage.models import AuditEvent, Client, Contact
from onboard.storage.schema import upgrade

runner = CliRunner()
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
AM = audit.Cause("U0ALICE", "T0HOME", request_id="1234.5678", request_ts="1772442000")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    monkeypatch.delenv("ONBOARD_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    upgrade(database)
    return database


def new_client(session: Any, slug: str, at: dt.datetime) -> Client:
    client = Client(
        slug=slug,
        name=slug.replace("-", " ").title(),
        tier="Gold",
        timezone="Europe/London",
        country="GB",
        go_live=dt.date(2026, 4, 1),
        playbook_key="standard",
        playbook={"key": "standard", "stages": []},
        stage_key="kickoff",
        status="setting_up",
        account_manager=AM.actor,
        created_at=at,
    )
    client.contacts.append(Contact(role="primary", name="Carla Client", email="carla@x.example"))
    session.add(client)
    session.flush()
    return client


def journey(db: Database, slug: str, start: dt.datetime) -> int:
    """A client's onboarding as the services record it; its client id."""
    with db.transaction() as session:
        client = new_client(session, slug, start)
        steps: list[tuple[audit.Cause, str, str | None, dict[str, Any]]] = [
            (AM, "client.created", slug, {"tier": "Gold", "country": "GB", "stage": "kickoff"}),
            (AM, "contact.added", f"contact:{client.contacts[0].id}", {}),
            (audit.Cause.system(), "channel.created", "C0ACME", {"name": f"client-{slug}"}),
            (audit.Cause.system(), "channel.welcomed", "welcome", {"ts": "1772442001.000100"}),
            (AM, "task.done", "task:1", {"note": 'said "done", then left — ✓', "n": 1.5}),
            (AM, "stage.entered", slug, {"from": "kickoff", "to": "build", "loop": False}),
        ]
        for n, (cause, action, subject, details) in enumerate(steps):
            audit.record(
                session,
                cause,
                action,
                client_id=client.id,
                subject=subject,
                details=details,
                at=start + dt.timedelta(minutes=n, microseconds=n),
            )
        return client.id


@pytest.fixture
def chain(db: Database) -> dict[str, int]:
    """Two clients onboarded in turn: acme (seq 1-6), then globex (seq 7-12)."""
    return {
        "acme": journey(db, "acme", START),
        "globex": journey(db, "globex", START + dt.timedelta(days=3)),
    }


def export(tmp_path: Path, *args: str, name: str = "export.jsonl") -> Path:
    path = tmp_path / name
    result = runner.invoke(audit_cli, ["export", "--output", str(path), *args])
    assert result.exit_code == 0, result.output
    return path


def verify_file(path: Path, *args: str) -> Any:
    return runner.invoke(audit_cli, ["verify", "--file", str(path), *args])


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


# -- the stored chain --------------------------------------------------------------------------


def test_verify_says_how_many_events_hold_and_exits_0(db: Database, chain: dict[str, int]) -> None:
    with db.transaction() as session:
        newest = session.get_one(AuditEvent, 12).hash
    result = runner.invoke(audit_cli, ["verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"audit chain intact: 12 events; newest seq 12, hash {newest} "
        "(keep it to check with --expect)"
    )


def test_the_newest_hash_kept_elsewhere_shows_a_truncated_or_rewritten_tail(
    db: Database, chain: dict[str, int]
) -> None:
    # The chain alone cannot see its newest events deleted: a shorter chain is still a chain.
    # The operator kept the newest seq and hash verify printed; checking against it can.
    with db.transaction() as session:
        kept = f"12:{session.get_one(AuditEvent, 12).hash}"
    assert runner.invoke(audit_cli, ["verify", "--expect", kept]).exit_code == 0
    drop_triggers(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 11"))
    assert runner.invoke(audit_cli, ["verify"]).exit_code == 0  # alone, it cannot tell

    result = runner.invoke(audit_cli, ["verify", "--expect", kept])

    assert result.exit_code == 1
    assert "audit chain holds no seq 12: it ends at seq 10 (deleted?)" in result.stderr
    wrong = runner.invoke(audit_cli, ["verify", "--expect", "10:" + "0" * 64])
    assert wrong.exit_code == 1 and "holds seq 10 with another hash" in wrong.stderr
    typo = runner.invoke(audit_cli, ["verify", "--expect", "twelve:abc"])
    assert typo.exit_code == 2 and "give SEQ:HASH" in typo.stderr


def test_the_fast_verifier_builds_exactly_the_text_canonical_hashes(
    db: Database, chain: dict[str, int]
) -> None:
    # Odd values on purpose: quotes, controls, non-ASCII, astral characters, nesting, numbers.
    with db.transaction() as session:
        for subject, details in [
            ('"quoted" \\ back\\slash', {"z": [1, 2.50, -0.0, 1e300, None, True]}),
            ("tab\tnew\nline\x01\x7f", {"b": {"y": {}, "x": []}, "a": "é ✓ 𝄞 \u2028"}),
            (None, {"ключ": "значение", "": "", "10": 10, "9": 9}),
        ]:
            audit.record(
                session, AM, "odd.values", client_id=None, subject=subject, details=details
            )

    def general_way(seq: int) -> str | None:
        raise AssertionError(f"seq {seq} did not hash right the fast way")

    with db.engine.connect() as connection:
        count, problem = audit._verify_rows(audit._fast_rows(connection), general_way)
    assert (count, problem) == (15, None)


@settings(max_examples=200, deadline=None)
@given(
    text_=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    details=st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
            max_leaves=6,
        ),
        max_size=4,
    ),
    client_id=st.none() | st.integers(min_value=0, max_value=2**31),
)
def test_for_any_values_the_fast_text_is_canonical_text(
    text_: str, details: dict[str, Any], client_id: int | None
) -> None:
    """Rows as SQLite stores them (json.dumps details, naive UTC time text) hash the same way."""
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    fields = {
        "seq": 1,
        "at": at.isoformat(timespec="microseconds"),
        "actor": text_,
        "actor_team": None,
        "action": text_[:80],
        "client_id": client_id,
        "subject": text_ or None,
        "details": details,
        "request_id": text_,
        "request_ts": None,
    }
    stored_hash = audit.chain_hash(audit.GENESIS, audit.canonical(fields))
    row = (
        1,
        "2026-01-02 03:04:05.000006",
        text_,
        None,
        text_[:80],
        client_id,
        text_ or None,
        json.dumps(details),
        text_,
        None,
        audit.GENESIS,
        stored_hash,
    )

    def general_way(seq: int) -> str | None:
        raise AssertionError("the fast text differs from canonical()")

    assert audit._verify_rows([row], general_way) == (1, None)


def drop_triggers(db: Database) -> None:
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


def test_two_stored_events_swapped_are_named_as_reordered(
    db: Database, chain: dict[str, int]
) -> None:
    drop_triggers(db)
    with db.engine.begin() as conn:
        for old, new in ((4, -4), (5, 4), (-4, 5)):
            conn.execute(text(f"UPDATE audit_events SET seq = {new} WHERE seq = {old}"))
    result = runner.invoke(audit_cli, ["verify"])
    assert result.exit_code == 1
    assert "audit chain broken at seq 4: reordered" in result.stderr


def test_an_event_changed_and_rehashed_is_caught_at_the_next_link(
    db: Database, chain: dict[str, int]
) -> None:
    drop_triggers(db)
    with db.transaction() as session:
        event = session.get_one(AuditEvent, 3)
        event.actor = "U0EVE"
        event.hash = audit.chain_hash(event.prev_hash, audit.canonical(event))
    result = runner.invoke(audit_cli, ["verify"])
    assert result.exit_code == 1
    assert "broken at seq 4: previous hash does not match the hash of seq 3" in result.stderr


def test_a_time_stored_in_another_form_is_read_as_the_orm_reads_it(
    db: Database, chain: dict[str, int]
) -> None:
    if not db.is_sqlite:
        pytest.skip("only SQLite stores times as text")
    drop_triggers(db)
    with db.engine.begin() as conn:
        # The same instants written another way: the ORM reads them unchanged, so does verify.
        conn.execute(text("UPDATE audit_events SET at = '2026-03-02 09:00:00' WHERE seq = 1"))
        conn.execute(text("UPDATE audit_events SET at = replace(at, ' ', 'T') WHERE seq = 2"))
    with db.transaction() as session:
        assert audit.verify_database(session) == (12, None)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET at = '2026-03-02 09:02:01' WHERE seq = 3"))
    with db.transaction() as session:
        _, found = audit.verify_database(session)
    assert found is not None and found.seq == 3 and "content changed" in found.reason


def test_a_time_rewritten_with_an_offset_is_a_change(db: Database, chain: dict[str, int]) -> None:
    if not db.is_sqlite:
        pytest.skip("only SQLite stores times as text")
    drop_triggers(db)
    with db.engine.begin() as conn:  # the same clock reading, at +05:00: five hours earlier
        conn.execute(text("UPDATE audit_events SET at = at || '+05:00' WHERE seq = 4"))
    with db.transaction() as session:
        _, found = audit.verify_database(session)
    assert found is not None and found.seq == 4 and "content changed" in found.reason


def test_details_nested_past_what_json_reads_are_named_not_a_traceback(
    db: Database, chain: dict[str, int], tmp_path: Path
) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL's json type refuses such nesting on input")
    drop_triggers(db)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET details = :deep WHERE seq = 3"), {"deep": "[" * 100_000}
        )
    result = runner.invoke(audit_cli, ["verify"])
    assert result.exit_code == 1, result.output
    assert "audit chain broken at seq 3: content changed" in result.stderr
    hostile = tmp_path / "deep.jsonl"
    hostile.write_text('{"seq": 1, "details": ' + "[" * 100_000 + "\n", encoding="utf-8")
    offline = verify_file(hostile)
    assert offline.exit_code != 0 and "line 1" in offline.stderr, offline.output


# -- exports -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["export.jsonl", "export.csv"])
def test_an_export_of_a_full_journey_verifies_offline(
    tmp_path: Path, chain: dict[str, int], name: str
) -> None:
    path = export(tmp_path, name=name)
    result = verify_file(path)
    assert result.exit_code == 0, result.output
    assert "audit export intact: 12 events (seq 1 to 12), chained from the genesis hash" in (
        result.stdout
    )


def test_a_jsonl_export_holds_every_field_and_both_hashes(
    db: Database, tmp_path: Path, chain: dict[str, int]
) -> None:
    events = [json.loads(line) for line in lines(export(tmp_path))]
    assert [list(e) for e in events] == [list(audit_export.EXPORT_FIELDS)] * 12
    with db.transaction() as session:
        stored = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e["hash"] for e in events] == [s.hash for s in stored]
        assert [e["prev_hash"] for e in events] == [s.prev_hash for s in stored]
        assert [{k: v for k, v in e.items() if k in audit_export.FIELDS} for e in events] == [
            audit.event_fields(s) for s in stored
        ]


def test_export_writes_to_standard_output_without_output(chain: dict[str, int]) -> None:
    result = runner.invoke(audit_cli, ["export"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 12
    assert "exported 12 events (seq 1 to 12; last hash" in result.stderr


def tamper_changed(rows: list[str], jsonl: bool) -> list[str]:
    if jsonl:
        event = json.loads(rows[4])
        event["actor"] = "U0EVE"
        rows[4] = json.dumps(event, ensure_ascii=False) + "\n"
    else:
        rows[5] = rows[5].replace("U0ALICE", "U0EVE")  # header + 4 events before it
    return rows


def tamper_removed(rows: list[str], jsonl: bool) -> list[str]:
    del rows[4 if jsonl else 5]
    return rows


def tamper_reordered(rows: list[str], jsonl: bool) -> list[str]:
    i = 4 if jsonl else 5
    rows[i], rows[i + 1] = rows[i + 1], rows[i]
    return rows


@pytest.mark.parametrize("name", ["export.jsonl", "export.csv"])
@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (tamper_changed, "at seq 5 (line 6): content changed"),
        (tamper_removed, "at seq 5 (line 6): missing (next present is 6"),
        (tamper_reordered, "at seq 5 (line 7): reordered: it is on line 7, after seq 6"),
    ],
    ids=["changed", "removed", "reordered"],
)
def test_a_tampered_export_fails_naming_the_event(
    tmp_path: Path, chain: dict[str, int], name: str, tamper: Any, named: str
) -> None:
    path = export(tmp_path, name=name)
    jsonl = name.endswith(".jsonl")
    if jsonl:
        named = named.replace("line 6", "line 5").replace("line 7", "line 6")
    path.write_text("".join(tamper(lines(path), jsonl)), encoding="utf-8")
    result = verify_file(path)
    assert result.exit_code == 1
    assert f"audit export broken {named}" in result.stderr


def test_a_line_that_is_not_an_event_is_named(tmp_path: Path, chain: dict[str, int]) -> None:
    path = export(tmp_path)
    rows = lines(path)
    rows[2] = '{"seq": 3, "note": "not an event"}\n'
    path.write_text("".join(rows), encoding="utf-8")
    result = verify_file(path)
    assert result.exit_code == 1
    assert "audit export broken at line 3: no at field" in result.stderr


@pytest.mark.parametrize("name", ["globex.jsonl", "globex.csv"])
def test_one_clients_export_verifies_as_filtered(
    tmp_path: Path, chain: dict[str, int], name: str
) -> None:
    path = export(tmp_path, "--client", "globex", name=name)
    result = verify_file(path, "--filtered")
    assert result.exit_code == 0, result.output
    assert "verified as filtered: 6 events (seq 7 to 12)" in result.stdout
    assert "5 links between consecutive seqs hold; 0 gaps" in result.stdout
    # Checked as a whole chain it cannot start at seq 1: the operator is told what to do.
    whole = verify_file(path)
    assert whole.exit_code == 1
    assert "missing (next present is 7" in whole.stderr and "--filtered" in whole.stderr


def test_a_filtered_export_with_gaps_still_checks_each_event(
    db: Database, tmp_path: Path, chain: dict[str, int]
) -> None:
    # acme acts again after globex: acme's export has a gap (seq 7-12 are globex's).
    with db.transaction() as session:
        audit.record(session, AM, "task.done", client_id=chain["acme"], subject="task:2")
    path = export(tmp_path, "--client", "acme")
    result = verify_file(path, "--filtered")
    assert result.exit_code == 0, result.output
    assert "7 events (seq 1 to 13)" in result.stdout and "1 gaps" in result.stdout
    rows = lines(path)
    rows[-1] = rows[-1].replace('"task:2"', '"task:3"')
    path.write_text("".join(rows), encoding="utf-8")
    tampered = verify_file(path, "--filtered")
    assert tampered.exit_code == 1
    assert "broken at seq 13 (line 7): content changed" in tampered.stderr


def test_an_export_since_a_date_verifies_as_filtered(tmp_path: Path, chain: dict[str, int]) -> None:
    since = (START + dt.timedelta(days=1)).date().isoformat()
    path = export(tmp_path, "--since", since)
    events = [json.loads(line) for line in lines(path)]
    assert [e["seq"] for e in events] == list(range(7, 13))
    result = verify_file(path, "--filtered")
    assert result.exit_code == 0, result.output
    assert "5 links between consecutive seqs hold" in result.stdout


def test_csv_round_trip_keeps_every_value_and_tells_empty_from_null(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as session:
        audit.record(session, audit.Cause("U0A", ""), "x.y", subject='a,b\n"c"', details={})
        audit.record(session, audit.Cause("U0A", None), "x.y", subject="", details={"k": ""})
        audit.record(session, audit.Cause.system(), "x.y", subject=None, details={"k": None})
    path = export(tmp_path, "--format", "csv", name="export.txt")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["subject"] for r in rows] == ['a,b\n"c"', "", ""]
    assert [json.loads(r["details"]) for r in rows] == [{}, {"k": ""}, {"k": None}]
    result = verify_file(path)  # no .csv suffix: the content says it is CSV
    assert result.exit_code == 0, result.output
    assert "3 events" in result.stdout


def test_csv_and_jsonl_exports_hold_the_same_events(tmp_path: Path, chain: dict[str, int]) -> None:
    as_jsonl = [json.loads(line) for line in lines(export(tmp_path, name="e.jsonl"))]
    as_csv = list(csv.DictReader(io.StringIO(export(tmp_path, name="e.csv").read_text())))
    assert [r["hash"] for r in as_csv] == [e["hash"] for e in as_jsonl]
    assert [json.loads(r["details"]) for r in as_csv] == [e["details"] for e in as_jsonl]


def test_an_unknown_client_or_a_bad_date_is_refused_in_one_line(chain: dict[str, int]) -> None:
    unknown = runner.invoke(audit_cli, ["export", "--client", "initech"])
    assert unknown.exit_code == 2 and "no client 'initech'" in unknown.stderr
    bad = runner.invoke(audit_cli, ["export", "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since 'yesterday'" in bad.stderr
