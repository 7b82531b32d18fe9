"""Every setting the app reads, in one place.

Azure app settings and `local.settings.json` `Values` both arrive as environment variables, so one
pydantic-settings class reads them all. `local.settings.example.json` lists each one with a safe
local default; keep the two in step (a test checks).
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Infrastructure
    database_url: SecretStr = Field(default=SecretStr(""), alias="DATABASE_URL")
    # "pgbouncer": DATABASE_URL goes through PgBouncer in transaction mode (Azure's built-in one
    # on port 6432), so asyncpg keeps no prepared statements across transactions; migrations then
    # take DATABASE_MIGRATION_URL (the direct port 5432) when set.
    database_pooler: Literal["none", "pgbouncer"] = Field(default="none", alias="DATABASE_POOLER")
    database_migration_url: SecretStr = Field(default=SecretStr(""), alias="DATABASE_MIGRATION_URL")
    # Connections one worker process may hold. Flex Consumption runs many instances (see
    # docs/scaling.md): instances x this must stay under the server's (or PgBouncer's) limit.
    database_pool_size: int = Field(default=5, ge=1, le=100, alias="DATABASE_POOL_SIZE")
    redis_url: str = Field(default="", alias="REDIS_URL")
    storage_connection: SecretStr = Field(
        default=SecretStr("UseDevelopmentStorage=true"),
        validation_alias=AliasChoices("AzureWebJobsStorage", "storage_connection"),
    )
    # Identity-based storage (Azure, no connection string): the account, or its service URIs,
    # reached with the managed identity; AZURE_CLIENT_ID names a user-assigned identity.
    # platform/azure_identity.py decides which one applies.
    storage_account_name: str = Field(default="", alias="AzureWebJobsStorage__accountName")
    storage_queue_service_uri: str = Field(default="", alias="AzureWebJobsStorage__queueServiceUri")
    storage_blob_service_uri: str = Field(default="", alias="AzureWebJobsStorage__blobServiceUri")
    storage_client_id: str = Field(default="", alias="AzureWebJobsStorage__clientId")
    azure_client_id: str = Field(default="", alias="AZURE_CLIENT_ID")
    eventgrid_topic_endpoint: str = Field(default="", alias="EVENTGRID_TOPIC_ENDPOINT")
    eventgrid_topic_key: SecretStr = Field(default=SecretStr(""), alias="EVENTGRID_TOPIC_KEY")
    public_base_url: str = Field(default="http://localhost:7071", alias="PUBLIC_BASE_URL")

    # Twilio. No account SID means "local sandbox": texts are stored, not sent.
    twilio_account_sid: str = Field(default="", alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr = Field(default=SecretStr(""), alias="TWILIO_AUTH_TOKEN")
    twilio_api_base_url: str = Field(default="https://api.twilio.com", alias="TWILIO_API_BASE_URL")
    # A send that gets no answer in this long may or may not have reached Twilio: it is looked
    # up before any resend.
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=60, alias="TWILIO_TIMEOUT_SECONDS")

    # OpenAI (used by the SMS responder)
    openai_api_key: SecretStr = Field(default=SecretStr(""), alias="OPENAI_API_KEY")
    openai_base_url: str = Field(default="", alias="OPENAI_BASE_URL")
    openai_model: str = Field(default="gpt-4o-mini", alias="OPENAI_MODEL")

    # Owner and admin API
    admin_api_key: SecretStr = Field(default=SecretStr(""), alias="ADMIN_API_KEY")

    # Voicemail. Recordings are archived to this private Blob container of the storage account
    # (AzureWebJobsStorage: Azurite's blob service locally) and deleted from Twilio.
    voicemail_container: str = Field(default="voicemails", alias="VOICEMAIL_CONTAINER")
    voicemail_max_seconds: int = Field(default=120, ge=5, le=3600, alias="VOICEMAIL_MAX_SECONDS")
    voicemail_retention_days: int = Field(default=90, ge=1, alias="VOICEMAIL_RETENTION_DAYS")
    voicemail_retention_schedule: str = Field(
        default="0 30 4 * * *", alias="VOICEMAIL_RETENTION_SCHEDULE"
    )
    # Where Twilio keeps the audio: its own storage ("twilio"), or the operator's S3 bucket
    # (Twilio's external recording storage, "s3"; read with boto3 and the AWS_* settings).
    recording_storage: Literal["twilio", "s3"] = Field(default="twilio", alias="RECORDING_STORAGE")
    recordings_s3_bucket: str = Field(default="", alias="RECORDINGS_S3_BUCKET")
    recordings_s3_prefix: str = Field(default="", alias="RECORDINGS_S3_PREFIX")
    # "auto": OpenAI when OPENAI_API_KEY is set, else none.
    transcription: Literal["auto", "openai", "twilio", "none"] = Field(
        default="auto", alias="TRANSCRIPTION"
    )
    transcription_model: str = Field(default="gpt-4o-mini-transcribe", alias="TRANSCRIPTION_MODEL")
    transcription_price_per_minute_micro: int = Field(
        default=3000, ge=0, alias="TRANSCRIPTION_PRICE_PER_MINUTE_MICRO"
    )
    transcription_timeout_seconds: float = Field(
        default=30.0, gt=0, le=300, alias="TRANSCRIPTION_TIMEOUT_SECONDS"
    )
    transcription_max_attempts: int = Field(
        default=5, ge=1, le=50, alias="TRANSCRIPTION_MAX_ATTEMPTS"
    )
    # Signs the owner's "listen" links (and, later, web sessions). Required for listen links.
    link_signing_secret: SecretStr = Field(default=SecretStr(""), alias="LINK_SIGNING_SECRET")
    listen_link_days: int = Field(default=7, ge=1, le=90, alias="LISTEN_LINK_DAYS")
    # Proxies in front of the app that append the caller's address to X-Forwarded-For (1:
    # Azure's front end; 2 with Front Door before it). The web sign-in limits count the entry
    # this many from the right; 0: the header is ignored (nothing trusted writes it).
    trusted_proxy_hops: int = Field(default=1, ge=0, le=10, alias="TRUSTED_PROXY_HOPS")

    # Behaviour knobs
    # Carrier voicemail often answers at 20-25 s: ring the owner's leg for less.
    default_ring_timeout_seconds: int = Field(
        default=18, ge=5, le=600, alias="RING_TIMEOUT_SECONDS"
    )
    min_answered_seconds: int = Field(default=8, ge=0, alias="MIN_ANSWERED_SECONDS")
    text_back_cooldown_hours: float = Field(default=24, ge=0, alias="TEXT_BACK_COOLDOWN_HOURS")
    quiet_hours_start: time = Field(default=time(21, 0), alias="QUIET_HOURS_START")
    quiet_hours_end: time = Field(default=time(8, 0), alias="QUIET_HOURS_END")
    webhook_dedupe_seconds: int = Field(default=86400, ge=1, alias="WEBHOOK_DEDUPE_SECONDS")
    business_cache_seconds: float = Field(default=10, ge=0, alias="BUSINESS_CACHE_SECONDS")
    outbox_schedule: str = Field(default="0 */1 * * * *", alias="OUTBOX_SCHEDULE")
    outbox_republish_after_seconds: int = Field(
        default=30, ge=0, alias="OUTBOX_REPUBLISH_AFTER_SECONDS"
    )
    burst_window_seconds: float = Field(default=2.0, ge=0, le=60, alias="BURST_WINDOW_SECONDS")
    max_automated_per_hour: int = Field(default=8, ge=1, alias="MAX_AUTOMATED_PER_HOUR")
    owner_idle_minutes: int = Field(default=30, ge=1, alias="OWNER_IDLE_MINUTES")
    emergency_keywords: str = Field(default="", alias="EMERGENCY_KEYWORDS")
    sms_rate_per_second: int = Field(default=1, ge=1, alias="SMS_RATE_PER_SECOND")
    # Time-sensitive texts (text-backs, replies, alerts) Twilio may drop if still queued then.
    sms_validity_seconds: int = Field(default=3600, ge=1, le=36000, alias="SMS_VALIDITY_SECONDS")
    # Sending after commit: the outbox timer re-sends a text still unsent after this long, and
    # gives up on one after this many attempts.
    send_retry_after_seconds: int = Field(default=30, ge=0, alias="SEND_RETRY_AFTER_SECONDS")
    send_max_attempts: int = Field(default=30, ge=1, le=200, alias="SEND_MAX_ATTEMPTS")
    reply_lease_seconds: int = Field(default=60, ge=5, alias="REPLY_LEASE_SECONDS")
    assistant_timeout_seconds: float = Field(
        default=8.0, gt=0, le=60, alias="ASSISTANT_TIMEOUT_SECONDS"
    )
    sms_price_per_segment_micro: int = Field(
        default=8300, ge=0, alias="SMS_PRICE_PER_SEGMENT_MICRO"
    )
    fallback_input_price_per_mtok_micro: int = Field(
        default=5_000_000, ge=1, alias="FALLBACK_INPUT_PRICE_PER_MTOK_MICRO"
    )
    fallback_output_price_per_mtok_micro: int = Field(
        default=15_000_000, ge=1, alias="FALLBACK_OUTPUT_PRICE_PER_MTOK_MICRO"
    )
    credits_low_threshold_micro: int = Field(
        default=1_000_000, ge=0, alias="CREDITS_LOW_THRESHOLD_MICRO"
    )
    signup_credit_micro: int = Field(default=5_000_000, ge=0, alias="SIGNUP_CREDIT_MICRO")
    reservation_ttl_seconds: int = Field(default=600, ge=10, alias="RESERVATION_TTL_SECONDS")
    streak_rewards_schedule: str = Field(default="0 5 * * * *", alias="STREAK_REWARDS_SCHEDULE")
    streak_daily_reward_micro: int = Field(default=10_000, ge=0, alias="STREAK_DAILY_REWARD_MICRO")
    streak_milestones: str = Field(
        default="7:100000,30:500000,100:2000000", alias="STREAK_MILESTONES"
    )
    streak_max_freezes: int = Field(default=2, ge=0, alias="STREAK_MAX_FREEZES")
    streak_freeze_every_days: int = Field(default=7, ge=1, alias="STREAK_FREEZE_EVERY_DAYS")
    # Connections the settlement splits the businesses across (PostgreSQL runs a statement on
    # one core: match the database's vCores).
    streak_settle_workers: int = Field(default=2, ge=1, le=16, alias="STREAK_SETTLE_WORKERS")
    migrate_on_start: bool = Field(default=True, alias="MIGRATE_ON_START")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def milestones(self) -> dict[int, int]:
        """STREAK_MILESTONES "7:100000,30:500000" as {days: reward_micro}."""
        pairs = (item.split(":") for item in self.streak_milestones.split(",") if item.strip())
        return {int(days): int(amount) for days, amount in pairs}

    @field_validator("streak_milestones")
    @classmethod
    def _check_milestones(cls, value: str) -> str:
        for item in filter(None, (i.strip() for i in value.split(","))):
            days, sep, amount = item.partition(":")
            if not sep or int(days) < 1 or int(amount) < 0:
                raise ValueError("STREAK_MILESTONES is days:reward_micro[,days:reward_micro...]")
        return value

    @property
    def transcriber(self) -> Literal["openai", "twilio", "none"]:
        """Who transcribes voicemail: TRANSCRIPTION, with "auto" meaning OpenAI if a key is set."""
        if self.transcription == "auto":
            return "openai" if self.openai_api_key.get_secret_value() else "none"
        return self.transcription

    @property
    def sandbox_sms(self) -> bool:
        """No Twilio account configured: texts go to the local sandbox table."""
        return not self.twilio_account_sid


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()


def is_valid_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
