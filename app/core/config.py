"""One place for every setting (DESIGN.md §4: one pydantic Settings, every field in .env.example).

Values come from the environment, then from a `.env` file in the working directory, then from the
defaults below. With neither DATABASE_URL nor REDIS_URL set the system runs on the embedded
PostgreSQL and Redis kept in DATA_DIR (DESIGN.md §3 "Zero-config default").
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which one and how to fix it."""


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("adolf-marketing", appauthor=False))


def secret_value(secret: SecretStr | None) -> str:
    """The value of a secret setting, "" when it is unset (secrets are SecretStr so that no repr,
    log line or error message shows them)."""
    return "" if secret is None else secret.get_secret_value()


class ProjectionMode(StrEnum):
    """BUDGET_PROJECTION: a campaign that will pass its limit before the next check is paused,
    only alerted about, or left to the spec's rules (app/services/marketing/budget_rules.py)."""

    PAUSE = "pause"
    ALERT = "alert"
    OFF = "off"


class SmtpSecurity(StrEnum):
    """SMTP_SECURITY: how the connection to the SMTP server is protected."""

    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


class LogLevel(StrEnum):
    """LOG_LEVEL, in any case; its value is the name `logging` knows."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- Services -------------------------------------------------------------------------------
    DATABASE_URL: str | None = Field(
        default=None, description="PostgreSQL URL; unset = embedded PostgreSQL in DATA_DIR"
    )
    REDIS_URL: str | None = Field(default=None, description="Redis URL; unset = embedded Redis in DATA_DIR")
    BROKER_URL: str | None = Field(
        default=None, description="Celery broker URL when it is not REDIS_URL (e.g. amqp://...)"
    )
    DATA_DIR: Path = Field(default_factory=_default_data_dir, description="Folder of the embedded services")

    # --- Secrets --------------------------------------------------------------------------------
    SECRET_KEY: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet key (urlsafe base64, 32 bytes) that encrypts marketplace credentials at rest; "
            "unset with the embedded database = a key generated once in DATA_DIR"
        ),
    )
    SECRET_KEY_PREVIOUS: SecretStr | None = Field(
        default=None,
        description=(
            "Earlier Fernet keys, comma-separated, still accepted for reading credentials while "
            "`adolf-marketing secret-key --rotate` re-encrypts them with SECRET_KEY; remove when it is done"
        ),
    )

    # --- Celery time limits, seconds (spec 7.2.1, 7.3.1; celery-reliability.md §1.5) ---------------
    TASK_SOFT_TIME_LIMIT: int = Field(default=300, gt=0, description="seconds; default soft limit")
    TASK_TIME_LIMIT: int = Field(default=600, gt=0, description="seconds; default hard limit")
    BID_CYCLE_SOFT_TIME_LIMIT: int = Field(default=240, gt=0, description="seconds (spec 7.3.1)")
    BID_CYCLE_TIME_LIMIT: int = Field(default=300, gt=0, description="seconds (spec 7.3.1)")
    BID_CYCLE_LOCK_TTL: int = Field(
        default=360, gt=0, description="seconds; Redis lock of the bid cycle, above its hard limit"
    )
    ANALYTICS_SOFT_TIME_LIMIT: int = Field(default=600, gt=0, description="seconds (spec 7.3.4)")
    ANALYTICS_TIME_LIMIT: int = Field(default=900, gt=0, description="seconds (spec 7.3.4)")
    VISIBILITY_TIMEOUT: int = Field(
        default=1800,
        gt=0,
        description="seconds; Redis broker redelivers unacked tasks after this; above every hard limit",
    )
    MAX_REDELIVERIES: int = Field(
        default=3, ge=1, description="count; a message delivered more often goes to celery_failed_tasks"
    )
    WORKER_MAX_MEMORY_PER_CHILD: int = Field(
        default=300_000, gt=0, description="KiB; a pool child above this is replaced after its task"
    )
    UNACKED_RESTORE_INTERVAL: float = Field(
        default=10.0, gt=0, description="seconds; how often the broker sweeps for expired unacked tasks"
    )

    DB_STATEMENT_TIMEOUT_MS: int = Field(
        default=120_000, gt=0, description="milliseconds; PostgreSQL statement_timeout of every session"
    )

    # --- Marketplace APIs (adapters; the sandbox in the demo and tests) ----------------------------
    WB_API_URL: str = Field(default="https://advert-api.wildberries.ru", description="WB Promotion API")
    OZON_API_URL: str = Field(default="https://api-performance.ozon.ru", description="Ozon Performance API")
    YM_API_URL: str = Field(default="https://api.partner.market.yandex.ru", description="YM Partner API")
    WATCHER_API_URL: str | None = Field(
        default=None, description="ADOLF Watcher API base URL; unset = marketplace signals only"
    )
    WATCHER_API_KEY: SecretStr | None = Field(
        default=None, description="secret; X-Watcher-Key of the Watcher API"
    )
    API_SLOW_MS: int = Field(
        default=2000, gt=0, description="milliseconds; a ping slower than this is 'slow' (spec 7.4.4)"
    )
    HTTP_TIMEOUT: float = Field(default=30.0, gt=0, description="seconds; timeout of every API call")
    HTTP_MAX_ATTEMPTS: int = Field(
        default=4, ge=1, le=10, description="count; tries of one API call on timeouts, 5xx, 429/420"
    )
    HTTP_BACKOFF_BASE: float = Field(default=0.5, gt=0, description="seconds; first retry delay, doubling")
    HTTP_BACKOFF_MAX: float = Field(default=30.0, gt=0, description="seconds; longest retry delay")
    RATE_LIMIT_FACTOR: float = Field(
        default=1.0,
        gt=0,
        description="multiplier of every official rate limit; 1 for real marketplaces, the sandbox's "
        "fast-profile factor when talking to it",
    )

    # --- Budgets (spec 7.3.3; issue 5) -----------------------------------------------------------
    BUDGET_CHECK_INTERVAL: float = Field(
        default=900.0, gt=0, description="seconds between budget checks (the spend-rate projection horizon)"
    )
    BUDGET_PROJECTION: ProjectionMode = Field(
        default=ProjectionMode.PAUSE,
        description="pause|alert|off: a campaign that will pass its limit before the next check is paused, "
        "only alerted, or left to the spec's rules",
    )
    SPEND_STALE_AFTER: float = Field(
        default=1800.0,
        gt=0,
        description="seconds; spend data older than this is estimated forward and alerted as stale",
    )

    # --- Bid cycle (spec 7.3.1; issue 9) ---------------------------------------------------------
    STATS_WINDOW_HOURS: int = Field(
        default=24,
        ge=1,
        le=168,
        description="hours; the recent window the performance strategies and keyword safety judge",
    )

    # --- Statistics and retention (spec 7.3.5, 7.3.6; issue 15) -------------------------------------
    STATS_REAGGREGATE_DAYS: int = Field(
        default=3,
        ge=0,
        le=30,
        description="days; each nightly aggregation also redoes this many days before yesterday "
        "(marketplaces correct them late: WB until ~09:00 Moscow, Ozon attributes orders for days)",
    )
    STATS_PARTITIONS_AHEAD: int = Field(
        default=7,
        ge=1,
        le=366,
        description="days; daily partitions of marketing_stats kept ready after today (fewer raise "
        "a critical alert)",
    )
    RETENTION_DELETE_BATCH: int = Field(
        default=5000, ge=100, description="rows; one retention DELETE transaction of bid history or alerts"
    )
    PARTITION_LOCK_TIMEOUT: float = Field(
        default=10.0,
        gt=0,
        description="seconds; longest wait for a lock by partition DDL (create, detach) before it gives up "
        "and retries on the next run",
    )

    # --- Reports (issue 11 item 4) ------------------------------------------------------------
    REPORTS_DIR: Path | None = Field(
        default=None,
        description="Folder generate_report writes XLSX/CSV files to (on the worker's machine); "
        "unset = DATA_DIR/reports",
    )

    # --- AI recommendations (spec 7.3.4; issue 11 item 2) ------------------------------------------
    CLAUDE_API_KEY: SecretStr | None = Field(
        default=None, description="secret; Anthropic API key; unset = rule-based recommendations only"
    )
    CLAUDE_API_URL: str = Field(
        default="https://api.anthropic.com",
        description="Anthropic API base URL (the sandbox's fake Messages API in the demo and tests)",
    )
    CLAUDE_MODEL: str = Field(
        default="claude-opus-5",
        description="Claude model id; the spec's claude-opus-4-5 reaches its end of life on 2027-01-22",
    )
    CLAUDE_TIMEOUT: float = Field(
        default=60.0, gt=0, description="seconds; timeout of one Anthropic API call"
    )
    CLAUDE_MAX_RETRIES: int = Field(
        default=2,
        ge=0,
        le=10,
        description="count; SDK retries of one call on 408/409/429/5xx and connection errors",
    )
    CLAUDE_MAX_TOKENS: int = Field(
        default=2048, ge=256, description="tokens; the longest answer Claude may give for one campaign"
    )
    CLAUDE_MONTHLY_TOKEN_BUDGET: int = Field(
        default=5_000_000,
        ge=0,
        description="tokens per Moscow month (input incl. cache, plus output); 0 = never call Claude",
    )
    CLAUDE_MAX_KEYWORDS: int = Field(
        default=40, ge=1, le=500, description="count; keywords per campaign shown to Claude, most spend first"
    )

    # --- Notification channels (spec 7.3.7; issue 12 item 5) -------------------------------------
    TELEGRAM_BOT_TOKEN: SecretStr | None = Field(
        default=None,
        description="secret; the Telegram bot's token (from @BotFather); unset = no Telegram messages and "
        "no bot process",
    )
    TELEGRAM_API_URL: str = Field(
        default="https://api.telegram.org",
        description="Telegram Bot API base URL (the sandbox's fake Bot API in the demo and tests)",
    )
    SMTP_HOST: str | None = Field(default=None, description="SMTP server for alert emails; unset = no email")
    SMTP_PORT: int = Field(default=587, gt=0, lt=65536, description="TCP port of the SMTP server")
    SMTP_SECURITY: SmtpSecurity = Field(
        default=SmtpSecurity.STARTTLS, description="starttls|ssl|none: how the SMTP connection is protected"
    )
    SMTP_USERNAME: str | None = Field(default=None, description="SMTP login; unset = no authentication")
    SMTP_PASSWORD: SecretStr | None = Field(default=None, description="secret; SMTP password")
    SMTP_FROM: str = Field(default="adolf-marketing@localhost", description="sender address of alert emails")
    NOTIFY_TIMEOUT: float = Field(
        default=10.0, gt=0, description="seconds; timeout of one Telegram or SMTP call"
    )
    NOTIFY_RETRY_BASE: float = Field(
        default=30.0, gt=0, description="seconds; first retry delay of a failed message, doubling"
    )
    NOTIFY_RETRY_MAX: float = Field(
        default=1800.0, gt=0, description="seconds; longest retry delay of a failed message"
    )
    NOTIFY_GIVE_UP_AFTER: float = Field(
        default=86400.0,
        gt=0,
        description="seconds; a message still failing this long after its alert is marked failed "
        "(the alert and its in-app notification stay)",
    )
    NOTIFY_BATCH: int = Field(
        default=100, ge=1, le=1000, description="count; messages one delivery run sends at most"
    )

    # --- Simulation ------------------------------------------------------------------------------
    CLOCK_URL: str | None = Field(
        default=None,
        description='URL of a clock to follow instead of the system clock ({"now": ISO time}): the '
        "sandbox's /_sandbox/clock in the demo and tests; never set against real marketplaces",
    )

    # --- Alert thresholds of spec 7.4.2 (check_metrics, every 5 minutes; docs/operations.md) -----
    ALERT_BID_CYCLE_DURATION_S: int = Field(
        default=300, gt=0, description="seconds; a bid cycle longer than this alerts (spec: > 5 min)"
    )
    ALERT_BID_CYCLE_ERRORS: int = Field(
        default=0, ge=0, description="errors; a bid cycle with more errors than this alerts (spec: > 0)"
    )
    ALERT_STATS_LAG_MINUTES: int = Field(
        default=20,
        gt=0,
        description="minutes since an active account's last successful stats collection (spec: > 20)",
    )
    ALERT_API_ERRORS_PERCENT: float = Field(
        default=5.0, gt=0, le=100, description="percent of a marketplace's API calls failing (spec: > 5 %)"
    )
    ALERT_API_ERRORS_WINDOW_MINUTES: int = Field(
        default=15, gt=0, le=120, description="minutes; the window api_errors_rate is measured over"
    )
    ALERT_API_ERRORS_MIN_CALLS: int = Field(
        default=20, ge=1, description="calls; fewer API calls in the window are too few to judge a rate"
    )
    ALERT_QUEUE_LENGTH: int = Field(
        default=100, gt=0, description="messages waiting in one queue, priorities included (spec: > 100)"
    )
    ALERT_BEAT_SILENT_MINUTES: int = Field(
        default=5, gt=0, description="minutes since beat's last tick (marketing:beat:last_tick) that alert"
    )
    ALERT_WORSE_FACTOR: float = Field(
        default=1.5,
        gt=1,
        description="an open breach alerts again when its figure grows by this factor since its last alert",
    )
    MONITOR_WATCHDOG_S: int = Field(
        default=60,
        ge=0,
        description=(
            "seconds; how often each marketing_high worker checks that check_metrics ran in the last "
            "10 min and sends it itself if not (a dead beat is still noticed); 0 = off"
        ),
    )
    STATUS_QUEUE_LENGTH: int = Field(
        default=50,
        gt=0,
        description="messages; `status` fails a queue at this length (spec Appendix A: < 50)",
    )
    METRICS_PORT: int = Field(
        default=9808,
        gt=0,
        lt=65536,
        description="TCP port of the Prometheus exporter (`adolf-marketing metrics`)",
    )
    METRICS_ADDRESS: str = Field(
        default="127.0.0.1", description="address the Prometheus exporter listens on (loopback by default)"
    )

    # --- Monitoring -----------------------------------------------------------------------------
    FLOWER_PORT: int = Field(default=5555, gt=0, lt=65536, description="TCP port of Flower")
    FLOWER_BASIC_AUTH: SecretStr | None = Field(
        default=None,
        description='secret; "user:password" (comma-separated for several) that Flower asks for; '
        "required when Flower listens beyond loopback (the spec's command listens on every address)",
    )

    # --- Beat (one scheduler per broker, app/core/beat_scheduler.py) -----------------------------
    BEAT_LOCK_TTL: int = Field(
        default=30,
        ge=5,
        description="seconds; a killed beat's lock expires after this, then a standby beat takes over",
    )
    BEAT_TICK: float = Field(
        default=5.0,
        gt=0,
        description="seconds; longest sleep of beat between ticks (heartbeat, lock extension, standby poll)",
    )
    LOG_LEVEL: LogLevel = Field(default=LogLevel.INFO, description="DEBUG|INFO|WARNING|ERROR|CRITICAL")

    @field_validator("FLOWER_BASIC_AUTH")
    @classmethod
    def _user_password_pairs(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not all(
            user and password
            for user, _, password in (pair.partition(":") for pair in value.get_secret_value().split(","))
        ):
            raise ValueError('must be "user:password" pairs, comma-separated, each with both parts')
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user:pass@host:5432/db")
        return _with_numeric_port(value, "postgresql://user:pass@host:5432/db")

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "redis+socket://", "unix://")):
            raise ValueError("must be a Redis URL such as redis://localhost:6379/0")
        return _with_numeric_port(value, "redis://localhost:6379/0")

    @field_validator("BROKER_URL")
    @classmethod
    def _broker_port(cls, value: str | None) -> str | None:
        return _with_numeric_port(value, "amqp://user:pass@host:5672//")

    # --- Derived --------------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        """True when the embedded PostgreSQL/Redis are used (DESIGN.md §3 "Zero-config default")."""
        return self.DATABASE_URL is None or self.REDIS_URL is None

    @property
    def redis_socket_path(self) -> Path:
        return self.DATA_DIR / "redis" / "redis.sock"

    @property
    def redis_url(self) -> str:
        """REDIS_URL, or the embedded Redis's socket (a fixed path, so every process finds it)."""
        return self.REDIS_URL or f"redis+socket://{self.redis_socket_path}"

    @property
    def broker_url(self) -> str:
        return self.BROKER_URL or self.redis_url

    @property
    def pgdata_path(self) -> Path:
        return self.DATA_DIR / "postgres"

    @property
    def reports_path(self) -> Path:
        return self.REPORTS_DIR or self.DATA_DIR / "reports"


def _with_numeric_port(url: str | None, example: str) -> str | None:
    """A port that is not a number 1..65535 fails here, as one line, rather than deep inside the
    database or Redis client as a traceback (issue 17 item 5)."""
    if url:
        try:
            port = urlsplit(url).port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"the port must be a number from 1 to 65535, as in {example}")
    return url


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    return f"Invalid setting {field}: {first['msg']} (fix it in the environment or .env)"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; a bad value raises ConfigError with a one-line message."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def reset_settings_cache() -> None:
    """Re-read the environment (used by the CLI after it starts the embedded services, and tests)."""
    get_settings.cache_clear()
