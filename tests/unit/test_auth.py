"""app/auth.py: credentials read, callers named and impersonated, and Kubernetes' answers kept briefly.

The reviews are the functions the server is given (app/k8s sends them to Kubernetes; the
integration tests in tests/integration/test_auth.py send real ones): here they are plain functions
that answer as Kubernetes does and count how often they are asked.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app import auth
from app.auth import Access, Attributes, Caller, KubernetesTokens, SharedToken
from app.errors import Forbidden, TooManyRequests, Unauthenticated, Unavailable
from app.ratelimit import TokenBuckets
from tests.support.clock import Clock

ALICE = Caller("system:serviceaccount:a:alice", ("system:serviceaccounts", "system:authenticated"),
               (("authentication.kubernetes.io/credential-id", ("JTI=1",)),), impersonated=True)
REVIEW = {"authenticated": True, "user": {
    "username": "system:serviceaccount:a:alice", "uid": "u-1",
    "groups": ["system:serviceaccounts", "system:authenticated"],
    "extra": {"authentication.kubernetes.io/credential-id": ["JTI=1"]}}}


def test_a_caller_is_impersonated_with_its_groups_and_extra() -> None:
    assert auth.impersonation(ALICE) == [
        ("Impersonate-User", "system:serviceaccount:a:alice"),
        ("Impersonate-Group", "system:serviceaccounts"),
        ("Impersonate-Group", "system:authenticated"),
        ("Impersonate-Extra-authentication.kubernetes.io%2Fcredential-id", "JTI=1"),
    ]
    assert auth.impersonation(None) == []
    assert auth.impersonation(auth.SHARED_TOKEN) == []  # a shared token acts as the server


def test_the_caller_a_token_review_names() -> None:
    assert auth.caller_of(REVIEW) == ALICE
    assert auth.caller_of({"user": {"username": "bob"}}) == Caller("bob", impersonated=True)


@pytest.mark.parametrize(("header", "token"), [("Bearer abc.def", "abc.def"), ("bearer  abc ", "abc"),
                                           ("BEARER x", "x"), ("abc.def", "abc.def")])  # (bare: upstream's clients)
def test_a_bearer_token_is_read(header: str, token: str) -> None:
    assert auth.bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", " ", "Basic YTpi", "Bearer", "bearer ", "Bearer a b",
                                    "Bearer " + "x" * 20000])
def test_anything_else_is_unauthenticated(header: str | None) -> None:
    with pytest.raises(Unauthenticated) as refused:
        auth.bearer_token(header)
    assert (refused.value.status, refused.value.code) == (401, 16)


def test_the_shared_token_bare_or_as_a_bearer_token() -> None:
    shared = SharedToken("s3cret")
    assert shared.authenticate("s3cret") is auth.SHARED_TOKEN
    assert shared.authenticate("Bearer s3cret") is auth.SHARED_TOKEN
    for header in (None, "", "S3cret", "s3cret2", "Bearer s3cre", "Basic s3cret", "Bearer Bearer s3cret"):
        with pytest.raises(Unauthenticated):
            shared.authenticate(header)
    with pytest.raises(ValueError, match="the token mode needs a token"):
        SharedToken("")


class Reviews:
    """Answers as Kubernetes would, counting the questions."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[Any] = []

    def __call__(self, question: Any) -> Any:
        self.asked.append(question)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_token_kubernetes_accepts_names_its_caller_and_is_reviewed_once_while_kept() -> None:
    reviews = Reviews(REVIEW)
    tokens = KubernetesTokens(reviews, ttl=0.2)
    assert tokens.authenticate("Bearer t1") == ALICE
    assert tokens.authenticate("Bearer t1") == ALICE
    assert reviews.asked == ["t1"]
    time.sleep(0.25)
    assert tokens.authenticate("Bearer t1") == ALICE
    assert reviews.asked == ["t1", "t1"]  # kept no longer than its time


def test_a_token_kubernetes_refuses_is_unauthenticated() -> None:
    tokens = KubernetesTokens(Reviews({"user": {}, "error": "invalid bearer token"}))
    with pytest.raises(Unauthenticated, match="expired or revoked"):
        tokens.authenticate("Bearer nope")
    with pytest.raises(Unauthenticated, match="no credentials"):
        tokens.authenticate(None)


def test_a_review_that_cannot_be_made_lets_no_one_in_and_is_not_kept() -> None:
    reviews = Reviews(Forbidden('tokenreviews is forbidden: User "server" cannot create'))
    tokens = KubernetesTokens(reviews)
    for _ in range(2):
        with pytest.raises(Unavailable):
            tokens.authenticate("Bearer t1")
    assert len(reviews.asked) == 2


def test_the_cache_of_tokens_is_bounded() -> None:
    reviews = Reviews(REVIEW)
    tokens = KubernetesTokens(reviews, size=2)
    for token in ("a", "b", "c", "a"):
        tokens.authenticate(f"Bearer {token}")
    assert reviews.asked == ["a", "b", "c", "a"]  # "a" was dropped for "c"


CLUSTERS_IN_A = Attributes("a", "ray.io", "rayclusters", "get")


def test_access_asks_kubernetes_for_the_current_caller_once_per_question() -> None:
    reviews = Reviews({"allowed": True})
    access = Access(reviews)
    with auth.acting_as(ALICE):
        access.check(CLUSTERS_IN_A)
        access.check(CLUSTERS_IN_A)
        access.check(Attributes(None, "ray.io", "rayclusters", "list"))
    assert reviews.asked == [
        {"user": ALICE.name, "groups": list(ALICE.groups), "extra": {"authentication.kubernetes.io/credential-id": ["JTI=1"]},
         "resourceAttributes": {"namespace": "a", "group": "ray.io", "resource": "rayclusters", "verb": "get"}},
        {"user": ALICE.name, "groups": list(ALICE.groups), "extra": {"authentication.kubernetes.io/credential-id": ["JTI=1"]},
         "resourceAttributes": {"namespace": "", "group": "ray.io", "resource": "rayclusters", "verb": "list"}},
    ]


def test_access_refused_in_kubernetes_words() -> None:
    access = Access(Reviews({"allowed": False, "reason": "no RBAC policy matched"}))
    with auth.acting_as(ALICE), pytest.raises(Forbidden) as refused:
        access.check(Attributes("b", "", "services", "create", "proxy", "c-head-svc"))
    assert refused.value.message == (
        'services "c-head-svc" is forbidden: User "system:serviceaccount:a:alice" cannot create resource '
        '"services/proxy" in API group "" in the namespace "b": no RBAC policy matched')
    with auth.acting_as(ALICE), pytest.raises(Forbidden, match="at the cluster scope"):
        access.check(Attributes(None, "ray.io", "rayjobs", "list"))
    denied = Access(Reviews({"allowed": True, "denied": True}))
    with auth.acting_as(ALICE), pytest.raises(Forbidden):
        denied.check(CLUSTERS_IN_A)


def test_access_asks_nothing_for_the_server_or_a_shared_token() -> None:
    reviews = Reviews({"allowed": False})
    access = Access(reviews)
    access.check(CLUSTERS_IN_A)
    with auth.acting_as(auth.SHARED_TOKEN):
        access.check(CLUSTERS_IN_A)
    assert reviews.asked == []


def test_the_caller_is_the_requests_alone() -> None:
    assert auth.current() is None
    with auth.acting_as(ALICE):
        assert auth.current() == ALICE
    assert auth.current() is None


def test_without_asking_only_what_is_known_is_answered() -> None:
    """An event loop asks first without a call to Kubernetes, and makes one (in a thread) only if it must."""
    reviews = Reviews(REVIEW)
    tokens = KubernetesTokens(reviews)
    with pytest.raises(auth.MustAsk):
        tokens.authenticate("Bearer t1", may_ask=False)
    assert reviews.asked == []
    assert tokens.authenticate("Bearer t1") == ALICE
    assert tokens.authenticate("Bearer t1", may_ask=False) == ALICE
    assert reviews.asked == ["t1"]
    with pytest.raises(Unauthenticated):  # no credentials at all needs no review
        tokens.authenticate(None, may_ask=False)


# -- what refused tokens cost, per client address --------------------------------------------------

REFUSED = {"authenticated": False, "error": "invalid bearer token"}


class Judge:
    """Answers as Kubernetes would: tokens starting "good" are alice's, any other is refused."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, token: str) -> Any:
        self.asked.append(token)
        return REVIEW if token.startswith("good") else REFUSED


def test_refused_tokens_cost_at_most_the_burst_then_the_rate_per_address() -> None:
    judge, clock = Judge(), Clock(0.0)
    tokens = KubernetesTokens(judge, buckets=TokenBuckets(rate=1.0, burst=3, clock=clock))
    for i in range(3):
        with pytest.raises(Unauthenticated):
            tokens.authenticate(f"Bearer random-{i}", client="10.0.0.1")
    for i in range(100):
        with pytest.raises(TooManyRequests) as limited:
            tokens.authenticate(f"Bearer more-{i}", client="10.0.0.1")
        assert (limited.value.status, limited.value.code, limited.value.retry_after) == (429, 8, 1)
    with pytest.raises(TooManyRequests):  # refused on the event loop, with no thread to run a review in
        tokens.authenticate("Bearer another", may_ask=False, client="10.0.0.1")
    with pytest.raises(Unauthenticated):  # another address has its own bucket
        tokens.authenticate("Bearer random-x", client="10.0.0.2")
    with pytest.raises(Unauthenticated):  # a refusal kept is answered again for nothing
        tokens.authenticate("Bearer random-0", client="10.0.0.1")
    clock.now += 1.0
    with pytest.raises(Unauthenticated):
        tokens.authenticate("Bearer later", client="10.0.0.1")
    assert len(judge.asked) == 3 + 1 + 1


def test_tokens_kubernetes_accepts_are_never_limited() -> None:
    judge, clock = Judge(), Clock(0.0)
    tokens = KubernetesTokens(judge, ttl=10.0, buckets=TokenBuckets(rate=1.0, burst=2, clock=clock))
    for i in range(5):  # a review that names a caller gives its token back
        assert tokens.authenticate(f"Bearer good-{i}", client="10.0.0.1") == ALICE
    tokens.authenticate("Bearer good-kept", client="10.0.0.1")
    tokens.authenticate("Bearer good-vouched", client="10.0.0.1")
    for i in range(2):
        with pytest.raises(Unauthenticated):
            tokens.authenticate(f"Bearer bad-{i}", client="10.0.0.1")
    with pytest.raises(TooManyRequests):  # the bucket is empty ...
        tokens.authenticate("Bearer good-new", client="10.0.0.1")
    assert tokens.authenticate("Bearer good-kept", may_ask=False, client="10.0.0.1") == ALICE  # ... kept: no review
    time.sleep(0.01)
    expiring = KubernetesTokens(judge, ttl=0.01, buckets=TokenBuckets(rate=1.0, burst=1, clock=clock))
    assert expiring.authenticate("Bearer good-vouched", client="10.0.0.3") == ALICE
    with pytest.raises(Unauthenticated):
        expiring.authenticate("Bearer bad", client="10.0.0.3")
    time.sleep(0.02)  # the answer is no longer kept: reviewed again, without the (empty) bucket
    with pytest.raises(auth.MustAsk):
        expiring.authenticate("Bearer good-vouched", may_ask=False, client="10.0.0.3")
    assert expiring.authenticate("Bearer good-vouched", client="10.0.0.3") == ALICE
    assert judge.asked[-1] == "good-vouched"


def test_a_token_asked_about_at_once_is_reviewed_once() -> None:
    """Requests with one new token at once wait for one review: its first requests, however many,
    cost one TokenReview and one token of the bucket (given back)."""
    started, release = threading.Event(), threading.Event()
    asked: list[str] = []

    def slow(token: str) -> Any:
        asked.append(token)
        started.set()
        release.wait(5)
        return REVIEW if token == "good" else REFUSED

    tokens = KubernetesTokens(slow, buckets=TokenBuckets(rate=0.001, burst=1))
    with ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(tokens.authenticate, "Bearer good", client="a") for _ in range(8)]
        assert started.wait(5)
        time.sleep(0.05)
        release.set()
        assert [answer.result(5) for answer in answers] == [ALICE] * 8
    assert asked == ["good"]
    with pytest.raises(Unauthenticated):  # the token was given back
        tokens.authenticate("Bearer bad", client="a")
