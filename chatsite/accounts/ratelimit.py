"""Counts failed logins per client address and per username in the cache."""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _keys(address: str, username: str) -> list[str]:
    name = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
    return [f"login-fail:ip:{address}", f"login-fail:user:{name}"]


def is_limited(address: str, username: str) -> bool:
    counts = cache.get_many(_keys(address, username))
    return any(count >= settings.LOGIN_RATE_LIMIT for count in counts.values())


def record_failure(address: str, username: str) -> None:
    for key in _keys(address, username):
        # add() starts the window; incr() keeps its original expiry.
        if not cache.add(key, 1, settings.LOGIN_RATE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, settings.LOGIN_RATE_WINDOW)
