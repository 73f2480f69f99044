"""Deployment settings from the environment (and an optional `.env` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    company_timezone: str = "Asia/Shanghai"
    default_phone_region: str = "CN"

    # Group commit: how long the committer waits to gather more events (seconds).
    commit_window: float = Field(default=0.0, ge=0.0)
    commit_max_batch: int = 200

    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    # Readiness (/healthz): not ready while a due reply has waited longer than this (seconds).
    health_outbox_max_age: float = 300.0
    # At a stop: how long sends already on the network may take to finish (seconds).
    stop_grace: float = 5.0
    # Log a warning (with the stack) when the event loop stalls longer than this (seconds).
    loop_lag_warning: float = 0.1
    # Telegram's limit in a group chat (messages a minute).
    telegram_rate_group: float = 20.0
