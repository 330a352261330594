"""A newcomer runs `onboard demo`: the whole journey against the stand-in, exit 0."""

from __future__ import annotations

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
