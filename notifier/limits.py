"""Request rate limits (Flask-Limiter): the extension object, and how long a refused client should wait."""

# It lives in the platform, like CSRF and i18n: the factory initialises it without importing a domain
# package, and any package can limit its own routes. No route is limited unless it says so.

import time

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# Storage, key prefix and on/off come from RATELIMIT_* in the configuration (memory:// by default;
# redis:// when several processes serve the site, or each counts on its own).
limiter = Limiter(key_func=get_remote_address)


def retry_after() -> int | None:
    """Return the seconds until the limit breached in this request resets, when known."""
    current = limiter.current_limit
    if current is None or not current.breached:
        return None
    return max(1, int(current.reset_at - time.time()))
