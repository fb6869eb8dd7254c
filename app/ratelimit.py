"""Token buckets per client address: what bounds the TokenReviews that refused tokens cost (app/auth.py).

Each address holds a bucket of `burst` tokens that refills at `rate` tokens a second. A review is
made only against a token taken from the caller's bucket; a review that names a caller gives it
back, so only refused tokens (and failed reviews) spend it: the reviews of refused tokens from one
address, in any `t` seconds, number at most `burst + rate * t` per process.

Memory is bounded: at most `size` addresses are kept, the least recently seen dropped first. A bucket
left alone `burst / rate` seconds is full again, as good as none, so dropping it loses nothing; only
when more than `size` addresses are spending at once does one start again full.

An address is the peer's, never a header's: `X-Forwarded-For` and the like are any client's to write.
An IPv6 address counts by its /64, the block one host or network is usually given whole.
"""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_RATE = 1.0  # tokens a second, per address
DEFAULT_BURST = 10  # tokens a full bucket holds
ADDRESSES = 10_000  # buckets kept per process (under 3 MB)


class TokenBuckets:
    """One bucket per key, thread-safe; `clock` is monotonic seconds (given in tests)."""

    def __init__(self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST, size: int = ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1 or size < 1:
            raise ValueError("token buckets need a positive rate, a burst of at least 1 and room for one address")
        self._rate, self._burst, self._size, self._clock = rate, float(burst), size, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, as of)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until the bucket of `key` holds a token (0: it holds one now); nothing taken."""
        with self._lock:
            return self._until_one(self._level(key))

    def take(self, key: str) -> float:
        """Take a token: 0 if one was taken, else the seconds until one is there (nothing taken)."""
        with self._lock:
            tokens = self._level(key)
            if tokens < 1:
                return self._until_one(tokens)
            self._store(key, tokens - 1)
            return 0.0

    def give_back(self, key: str) -> None:
        """Return a token taken for something that turned out not to count."""
        with self._lock:
            self._store(key, min(self._burst, self._level(key) + 1))

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str) -> float:
        """The tokens in the bucket now (refilled since it was last seen); an unknown key's is full."""
        held = self._buckets.get(key)
        if held is None:
            return self._burst
        tokens, stamp = held
        return min(self._burst, tokens + (self._clock() - stamp) * self._rate)

    def _store(self, key: str, tokens: float) -> None:
        self._buckets[key] = (tokens, self._clock())
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._size:
            self._buckets.popitem(last=False)

    def _until_one(self, tokens: float) -> float:
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate


def retry_after(seconds: float) -> int:
    """A `Retry-After` value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds))


def client_key(host: str | None) -> str:
    """The bucket of a peer address: the address itself, an IPv6 one's /64; "" when unknown (a Unix
    socket), which all such peers share."""
    if not host:
        return ""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
