"""Counts failed logins in the cache: per (client address, username), and per address alone
at a much higher bound.

Never per username alone: anyone could then lock any account, the admin's included, by
failing its password on purpose. Per (address, username), one colleague's typos behind the
office's NAT or proxy lock only that colleague's name from there; the per-address bound
stops one address from trying a password on many names (spraying).
"""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _digest(text: str) -> str:
    # Keys carry no usernames or addresses in the clear (they end up in Redis).
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _pair_key(address: str, username: str) -> str:
    return "login-fail:pair:" + _digest(f"{address}\n{username.lower()}")


def _address_key(address: str) -> str:
    return "login-fail:address:" + _digest(address)


def is_limited(address: str, username: str) -> bool:
    pair, by_address = _pair_key(address, username), _address_key(address)
    counts = cache.get_many([pair, by_address])
    return (
        counts.get(pair, 0) >= settings.LOGIN_RATE_LIMIT
        or counts.get(by_address, 0) >= settings.LOGIN_RATE_LIMIT_ADDRESS
    )


def record_failure(address: str, username: str) -> None:
    for key in (_pair_key(address, username), _address_key(address)):
        # add() starts the window; incr() keeps its original expiry.
        if not cache.add(key, 1, settings.LOGIN_RATE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, settings.LOGIN_RATE_WINDOW)
