"""app/ratelimit.py: token buckets per client address, on a clock the test moves."""
from __future__ import annotations

import pytest

from app.ratelimit import TokenBuckets, client_key, retry_after
from tests.support.clock import Clock


def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: one token in half a second
    assert buckets.wait("a") == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("a") == pytest.approx(0.25)  # a refused take takes nothing
    clock.now += 0.25
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0  # each address its own bucket


def test_over_any_time_the_takes_are_at_most_burst_plus_rate_times_time() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=10, clock=clock)
    taken = 0
    for _ in range(1000):  # 1,000 tries over 20 s
        taken += buckets.take("a") == 0
        clock.now += 0.02
    assert taken == 10 + 20 - 1  # the 20th second's token comes as the loop ends


def test_a_token_given_back_is_there_again_but_never_past_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=2, clock=clock)
    buckets.take("a")
    buckets.take("a")
    buckets.give_back("a")
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    for _ in range(5):
        buckets.give_back("b")
    assert [buckets.take("b") == 0.0 for _ in range(3)] == [True, True, False]


def test_the_addresses_kept_are_bounded_least_recently_seen_first() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, size=2, clock=clock)
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert len(buckets) == 2
    assert buckets.take("a") == 0.0  # forgotten: full again
    assert buckets.take("c") > 0  # kept: still empty


def test_buckets_need_a_rate_and_a_burst() -> None:
    for rate, burst in ((0.0, 1), (1.0, 0)):
        with pytest.raises(ValueError, match="positive rate"):
            TokenBuckets(rate=rate, burst=burst)


@pytest.mark.parametrize(("seconds", "header"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (9.2, 10)])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: int) -> None:
    assert retry_after(seconds) == header


@pytest.mark.parametrize(("host", "key"), [
    ("10.1.2.3", "10.1.2.3"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # one host is usually given a /64 whole
    ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
    ("::ffff:10.1.2.3", "10.1.2.3"),  # an IPv4 peer of a dual-stack socket
    ("testclient", "testclient"),  # not an address: itself
    (None, ""),
    ("", ""),
])
def test_the_bucket_of_a_peer(host: str | None, key: str) -> None:
    assert client_key(host) == key
