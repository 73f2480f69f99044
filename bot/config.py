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

    # WeChat Official Account (bot/channels/wechat.py): set token and app id to serve it.
    wechat_token: str | None = None
    wechat_aes_key: str | None = None  # EncodingAESKey (43 characters): safe mode
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_account: str | None = None  # the account's own id (ToUserName, "gh_..."); None: not checked
    wechat_api_base: str = "https://api.weixin.qq.com"  # a test double in tests
    wechat_path: str = "/wechat"

    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token and self.wechat_app_id)
