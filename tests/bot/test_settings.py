"""An operator configures the bot; a missing or malformed setting is named in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from onboard.bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ONBOARD_TEAM", "ONBOARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_follow_the_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///onboard.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.channel_private is True and settings.slack_connect is False


def test_user_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARD_TEAM", "U01ABC, U02DEF,")
    assert load_settings().team == ("U01ABC", "U02DEF")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("ONBOARD_TEAM", "alice", "ONBOARD_TEAM"),
        ("ONBOARD_CHANNEL_PRIVATE", "sometimes", "ONBOARD_CHANNEL_PRIVATE"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("SLACK_API_URL", "ftp://slack", "SLACK_API_URL"),
    ],
)
def test_a_malformed_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^setting {named}: "):
        load_settings()


def test_settings_can_come_from_a_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "onboard.toml"
    config.write_text('team = ["U0TOML"]\nslack_connect = true\n')
    monkeypatch.setenv("ONBOARD_CONFIG", str(config))
    settings = load_settings()
    assert settings.team == ("U0TOML",) and settings.slack_connect is True


def test_serve_without_a_token_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "onboard", "serve"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "onboard: setting SLACK_BOT_TOKEN is required for this command"


def test_only_the_variables_own_names_configure_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another program's TEAM or ADMINS in the environment is not ONBOARD_TEAM: the short names
    # are the TOML file's keys only.
    monkeypatch.setenv("ONBOARD_TEAM", "U0TEAM")
    monkeypatch.delenv("ONBOARD_ADMINS", raising=False)
    monkeypatch.setenv("TEAM", "platform-eng")
    monkeypatch.setenv("ADMINS", "U0STRAY")
    settings = load_settings()
    assert settings.team == ("U0TEAM",) and settings.admins == ()


@pytest.mark.parametrize("variable", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"])
def test_serve_with_a_token_left_empty_stops_with_one_line(tmp_path: Path, variable: str) -> None:
    # `SLACK_SIGNING_SECRET=` (a secret that was never filled in) would start a server that
    # refuses every request Slack sends.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "DATABASE_URL": f"sqlite:///{tmp_path}/onboard.db",
        variable: "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "onboard", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"onboard: setting {variable} is required for this command (it is empty)"
    )


def test_a_token_of_blanks_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "  ")
    with pytest.raises(SettingsError, match=r"^setting SLACK_BOT_TOKEN is required"):
        load_settings().require("SLACK_BOT_TOKEN")


def test_a_dotenv_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"ONBOARD_TEAM=\xff\xfe\n")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    told = str(raised.value)
    assert told.startswith(f"cannot read {tmp_path / '.env'}: 'utf-8' codec can't decode")
    assert "ONBOARD_CONFIG" not in told  # it is not even set
