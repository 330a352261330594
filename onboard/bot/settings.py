"""Configuration: environment, `.env` and an optional TOML file named by ONBOARD_CONFIG.

A missing or malformed setting becomes one clear line naming it (`SettingsError`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

UserIds = Annotated[tuple[str, ...], NoDecode]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def _env(name: str) -> Any:
    """Field options for a setting read from the variable `name` (and its lowercase TOML key)."""
    return AliasChoices(name, name.lower(), name.removeprefix("ONBOARD_").lower())


class Settings(BaseSettings):
    """Every setting of the bot; INTERFACE.md is the contract for their names."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    database_url: str = Field("sqlite:///onboard.db", validation_alias=_env("DATABASE_URL"))

    admins: UserIds = Field((), validation_alias=_env("ONBOARD_ADMINS"))
    managers: UserIds = Field((), validation_alias=_env("ONBOARD_MANAGERS"))
    team: UserIds = Field((), validation_alias=_env("ONBOARD_TEAM"))
    slack_connect: bool = Field(False, validation_alias=_env("ONBOARD_SLACK_CONNECT"))
    channel_private: bool = Field(True, validation_alias=_env("ONBOARD_CHANNEL_PRIVATE"))
    playbook_dir: Path | None = Field(None, validation_alias=_env("ONBOARD_PLAYBOOK_DIR"))
    http_threads: int = Field(16, ge=1, le=256, validation_alias=_env("ONBOARD_HTTP_THREADS"))
    # Enough for the Slack round trips after acks (a views.open must land within its
    # trigger's 3 s) without crowding the threads that answer Slack (inbox.py).
    after_ack_threads: int = Field(
        8, ge=1, le=64, validation_alias=_env("ONBOARD_AFTER_ACK_THREADS")
    )
    # An acked request whose work has not finished this long after a process took it on
    # (the process died) is taken on by another (inbox.py).
    inbox_lease_seconds: float = Field(
        60, gt=0, le=3600, validation_alias=_env("ONBOARD_INBOX_LEASE_SECONDS")
    )
    outbox_poll_seconds: float = Field(
        0.5, gt=0, le=60, validation_alias=_env("ONBOARD_OUTBOX_POLL_SECONDS")
    )
    outbox_max_attempts: int = Field(
        12, ge=1, le=100, validation_alias=_env("ONBOARD_OUTBOX_MAX_ATTEMPTS")
    )
    log_level: str = Field("INFO", validation_alias=_env("ONBOARD_LOG_LEVEL"))
    log_format: str = Field(
        "text", pattern="^(text|json)$", validation_alias=_env("ONBOARD_LOG_FORMAT")
    )
    scheduler_standby_seconds: float = Field(
        15, gt=0, le=300, validation_alias=_env("ONBOARD_SCHEDULER_STANDBY_SECONDS")
    )
    reminder_hour: int = Field(9, ge=0, le=23, validation_alias=_env("ONBOARD_REMINDER_HOUR"))
    approval_nudge_days: int = Field(
        2, ge=1, le=60, validation_alias=_env("ONBOARD_APPROVAL_NUDGE_DAYS")
    )
    archive_after_days: int = Field(
        14, ge=0, le=365, validation_alias=_env("ONBOARD_ARCHIVE_AFTER_DAYS")
    )
    manager_group: str | None = Field(
        None, pattern=r"^S[A-Z0-9]+$", validation_alias=_env("ONBOARD_MANAGER_GROUP")
    )
    retention_days: int | None = Field(
        None, ge=1, le=36500, validation_alias=_env("ONBOARD_RETENTION_DAYS")
    )

    @field_validator("admins", "managers", "team", mode="before")
    @classmethod
    def _split_user_ids(cls, value: Any) -> tuple[str, ...]:
        if value is None or value == "":
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)
        ids = tuple(str(item).strip() for item in items if str(item).strip())
        bad = [i for i in ids if not (i[:1] in "UW" and i[1:].isalnum() and i.isupper())]
        if bad:
            raise ValueError(f"not a Slack user ID: {bad[0]!r} (expected U… or W…)")
        return ids

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_ends_with_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite", "postgresql+psycopg")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _VariablesOnly(settings_cls, env_settings),
            _VariablesOnly(settings_cls, dotenv_settings),
        ]
        config = os.environ.get("ONBOARD_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    def require(self, *names: str) -> None:
        """Refuse to go on when a setting a command needs is unset, or set to nothing: an
        empty SLACK_SIGNING_SECRET would start a server that refuses every request."""
        for name in names:
            value = getattr(self, name.lower())
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None:
                raise SettingsError(f"setting {name} is required for this command")
            if isinstance(value, str) and not value.strip():
                raise SettingsError(f"setting {name} is required for this command (it is empty)")


class _Embedded(Settings):
    """The defaults and what the code passes, nothing else (see `embedded_settings`)."""

    model_config = SettingsConfigDict(env_file=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def embedded_settings(**values: Any) -> Settings:
    """Settings from `values` and the embedded defaults only: no environment, .env or
    ONBOARD_CONFIG, so that `onboard demo` runs the same wherever an operator starts it."""
    return _Embedded(**values)


class _VariablesOnly(PydanticBaseSettingsSource):
    """The environment (or .env) by the variables' own names, ONBOARD_TEAM: never by the TOML
    file's short keys, matched without regard to case, so that a stray TEAM or ADMINS
    variable of some other program cannot configure the bot (or name its admins)."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self.inner().items() if name.isupper()}


_FIELD_TO_VARIABLE = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "database_url": "DATABASE_URL",
}


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line that names the setting."""
    config = os.environ.get("ONBOARD_CONFIG")
    if config and not Path(config).is_file():
        raise SettingsError(f"setting ONBOARD_CONFIG: no such file {config!r}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = str(error["loc"][0]) if error["loc"] else "?"
        variable = _FIELD_TO_VARIABLE.get(loc, loc.upper() if loc.isupper() else loc)
        if not variable.isupper():
            variable = "ONBOARD_" + variable.upper()
        raise SettingsError(f"setting {variable}: {error['msg']}") from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed .env or TOML file
        raise SettingsError(_unreadable_dotenv() or f"setting ONBOARD_CONFIG: {exc}") from None


def _unreadable_dotenv() -> str | None:
    """What is wrong with the .env file, when it is what could not be read."""
    dotenv = Path(str(Settings.model_config.get("env_file") or ".env"))
    if not dotenv.is_file():
        return None
    try:
        dotenv.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        return f"cannot read {dotenv.resolve()}: {exc}"
    return None
