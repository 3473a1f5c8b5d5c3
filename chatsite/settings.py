"""Django settings for chatsite: the only module that reads the environment.

Every variable read here is listed in the README's settings table (a test checks it).
"""

import os
import secrets
import stat
import time
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Where the embedded SQLite database, uploads and the generated secret key live. They hold
# sessions, provider keys and tool headers: only the app's own user may read them (0700
# folders, 0600 files), on new installs and, tightened here at every start, on older ones.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))


def _tighten(path: Path, mode: int) -> None:
    """chmod an existing file or folder of ours that is looser than mode."""
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
            path.chmod(mode)
    except (FileNotFoundError, PermissionError):
        pass


def _private_file(path: Path) -> None:
    """Create path empty with mode 0600 unless it exists (then tighten it)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _tighten(path, 0o600)


DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
_tighten(DATA_DIR, 0o700)
for _name in ("secret_key", "llama-server.log"):
    _tighten(DATA_DIR / _name, 0o600)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    try:
        # 0600 from its first byte; O_EXCL: of two processes starting at once, one writes it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the other process may be between creating and writing it
            if key := path.read_text().strip():
                return key
            time.sleep(0.02)
        raise ImproperlyConfigured(f"{path} is empty: delete it to generate a new key") from None
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key


SECRET_KEY = _secret_key()
# Fernet keys that encrypt provider keys and tool headers in the database, the first one used
# for new values (chatsite/lib/secrets.py; empty: one derived from SECRET_KEY).
SECRETS_KEYS = env_list("SECRETS_KEYS", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "chatsite.accounts",
    "chatsite.providers",
    "chatsite.teams",
    "chatsite.chat",
    "chatsite.tools",
    "chatsite.reports",
    "chatsite.ops",
    "chatsite.transfer",
    "chatsite.sharing",
    "chatsite.search",
]

MIDDLEWARE = [
    "chatsite.ops.logs.RequestLog",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "chatsite.accounts.locale.UserLocale",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# SQLite by default, tuned as healthchecks does against "database is locked": WAL lets
# readers run beside the writer, IMMEDIATE takes the write lock at BEGIN so two writers
# queue on busy_timeout instead of failing on lock upgrade.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
else:
    # SQLite creates the -wal and -shm files with the database file's mode: made 0600 here
    # before SQLite first opens it, they are private too.
    _private_file(DATA_DIR / "db.sqlite3")
    for _suffix in ("-wal", "-shm"):
        _tighten(DATA_DIR / f"db.sqlite3{_suffix}", 0o600)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Keep the connection: reopening runs the PRAGMAs below on every database call.
            "CONN_MAX_AGE": None,
            "CONN_HEALTH_CHECKS": True,
            # Tests use a file too: an in-memory shared-cache database locks whole tables
            # between threads, which the real WAL file does not.
            "TEST": {"NAME": DATA_DIR / "test-db.sqlite3"},
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"),
            },
        }
    }

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # The pub/sub layer: one round trip per frame and no shared receive loop. (The older
    # list-based RedisChannelLayer lost the first delta of a stream in our tests.)
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # One process: the in-memory layer is enough and costs no round trip per frame.
    CHANNEL_LAYERS = {"default": {"BACKEND": "chatsite.lib.layers.LocalChannelLayer", "CONFIG": {"capacity": 1000}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "accounts:login"
# Failed logins allowed in LOGIN_RATE_WINDOW seconds per (client address, username), and per
# address over all usernames (see accounts/ratelimit.py).
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10)
LOGIN_RATE_LIMIT_ADDRESS = env_int("LOGIN_RATE_LIMIT_ADDRESS", 100)
LOGIN_RATE_WINDOW = 300
# Invitations expire after this many days unless the admin picks another date; the link that
# confirms a signed-up email address (sign-up by domain) after SIGNUP_CONFIRM_SECONDS.
INVITE_DAYS = 7
SIGNUP_CONFIRM_SECONDS = 3 * 24 * 3600

# Email (password resets, sign-up confirmations, approvals): printed on the console until an
# SMTP host is set. Django 6.1's MAILERS, from the classic EMAIL_* variables. The SMTP
# password is a secret: it is never logged or shown (Django's error pages hide it by its name).
_EMAIL_HOST = env_str("EMAIL_HOST")
_EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if _EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
_SMTP_OPTIONS = {
    "host": _EMAIL_HOST or "localhost",
    "port": env_int("EMAIL_PORT", 587),
    "username": env_str("EMAIL_HOST_USER"),
    "password": env_str("EMAIL_HOST_PASSWORD"),
    "use_tls": env_bool("EMAIL_USE_TLS", True),
    "timeout": 20,  # seconds: a stalled SMTP server must not hold a mail thread for ever
}
MAILERS = {
    "default": {
        "BACKEND": _EMAIL_BACKEND,
        "OPTIONS": _SMTP_OPTIONS if _EMAIL_BACKEND.endswith("smtp.EmailBackend") else {},
    }
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chatsite@localhost")

# Providers and HTTP tools hold secrets sent to their own URLs, so whoever edits one could send
# its key elsewhere: only superusers see them in the admin, unless this lets staff with the
# model permissions in.
STAFF_MANAGE_PROVIDERS = env_bool("STAFF_MANAGE_PROVIDERS", False)
# Reverse proxies in front of the app that append to X-Forwarded-For: the client address is the
# entry this many places from the right (0: the peer's address; see lib/addresses.py).
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)

# The interface speaks these; the browser's Accept-Language picks one (LocaleMiddleware) unless
# the user chose another on their profile. Model output is never translated.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("zh-hans", "简体中文"),
    ("zh-hant", "繁體中文"),
    ("ja", "日本語"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "chatsite.lib.staticfiles.StaticStorage"},
}
# Attachments are never served from MEDIA_URL directly: a view checks the owner first.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
_tighten(MEDIA_ROOT, 0o700)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security. HTTPS=1 when the site is served over TLS (directly or behind a proxy that sets
# X-Forwarded-Proto): cookies become secure, HTTP redirects to HTTPS and HSTS is sent.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
LANGUAGE_COOKIE_SECURE = HTTPS  # the language switch's cookie (accounts/locale.py)
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probed over plain HTTP on the inside
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    # blob: for previews of images picked before upload; data: for admin/widget icons.
    "img-src": [CSP.SELF, "blob:", "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Uploads: refused before the body is read when Content-Length says too much.
CHAT_MAX_UPLOAD_BYTES = env_int("CHAT_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
CHAT_MAX_IMAGE_PIXELS = env_int("CHAT_MAX_IMAGE_PIXELS", 40_000_000)
CHAT_MAX_IMAGE_SIDE = env_int("CHAT_MAX_IMAGE_SIDE", 8192)
CHAT_MAX_PDF_PAGES = env_int("CHAT_MAX_PDF_PAGES", 300)
CHAT_MAX_FILE_CHARS = env_int("CHAT_MAX_FILE_CHARS", 200_000)
# Reading a PDF's text is done in a child process, stopped after this long or at this much memory.
CHAT_PDF_SECONDS = env_float("CHAT_PDF_SECONDS", 10)
CHAT_PDF_MEMORY_MB = env_int("CHAT_PDF_MEMORY_MB", 512)
CHAT_MAX_IMAGES_PER_MESSAGE = 8
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 32_000)
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 64 * 1024)
# File bytes one upstream request carries (newest first; older files go as text or a note), and
# the longest answer asked for when the model's own limit is unknown.
CHAT_MAX_REQUEST_FILE_BYTES = env_int("CHAT_MAX_REQUEST_FILE_BYTES", 20 * 1024 * 1024)
CHAT_MAX_OUTPUT_TOKENS = env_int("CHAT_MAX_OUTPUT_TOKENS", 128_000)
# Each user's share of a server (0: no limit): answers streaming at once, chat sockets open
# (per process), messages a minute.
CHAT_ANSWERS_PER_USER = env_int("CHAT_ANSWERS_PER_USER", 4)
CHAT_SOCKETS_PER_USER = env_int("CHAT_SOCKETS_PER_USER", 20)
CHAT_MESSAGES_PER_MINUTE = env_int("CHAT_MESSAGES_PER_MINUTE", 30)
# Imports (chatsite/transfer): the largest file taken (a ChatGPT export or chatsite's archive).
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 100 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Streaming: the growing answer is written to the database every STREAM_FLUSH_SECONDS;
# deltas that arrive within STREAM_COALESCE_MS of the last frame share the next frame.
STREAM_FLUSH_SECONDS = env_float("STREAM_FLUSH_SECONDS", 0.5)
# An answer left streaming this long without a write belongs to a process that died: every
# process checks twice as often, and marks it interrupted (its text kept).
STREAM_STALE_SECONDS = env_float("STREAM_STALE_SECONDS", 60)
STREAM_COALESCE_MS = env_float("STREAM_COALESCE_MS", 20)
# ...widening with the number of live answers, so that all of them together send about
# STREAM_FRAME_RATE frames a second, up to STREAM_COALESCE_MAX_MS.
STREAM_FRAME_RATE = env_float("STREAM_FRAME_RATE", 1300)
STREAM_COALESCE_MAX_MS = env_float("STREAM_COALESCE_MAX_MS", 200)
PROVIDER_CONNECT_TIMEOUT = env_float("PROVIDER_CONNECT_TIMEOUT", 10)
PROVIDER_IDLE_TIMEOUT = env_float("PROVIDER_IDLE_TIMEOUT", 120)
# Connections a process keeps to one provider (host and port) at most; requests beyond wait.
PROVIDER_CONNECTIONS = env_int("PROVIDER_CONNECTIONS", 256)

# Tools: how many rounds of tool calls one answer may make before it is stopped, and the URL
# prefixes HTTP tools may call (nothing else is ever called, so an admin's typo cannot reach
# an internal service).
CHAT_TOOL_ROUNDS = env_int("CHAT_TOOL_ROUNDS", 6)
TOOL_ALLOWED_URLS = env_list("TOOL_ALLOWED_URLS", "")
TOOL_RESULT_CHARS = env_int("TOOL_RESULT_CHARS", 16_000)
TOOL_CALLS_PER_PROCESS = env_int("TOOL_CALLS_PER_PROCESS", 64)

# A provider configured from the environment, for a one-command start.
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_MODEL = env_str("OPENAI_MODEL")
# Start the bundled SmolLM2 demo model when no provider is configured.
LOCAL_MODEL = env_bool("LOCAL_MODEL", True)

# Logs: text lines, or one JSON object per line for log shippers (LOG_FORMAT=json); one line
# per request and per answer (chatsite/ops/logs.py), never a message's text or a key.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "chatsite.ops.logs.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "chatsite.ops.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        # Django's own request errors repeat what chatsite.requests says.
        "django.request": {"level": "ERROR"},
    },
}
# Sign-in: chatsite's own passwords (LOCAL_PASSWORDS=0: superusers only), LDAP / Active
# Directory (LDAP_*: django-auth-ldap's AUTH_LDAP_* settings) and OpenID Connect providers
# (OIDC_*), read by chatsite/sso/config.py.
from chatsite.sso import config as _sso  # noqa: E402 - it uses the env_* helpers above

INSTALLED_APPS.append("chatsite.sso")
LOCAL_PASSWORDS = _sso.local_passwords()
SSO_TIMEOUT = _sso.timeout()
OIDC_PROVIDERS = _sso.oidc_providers()
globals().update(_sso.ldap_settings())
AUTHENTICATION_BACKENDS = _sso.backends(ldap_on="AUTH_LDAP_SERVER_URI" in globals(), oidc_on=bool(OIDC_PROVIDERS))
# Logging out at a provider is a redirect after the logout form's POST, which form-action governs.
SECURE_CSP["form-action"] += sorted({provider.origin for provider in OIDC_PROVIDERS})

# Prometheus metrics of each process on a listener of their own, e.g. 127.0.0.1:9464 (empty: off).
METRICS_ADDRESS = env_str("METRICS_ADDRESS")
