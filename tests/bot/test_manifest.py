"""An operator creates the Slack app from `onboard manifest`; Slack's schema accepts it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import validate

SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "slack" / "manifest.schema.1.0.0.json"


@pytest.mark.parametrize("extra", [[], ["--socket"]])
def test_the_printed_manifest_validates_against_slacks_schema(extra: list[str]) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "onboard", "manifest", "--url", "https://bot.example.com", *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    manifest = yaml.safe_load(printed)
    if SCHEMA.exists():
        validate(manifest, json.loads(SCHEMA.read_text()))
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/onboard"
    if extra:
        assert "url" not in command and manifest["settings"]["socket_mode_enabled"] is True
    else:
        assert command["url"] == "https://bot.example.com/slack/events"
        assert "conversations.connect:write" in manifest["oauth_config"]["scopes"]["bot"]
