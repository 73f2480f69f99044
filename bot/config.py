"""Deployment settings from the environment (and an optional `.env` file)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.retention import Policy

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./var/aftersales.db"
    data_dir: Path = PROJECT_ROOT / "data"

    host: str = "127.0.0.1"
    port: int = 8080

    telegram_bot_token: str | None = None
    telegram_api_base: str | None = None  # a local Bot API server or a test server
    webhook_url: str | None = None  # set -> webhook mode, else long polling
    webhook_secret: str | None = None
    webhook_path: str = "/telegram/webhook"

    # Telegram's documented limits: ~30 messages/s per bot, ~1 message/s per chat.
    telegram_rate_global: float = 30.0
    telegram_rate_per_chat: float = 1.0
    telegram_chat_burst: int = 3

    # Seconds a sender may hold a claimed reply before it counts as dead.
    outbox_lease: float = 30.0
    # Durable jobs (bot/jobs.py): a runner's claim lasts this many seconds unless renewed;
    # it looks for jobs due (scheduled by other processes) at least this often.
    jobs_lease: float = Field(default=60.0, gt=0)
    jobs_poll: float = Field(default=1.0, gt=0)
    # Seconds a job's handler may run; past it the try fails and is retried (a conversation job
    # runs in the core's transaction: a hung one would hold up the customers behind it).
    jobs_timeout: float = Field(default=30.0, gt=0)

    company_timezone: str = "Asia/Shanghai"
    default_phone_region: str = "CN"

    # Group commit: how long the committer waits to gather more events (seconds).
    commit_window: float = Field(default=0.0, ge=0.0)
    commit_max_batch: int = 200

    # Retention: inbound receipts and delivered outbox rows older than this many days are
    # pruned, every `retention_every` seconds (the transcript stays).
    retention_receipts_days: float = Field(default=30.0, gt=0)
    retention_outbox_days: float = Field(default=30.0, gt=0)
    retention_every: float = Field(default=3600.0, gt=0)

    def retention_policy(self) -> Policy:
        return Policy(timedelta(days=self.retention_receipts_days), timedelta(days=self.retention_outbox_days))
    # The agents' console: how long a log-in lasts (hours).
    console_session_hours: float = Field(default=12.0, gt=0)
    # Uploaded files (agents' photos and documents) and the largest accepted, in bytes.
    media_dir: Path = PROJECT_ROOT / "var" / "media"
    media_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    # --- security (docs/security.md) ------------------------------------------------------
    # The address customers use, e.g. https://chat.example.com behind a TLS proxy: https
    # makes the visitor cookie Secure and sends HSTS; its origin is the page's own.
    public_url: str | None = None
    # Other origins (comma-separated, e.g. https://www.example.com) whose pages may open /ws.
    web_allowed_origins: str = ""
    # CSP frame-ancestors: who may show the chat in a frame ('none', 'self', or origins).
    web_frame_ancestors: str = "'self'"
    # Proxies (comma-separated IPs or networks) whose X-Forwarded-For names the client.
    trusted_proxies: str = ""
    web_session_days: float = Field(default=30.0, gt=0)  # a visitor identity's lifetime
    web_session_rotate_hours: float = Field(default=24.0, gt=0)  # a new cookie value after this
    # Rate limits: sustained per second, and the burst allowed on top.
    rate_visitor_messages: float = 1.0
    rate_visitor_burst: int = 30
    rate_ip_messages: float = 5.0
    rate_ip_burst: int = 100
    rate_ip_connects: float = 2.0
    rate_ip_connect_burst: int = 30
    rate_telegram_chat: float = 1.0
    rate_telegram_burst: int = 20
    # Readiness (/healthz): not ready while a due reply has waited longer than this (seconds).
    health_outbox_max_age: float = 300.0
    # At a stop: how long sends already on the network may take to finish (seconds).
    stop_grace: float = 5.0
    # Log a warning (with the stack) when the event loop stalls longer than this (seconds).
    loop_lag_warning: float = 0.1
    # Telegram's limit in a group chat (messages a minute).
    telegram_rate_group: float = 20.0
    # WeChat Official Account (bot/channels/wechat.py): set token and app id to serve it.
    wechat_token: str | None = None
    wechat_aes_key: str | None = None  # EncodingAESKey (43 characters): safe mode
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_account: str | None = None  # the account's own id (ToUserName, "gh_..."); None: not checked
    wechat_api_base: str = "https://api.weixin.qq.com"  # a test double in tests
    wechat_path: str = "/wechat"
    # A template message for replies beyond WeChat's 48-hour window (the account's template id and
    # the field its text goes in); None: such replies wait until the customer writes again.
    wechat_template_id: str | None = None
    wechat_template_field: str = "content"
    # Choices as WeChat's menu message (an account WeChat lets send them; each is a customer-service
    # message, counted against the window) instead of a numbered list in the passive reply.
    wechat_menu_messages: bool = False

    # Early warning (domain.md §6): a fault recurring on one model more often than this within
    # a month / a quarter / a year is flagged on the reports page and alerts supervisors.
    early_warning_month: int = Field(default=3, ge=1)
    early_warning_quarter: int = Field(default=6, ge=1)
    early_warning_year: int = Field(default=12, ge=1)

    def early_warning_thresholds(self) -> dict[str, int]:
        return {"month": self.early_warning_month, "quarter": self.early_warning_quarter, "year": self.early_warning_year}

    # The agents' Telegram group (issue 14): a supergroup with topics where the bot is an admin
    # allowed to manage topics, e.g. -1001234567890; unset: no group.
    agent_group_id: str | None = None

    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token and self.wechat_app_id)
    # --- running it (docs/deployment.md) ------------------------------------------------------
    # /metrics on the service's port for `Authorization: Bearer <token>`; unset: refused there.
    metrics_token: str | None = None
    # A listener of its own for /metrics without a token, e.g. 127.0.0.1:9108 (an admin address).
    metrics_address: str | None = None
    log_format: str = Field(default="text", pattern="^(text|json)$")  # json: one object a line
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")  # WARNING: no per-event lines
    access_log: bool = True  # one line per web request (method, path, status, time; no query string)
