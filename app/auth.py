"""Who is calling, and what Kubernetes lets them do (the `auth_mode` setting, app/settings.py).

* `none`: no check; every caller acts with the server's own rights (upstream's behaviour).
* `token`: one shared token, as upstream's optional sidecar checks it: `Authorization` equal to the
  token, or to `Bearer <token>`, compared in constant time.
* `kubernetes`: the caller's bearer token is verified by Kubernetes (a TokenReview), and every
  Kubernetes call made for the request impersonates the caller it names (user, groups, extra), so
  that Kubernetes RBAC decides what each caller may do, per namespace. Reads answered from the watch
  caches are asked of Kubernetes too (`Access`: a SubjectAccessReview per namespace, resource and
  verb), so a cache never answers a caller what Kubernetes would refuse them.

The fronts (app/http/authn.py, app/rpc/server.py) authenticate each request with an
`Authenticator` and run it `acting_as` its caller; app/k8s reads `current()` to impersonate.
Reviews are cached briefly and boundedly, keyed by a digest of the token, never the token itself.
The TokenReviews of tokens Kubernetes refuses are bounded per client address (app/ratelimit.py).
This module knows nothing of HTTP or of the Kubernetes client: the reviews are callables it is given.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from cachetools import TTLCache

from app.errors import ApiError, Forbidden, TooManyRequests, Unauthenticated, Unavailable
from app.ratelimit import DEFAULT_BURST, DEFAULT_RATE, TokenBuckets, retry_after
from app.types import Json

log = logging.getLogger(__name__)

REVIEW_TTL = 10.0  # seconds a review's answer is reused: a revoked token or role counts after this at most
REVIEW_CACHE_SIZE = 4096  # answers kept per process (tokens, and caller x namespace x resource x verb)
VOUCHED_TTL = 3600.0  # seconds a token Kubernetes accepted is reviewed again without its address's bucket
MAX_TOKEN = 16 * 1024  # bytes: a longer header is refused without asking Kubernetes
CHALLENGE = "Bearer"  # the `WWW-Authenticate` of a 401


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: `name` goes into the log; Kubernetes calls impersonate it when
    `impersonated` (the `kubernetes` mode), with its groups and extra."""

    name: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    impersonated: bool = False


SHARED_TOKEN = Caller("shared-token")  # whoever holds the `token` mode's token

_caller: ContextVar[Caller | None] = ContextVar("caller", default=None)


def current() -> Caller | None:
    """The caller the request in progress acts for; None: the server itself."""
    return _caller.get()


@contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def impersonation(caller: Caller | None) -> list[tuple[str, str]]:
    """The headers that make a Kubernetes call the caller's; none for the server or a shared token.
    A group or extra value with several values is sent as several headers, as Kubernetes reads them;
    extra keys are percent-encoded, as header names cannot hold `/`."""
    if caller is None or not caller.impersonated:
        return []
    headers = [("Impersonate-User", caller.name)]
    headers += [("Impersonate-Group", group) for group in caller.groups]
    headers += [(f"Impersonate-Extra-{quote(key, safe='')}", value) for key, values in caller.extra for value in values]
    return headers


def caller_of(review_status: Json) -> Caller:
    """The caller a TokenReview's `status.user` names."""
    user = review_status.get("user") or {}
    extra = user.get("extra") or {}
    return Caller(
        name=str(user.get("username") or ""),
        groups=tuple(str(group) for group in user.get("groups") or ()),
        extra=tuple(sorted((str(key), tuple(str(v) for v in values or ())) for key, values in extra.items())),
        impersonated=True,
    )


def bearer_token(authorization: str | None) -> str:
    """The token of `Authorization: Bearer <token>` (the scheme in any case), or of a bare token, as
    upstream's clients send it; else `Unauthenticated`."""
    if not authorization:
        raise Unauthenticated("Unauthenticated: the request carries no credentials; send Authorization: "
                              "Bearer <token>.")
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if rest else scheme
    if (rest and scheme.lower() != "bearer") or not token or " " in token or token.lower() == "bearer":
        raise Unauthenticated("Unauthenticated: the Authorization header is not of the form Bearer <token>.")
    if len(token) > MAX_TOKEN:
        raise Unauthenticated("Unauthenticated: the bearer token is not valid.")
    return token


@dataclass(frozen=True)
class Attributes:
    """What a caller asks to do, as a SubjectAccessReview's `resourceAttributes` say it."""

    namespace: str | None  # None: every namespace (the cluster scope)
    group: str  # "" for the core group
    resource: str
    verb: str
    subresource: str = ""
    name: str = ""

    def review(self, caller: Caller) -> Json:
        """The spec of a SubjectAccessReview of these attributes for `caller`."""
        attributes = {"namespace": self.namespace or "", "group": self.group, "resource": self.resource,
                      "verb": self.verb}
        attributes.update({key: value for key, value in (("subresource", self.subresource), ("name", self.name))
                           if value})
        return {"user": caller.name, "groups": list(caller.groups),
                "extra": {key: list(values) for key, values in caller.extra}, "resourceAttributes": attributes}

    def refusal(self, caller: Caller, reason: str = "") -> str:
        """Kubernetes' own words for a refusal, so that a refusal reads alike from the cache and from it."""
        qualified = f"{self.resource}.{self.group}" if self.group else self.resource
        subject = f'{qualified} "{self.name}"' if self.name else qualified
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        where = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
        text = (f'{subject} is forbidden: User "{caller.name}" cannot {self.verb} resource "{resource}" '
                f'in API group "{self.group}" {where}')
        return f"{text}: {reason}" if reason else text


class MustAsk(Exception):
    """Raised by `authenticate(..., may_ask=False)` when the answer needs a call to Kubernetes."""


class Authenticator(Protocol):
    """Turns a request's `Authorization` (None: absent) into its caller, or raises `Unauthenticated`.
    With `may_ask=False` it answers only what it knows without calling Kubernetes, else raises
    `MustAsk`: an event loop asks so first, and runs the call in a thread only when it must.
    `client` names the caller's address (`ratelimit.client_key`), whose bucket a review spends."""

    def authenticate(self, authorization: str | None, may_ask: bool = True,
                     client: str = "") -> Caller | None: ...


class Open:
    """`none`: every request is the server's own."""

    def authenticate(self, authorization: str | None, may_ask: bool = True, client: str = "") -> Caller | None:
        return None


class SharedToken:
    """`token`: the header equals the token, bare or after `Bearer `."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the token mode needs a token")
        self._token = token.encode()

    def authenticate(self, authorization: str | None, may_ask: bool = True, client: str = "") -> Caller | None:
        if not authorization:
            bearer_token(authorization)  # (raises: no credentials)
        given = (authorization or "").encode("utf-8", "replace")
        scheme, _, rest = given.partition(b" ")
        # Both comparisons always run, each in constant time: the answer's timing says nothing of the token.
        bare = hmac.compare_digest(given, self._token)
        bearer = hmac.compare_digest(rest.strip(), self._token) and scheme.lower() == b"bearer"
        if bare or bearer:
            return SHARED_TOKEN
        raise Unauthenticated("Unauthenticated: the token is not valid.")


_UNKNOWN = object()


class _Reviews:
    """Answers of Kubernetes' reviews, kept `ttl` seconds, at most `size` of them (least recently
    used go first); thread-safe. A failed review is not kept: the next request asks again. Requests
    that ask the same question at once wait for one review and share its answer (or its failure)."""

    def __init__(self, ttl: float, size: int) -> None:
        self._answers: TTLCache[Any, Any] = TTLCache(maxsize=size, ttl=ttl)
        self._asking: dict[Any, Future[Any]] = {}
        self._lock = threading.Lock()

    def known(self, key: Any) -> Any:
        """The answer kept, or `_UNKNOWN`; never asks, never waits."""
        with self._lock:
            return self._answers.get(key, _UNKNOWN)  # (one lookup: an answer may expire between two)

    def get(self, key: Any, review: Callable[[], Any]) -> Any:
        with self._lock:
            answer = self._answers.get(key, _UNKNOWN)
            if answer is not _UNKNOWN:
                return answer
            asking = self._asking.get(key)
            if asking is None:
                asking = self._asking[key] = Future()
                mine = True
            else:
                mine = False
        if not mine:
            return asking.result()
        try:
            answer = review()
        except BaseException as exc:
            asking.set_exception(exc)
            raise
        else:
            asking.set_result(answer)
            with self._lock:
                self._answers[key] = answer
            return answer
        finally:
            with self._lock:
                del self._asking[key]


class KubernetesTokens:
    """`kubernetes`: a bearer token Kubernetes accepts (TokenReview) names the caller to impersonate.

    `review(token)` sends a TokenReview and returns its `status`; a token it does not authenticate
    is `Unauthenticated`, and a review that cannot be made (Kubernetes unavailable, or the server not
    allowed to ask) is `Unavailable`, never a caller let through.

    What refused tokens cost is bounded per client address (`buckets`, app/ratelimit.py): a review
    takes a token from the address's bucket and one that names a caller gives it back; with the
    bucket empty the request is `TooManyRequests`, unasked. Tokens known good are never limited: those
    whose answer is kept, and those Kubernetes accepted within `VOUCHED_TTL`, whose review again
    (once the answer is no longer kept) takes nothing from the bucket.
    """

    def __init__(self, review: Callable[[str], Json], ttl: float = REVIEW_TTL, size: int = REVIEW_CACHE_SIZE,
                 buckets: TokenBuckets | None = None) -> None:
        self._review = review
        self._reviews = _Reviews(ttl, size)
        self._buckets = TokenBuckets() if buckets is None else buckets  # (an empty one is falsy)
        self._vouched: TTLCache[bytes, bool] = TTLCache(maxsize=size, ttl=VOUCHED_TTL)
        self._vouched_lock = threading.Lock()

    def authenticate(self, authorization: str | None, may_ask: bool = True, client: str = "") -> Caller | None:
        token = bearer_token(authorization)
        key = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        caller: Caller | str = self._reviews.known(key)
        if caller is _UNKNOWN:
            if not may_ask:
                if not self._is_vouched(key):  # refused here, on the event loop, when it would be anyway
                    self._refuse_if_spent(self._buckets.wait(client))
                raise MustAsk
            caller = self._reviews.get(key, lambda: self._verify(token, key, client))
        if isinstance(caller, str):
            raise Unauthenticated(f"Unauthenticated: {caller}")
        return caller

    def _verify(self, token: str, key: bytes, client: str) -> Caller | str:
        """The caller, or why the token is refused (kept as briefly as a caller)."""
        vouched = self._is_vouched(key)
        if not vouched:
            self._refuse_if_spent(self._buckets.take(client))
        try:
            status = self._review(token)
        except ApiError as exc:
            log.error("cannot verify a caller's token with a TokenReview: %s", exc.message)
            raise Unavailable("The server cannot verify credentials now (its TokenReview failed); "
                              "try again later.") from exc
        if status.get("authenticated") and (status.get("user") or {}).get("username"):
            if not vouched:
                self._buckets.give_back(client)
            with self._vouched_lock:
                self._vouched[key] = True
            return caller_of(status)
        with self._vouched_lock:
            self._vouched.pop(key, None)
        log.info("a bearer token was refused by Kubernetes: %s", status.get("error") or "not authenticated")
        return "Kubernetes does not accept the bearer token (it is unknown, expired or revoked)."

    def _is_vouched(self, key: bytes) -> bool:
        with self._vouched_lock:
            return key in self._vouched

    @staticmethod
    def _refuse_if_spent(wait: float) -> None:
        if wait > 0:
            seconds = retry_after(wait)
            raise TooManyRequests(f"Too many requests with tokens Kubernetes does not accept came from this "
                                  f"address; try again in {seconds} s.", seconds)


class Access:
    """What a caller may read from the caches: Kubernetes answers (SubjectAccessReview), per caller,
    namespace (None: all), API group, resource and verb, kept briefly.

    `review(spec)` sends a SubjectAccessReview of `spec` and returns its `status`.
    """

    def __init__(self, review: Callable[[Json], Json], ttl: float = REVIEW_TTL, size: int = REVIEW_CACHE_SIZE) -> None:
        self._review = review
        self._reviews = _Reviews(ttl, size)

    def check(self, attributes: Attributes) -> None:
        """Nothing for the server itself or a shared token; `Forbidden` if Kubernetes would refuse
        the current caller `attributes`."""
        caller = current()
        if caller is None or not caller.impersonated:
            return
        allowed, reason = self._reviews.get((caller, attributes), lambda: self._ask(caller, attributes))
        if not allowed:
            raise Forbidden(attributes.refusal(caller, reason))

    def _ask(self, caller: Caller, attributes: Attributes) -> tuple[bool, str]:
        try:
            status = self._review(attributes.review(caller))
        except ApiError as exc:
            log.error("cannot check a caller's rights with a SubjectAccessReview: %s", exc.message)
            raise Unavailable("The server cannot check the caller's rights now (its SubjectAccessReview "
                              "failed); try again later.") from exc
        allowed = bool(status.get("allowed")) and not status.get("denied")
        return allowed, str(status.get("reason") or "")


def authenticator(mode: str, token: str, review_token: Callable[[str], Json], review_rate: float = DEFAULT_RATE,
                  review_burst: int = DEFAULT_BURST) -> Authenticator:
    """The authenticator of a mode (settings were checked when read)."""
    if mode == "token":
        return SharedToken(token)
    if mode == "kubernetes":
        return KubernetesTokens(review_token, buckets=TokenBuckets(review_rate, review_burst))
    return Open()
