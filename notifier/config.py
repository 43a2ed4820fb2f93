"""Configuration classes read from the environment (and a `.env` file)."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
load_dotenv(ROOT / ".env")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _database_url() -> str:
    url = _env("DATABASE_URL")
    if url is None:
        (ROOT / "instance").mkdir(exist_ok=True)
        return f"sqlite:///{ROOT / 'instance' / 'habarlama.sqlite3'}"
    # A bare postgresql:// means psycopg2 on SQLAlchemy 2.0; we ship psycopg 3.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Config:
    """Settings shared by every environment."""

    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SECRET_KEY = _env("SECRET_KEY")
    TIMEZONE = _env("TIMEZONE", "Asia/Almaty")
    QUIET_HOURS = _env("QUIET_HOURS", "22:00-08:00")
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://localhost:5000").rstrip("/")
    SMS_GATEWAY = _env("SMS_GATEWAY", "log")
    SMSC_BASE_URL = _env("SMSC_BASE_URL", "https://smsc.kz")
    SMSC_LOGIN = _env("SMSC_LOGIN")
    SMSC_PASSWORD = _env("SMSC_PASSWORD")
    SMSC_APIKEY = _env("SMSC_APIKEY")
    SMSC_SENDER = _env("SMSC_SENDER")
    SMSC_WEBHOOK_TOKEN = _env("SMSC_WEBHOOK_TOKEN")
    SMSC_CONNECT_TIMEOUT = float(_env("SMSC_CONNECT_TIMEOUT", "5"))
    SMSC_READ_TIMEOUT = float(_env("SMSC_READ_TIMEOUT", "20"))
    SMSC_CALLBACK_SECRET = _env("SMSC_CALLBACK_SECRET")  # verifies md5/sha1 fields when SMSC sends them
    MAX_CONTENT_LENGTH = 256 * 1024  # no form we accept is larger
    SMS_PRICE = float(_env("SMS_PRICE", "12.0"))
    SMS_BATCH_SIZE = int(_env("SMS_BATCH_SIZE", "100"))  # phones per send.php request
    SMS_CLAIM_LIMIT = int(_env("SMS_CLAIM_LIMIT", "1000"))  # messages a worker claims at a time
    # send.php requests one worker keeps on the wire at once; SMSC answers error 9 to 15 or more per login.
    SMS_SEND_CONCURRENCY = int(_env("SMS_SEND_CONCURRENCY", "4"))
    SMS_DAILY_BUDGET = int(_env("SMS_DAILY_BUDGET", "50000"))  # parts per local day; 0 = no limit
    SMS_MAX_ATTEMPTS = int(_env("SMS_MAX_ATTEMPTS", "5"))
    SMS_STUCK_MINUTES = int(_env("SMS_STUCK_MINUTES", "10"))
    SMS_STATUS_POLL_MINUTES = int(_env("SMS_STATUS_POLL_MINUTES", "10"))
    SMS_STATUS_POLL_LIMIT = int(_env("SMS_STATUS_POLL_LIMIT", "100"))
    REMINDER_TIME = _env("REMINDER_TIME", "18:00")  # local time, the evening before a planned outage
    APPEAL_ANSWER_DAYS = int(_env("APPEAL_ANSWER_DAYS", "15"))  # working days, by the administrative procedure code
    APPEAL_FORWARD_DAYS = int(_env("APPEAL_FORWARD_DAYS", "3"))
    APPEAL_THREAD_DAYS = int(_env("APPEAL_THREAD_DAYS", "7"))  # later messages join the open appeal
    APPEAL_AUTO_REPLIES_PER_HOUR = int(_env("APPEAL_AUTO_REPLIES_PER_HOUR", "5"))  # per number: keyword answers, acks
    APPEAL_INTAKE_LANES = int(_env("APPEAL_INTAKE_LANES", "4"))  # threads handling inbound SMS (PostgreSQL)
    APPEAL_INBOUND_POLL_HOURS = int(_env("APPEAL_INBOUND_POLL_HOURS", "24"))  # get_answers look-back window
    # The poll re-reads from before the ids stored in the last N minutes: a callback lost just before a
    # later one got through would otherwise sit below the cursor for ever.
    APPEAL_INBOUND_POLL_OVERLAP_MINUTES = int(_env("APPEAL_INBOUND_POLL_OVERLAP_MINUTES", "15"))
    SMS_CURRENCY = _env("SMS_CURRENCY", "KZT")
    PERMANENT_SESSION_LIFETIME = timedelta(hours=int(_env("SESSION_HOURS", "8")))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    BABEL_DEFAULT_LOCALE = "ru"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
    LANGUAGES = ("kk", "ru")
    FEED_SIZE = 50
    FEED_KEYS_TTL = 5  # seconds a worker reuses the feed's newest keys (its ETag) before asking again
    PUBLIC_PAGE_CACHE_SECONDS = 30  # an anonymous page is reused while nothing public changed ("now" texts age)
    PAGE_SIZE = 20
    FORCE_HTTPS = False
    TESTING = False
    # Subscriptions: confirmation codes and rate limits (Flask-Limiter syntax; ";" joins limits).
    SUBSCRIBE_CODE_TTL_MINUTES = int(_env("SUBSCRIBE_CODE_TTL_MINUTES", "10"))
    SUBSCRIBE_CODES_PER_DAY = int(_env("SUBSCRIBE_CODES_PER_DAY", "3"))  # per phone, per local day
    SUBSCRIBE_MAX_ATTEMPTS = int(_env("SUBSCRIBE_MAX_ATTEMPTS", "5"))  # wrong codes before a code is locked
    SUBSCRIBE_RATE_PER_IP = _env("SUBSCRIBE_RATE_PER_IP", "10/hour;3/minute")
    SUBSCRIBE_RATE_PER_PHONE = _env("SUBSCRIBE_RATE_PER_PHONE", "5/hour")
    # memory:// counts per process: with several gunicorn workers use redis://127.0.0.1:6379.
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = _env("RATELIMIT_ENABLED", "1") == "1"
    RATELIMIT_KEY_PREFIX = _env("RATELIMIT_KEY_PREFIX", "habarlama")
    # If the limit storage (Redis) is down, let requests through rather than answer 500: the daily
    # number of codes per phone is counted in the database and still holds.
    RATELIMIT_SWALLOW_ERRORS = True
    # Proxies in front of the app that append to X-Forwarded-For (a TLS proxy: 1). Without this, every
    # resident behind the proxy shares its address, and one per-IP limit.
    PROXY_FIX_X_FOR = int(_env("PROXY_FIX_X_FOR", "0"))


class DevelopmentConfig(Config):
    """Local development: a generated secret key is acceptable."""

    SECRET_KEY = Config.SECRET_KEY or secrets.token_hex(32)


class TestConfig(Config):
    """Tests: a database per run, no CSRF friction, nothing reaches the outside."""

    TESTING = True
    FEED_KEYS_TTL = 0
    PUBLIC_PAGE_CACHE_SECONDS = 0
    SECRET_KEY = "test-secret-key"  # noqa: S105 (tests only)
    WTF_CSRF_ENABLED = False
    SMS_GATEWAY = "log"
    SMSC_BASE_URL = "http://127.0.0.1:9"
    SMSC_WEBHOOK_TOKEN = "test-webhook-token"  # noqa: S105 (tests only)
    PUBLIC_BASE_URL = "http://localhost:5000"
    RATELIMIT_STORAGE_URI = "memory://"  # tests reset it with limiter.reset()
    RATELIMIT_ENABLED = True


class ProductionConfig(Config):
    """Production: SECRET_KEY must come from the environment."""

    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestConfig,
}


def config_for(name: str | None = None) -> type[Config]:
    """Return the config class named by the argument or `HABARLAMA_ENV`."""
    name = name or _env("HABARLAMA_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown HABARLAMA_ENV {name!r}; use one of {sorted(CONFIGS)}") from None
