"""Settings from the environment and a .env file, validated once at start-up."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "gpt-4o-mini"
# values never echoed back in an error: they are secrets or may hold a password
_SECRET_NAMES = {
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_SECRET",
    "OPENAI_API_KEY",
    "DATABASE_URL",
}


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and the fix."""


class Settings(BaseSettings):
    """Every setting the app reads. Nothing else reads os.environ."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: str | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: str | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    database_url: str = Field(default="sqlite:///signalloop.db", validation_alias="DATABASE_URL")
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    llm_model: str = Field(default=DEFAULT_MODEL, validation_alias="SIGNALLOOP_LLM_MODEL")
    llm_timeout: float = Field(default=20.0, validation_alias="SIGNALLOOP_LLM_TIMEOUT")
    llm_prompt_budget: int = Field(default=12_000, validation_alias="SIGNALLOOP_LLM_PROMPT_TOKENS")
    # the model classifies signals' kind and sentiment: on by default when there is a key (README → Classification)
    llm_classify: bool | None = Field(default=None, validation_alias="SIGNALLOOP_LLM_CLASSIFY", validate_default=True)
    capture_emoji: str = Field(default="memo", validation_alias="SIGNALLOOP_CAPTURE_EMOJI")
    # how the Slack app is distributed, which sets the conversations.history/replies rate limit (bot.history):
    # internal (one workspace) | marketplace | distributed (other workspaces, not Marketplace-approved);
    # unset: distributed when installed by OAuth, else internal
    slack_distribution: Literal["internal", "marketplace", "distributed"] | None = Field(
        default=None, validation_alias="SIGNALLOOP_SLACK_DISTRIBUTION"
    )
    port: int = Field(default=3000, validation_alias="SIGNALLOOP_PORT")
    # the address the HTTP server (and Socket Mode's /healthz) binds: 0.0.0.0 every interface (Docker needs it),
    # 127.0.0.1 only a reverse proxy on the same host
    host: str = Field(default="0.0.0.0", validation_alias="SIGNALLOOP_HOST")
    retention_days: int | None = Field(default=None, validation_alias="SIGNALLOOP_RETENTION_DAYS")
    impact_review_days: int = Field(default=14, validation_alias="SIGNALLOOP_IMPACT_REVIEW_DAYS")
    http_threads: int = Field(default=16, validation_alias="SIGNALLOOP_HTTP_THREADS")
    digest_workers: int = Field(default=16, validation_alias="SIGNALLOOP_DIGEST_WORKERS")
    llm_concurrency: int = Field(default=16, validation_alias="SIGNALLOOP_LLM_CONCURRENCY")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return v if v.endswith("/") else v + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: str | None) -> str | None:
        if v and not v.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb- (OAuth & Permissions page)")
        return v or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: str | None) -> str | None:
        if v and not v.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (Basic Information page)")
        return v or None

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+]*://", v):
            raise ValueError(
                "must be a SQLAlchemy URL such as sqlite:///signalloop.db or postgresql+psycopg://user@host/db"
            )
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            url = make_url(v)
            url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(
                f"names an unknown database driver “{v.split('://', 1)[0]}”: use sqlite:///signalloop.db "
                "or postgresql+psycopg://user@host/db"
            ) from None
        except (ArgumentError, ValueError):
            raise ValueError(
                "is not a database URL: write sqlite:///signalloop.db or postgresql+psycopg://user@host/db"
            ) from None
        if url.get_backend_name() == "sqlite" and (url.host or url.port or url.username):
            raise ValueError(
                "has two slashes after sqlite: — write sqlite:///signalloop.db (three slashes for a file in the "
                "working directory, four for an absolute path)"
            )
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            # psycopg 3 is the driver we ship
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @field_validator("llm_classify")
    @classmethod
    def _llm_classify(cls, v: bool | None, info: ValidationInfo) -> bool:
        return bool(info.data.get("openai_api_key")) if v is None else v

    @field_validator("capture_emoji")
    @classmethod
    def _emoji(cls, v: str) -> str:
        v = v.strip().strip(":")
        if not re.fullmatch(r"[a-z0-9_+\-']+", v):
            raise ValueError("must be a Slack emoji short name such as memo (no colons, no spaces)")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", v):
            raise ValueError("must be an address to bind, such as 0.0.0.0 (every interface) or 127.0.0.1")
        return v

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        if not 1 <= v <= 65535:
            raise ValueError("must be a TCP port between 1 and 65535")
        return v

    @field_validator("llm_prompt_budget")
    @classmethod
    def _budget(cls, v: int) -> int:
        if not 1_000 <= v <= 200_000:
            raise ValueError("must be between 1000 and 200000 tokens")
        return v

    @field_validator("impact_review_days")
    @classmethod
    def _impact_days(cls, v: int) -> int:
        if not 7 <= v <= 90:
            raise ValueError("must be between 7 and 90 days")
        return v

    @field_validator("http_threads", "digest_workers", "llm_concurrency")
    @classmethod
    def _threads(cls, v: int) -> int:
        if not 1 <= v <= 256:
            raise ValueError("must be a whole number from 1 to 256")
        return v

    @property
    def db_pool_size(self) -> int:
        """Connections kept open: one per request thread and a few for background jobs. Digest builds borrow
        beyond that (max overflow) only while they read: none is held while the model thinks."""
        return self.http_threads + 4

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be a whole number of days, 1 or more (unset keeps text forever)")
        return v

    @field_validator(
        "openai_api_key", "openai_base_url", "slack_signing_secret", "slack_client_id", "slack_client_secret"
    )
    @classmethod
    def _blank_is_unset(cls, v: str | None) -> str | None:
        return v or None

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def distribution(self) -> str:
        """internal | marketplace | distributed: SIGNALLOOP_SLACK_DISTRIBUTION, else from how the app installs."""
        return self.slack_distribution or ("distributed" if self.oauth_enabled else "internal")

    def require_slack(self) -> None:
        """Check what connecting to Slack needs; raise ConfigError naming the variable."""
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            missing = "SLACK_CLIENT_SECRET" if self.slack_client_id else "SLACK_CLIENT_ID"
            raise ConfigError(
                f"{missing} is not set: multi-workspace install needs both SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET (Basic Information → App Credentials), or neither"
            )
        if not self.slack_bot_token and not self.oauth_enabled:
            raise ConfigError(
                "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) "
                "from your app's OAuth & Permissions page into .env"
            )
        if not self.socket_mode and not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's "
                "requests (Basic Information → Signing Secret), or set SLACK_APP_TOKEN "
                "for Socket Mode"
            )


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; a bad value raises ConfigError with one clear line."""
    try:
        return Settings.model_validate(overrides)  # runs Settings.__init__, so env and .env still apply
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err.get("loc") or ("?",)
        field = str(loc[0])
        info = Settings.model_fields.get(field)
        name = info.validation_alias if info and isinstance(info.validation_alias, str) else field.upper()
        msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") in ("int_parsing", "int_type"):
            msg = "must be a whole number"
        shown = "" if name in _SECRET_NAMES else f" (got {err.get('input')!r})"
        raise ConfigError(f"{name} {msg}{shown}") from None
