"""A newcomer runs `onboard demo`: the whole journey against the stand-in, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_walks_the_default_playbook_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "onboard", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "#client-acme-rockets (private)" in out
    assert "requested changes" in out and "Transition to BAU" in out
    assert "@carla answers 7 pages and submits" in out and "Required information verified" in out
    assert "scored 9/10 in the survey" in out
    assert "100% · :tada: *complete*" in out
    assert "chain intact" in out and out.rstrip().endswith("✓ every step worked")


def test_the_demo_runs_on_its_own_defaults_and_again_in_the_same_workdir(tmp_path: Path) -> None:
    # The operator's own configuration around it: none of it is the demo's.
    (tmp_path / ".env").write_text("ONBOARD_TEAM=alice\n")
    (tmp_path / "onboard.toml").write_text('admins = ["bob"]\n')
    workdir = tmp_path / "demo"
    workdir.mkdir()
    (workdir / "onboard.db").write_text("the operator's own database\n")
    env = {
        **os.environ,
        "ONBOARD_ADMINS": "bob",
        "ONBOARD_PLAYBOOK_DIR": str(tmp_path / "no-such-folder"),
        "ONBOARD_CONFIG": str(tmp_path / "onboard.toml"),
        "DATABASE_URL": "mysql://elsewhere",
    }
    for run in ("first", "again"):
        result = subprocess.run(
            [sys.executable, "-m", "onboard", "demo", "--workdir", str(workdir)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, (run, result.stdout[-2000:] + result.stderr[-2000:])
        assert result.stdout.rstrip().endswith("✓ every step worked")
    assert (workdir / "onboard.db").read_text() == "the operator's own database\n"
