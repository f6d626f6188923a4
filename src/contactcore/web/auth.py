"""Who is calling: sessions in cookies (with a CSRF token), bearer tokens, roles.

Secrets are 256-bit random strings; only their SHA-256 is stored, so a leaked table
gives no working session. Failed logins are slowed down per username and per client
address by :class:`LoginThrottle`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contactcore.core.auth import (
    AuditEntry,
    AuditLog,
    CredentialStore,
    StaffDirectory,
    StaffMember,
)
from contactcore.core.clock import Clock

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
SESSION_COOKIE = "cc_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/api/v1/auth/login"})

_hasher = PasswordHasher()
# Checked when the username is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    cookie_secure: bool = True  # False only for plain-HTTP localhost
    session_ttl_s: float = 12 * 3600.0
    token_ttl_s: float = 365 * 86400.0


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Exponential lock-out after some failures: 1 s, 2 s, 4 s ... up to ``max_delay_s``.

    Keys are ``user:<name>`` (``free`` failures allowed) and ``addr:<ip>`` (``free_per_address``:
    a whole office may log in from one NAT address, so one typo must not lock it out).
    Kept per process in memory: the controller is one process, the state is small and
    short-lived, and losing it on restart only forgives a few failures.
    """

    clock: Clock
    free: int = 3
    free_per_address: int = 20
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0
    forget_after_s: float = 900.0
    _keys: dict[str, _Failures] = field(default_factory=dict)

    def _get(self, key: str) -> _Failures:
        now = self.clock.now()
        entry = self._keys.get(key)
        if entry is None or (now - entry.last > self.forget_after_s and now >= entry.locked_until):
            entry = self._keys[key] = _Failures()
        return entry

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until a login may be tried again under all ``keys`` (0: now)."""
        now = self.clock.now()
        until = [e.locked_until for k in keys if (e := self._keys.get(k)) is not None]
        return max([0.0, *(u - now for u in until)])

    def failed(self, keys: Iterable[str]) -> int:
        """Count a failure; returns the highest failure count among ``keys``."""
        now = self.clock.now()
        worst = 0
        for key in keys:
            entry = self._get(key)
            entry.count += 1
            entry.last = now
            free = self.free_per_address if key.startswith("addr:") else self.free
            if entry.count >= free:
                delay = self.base_delay_s * 2 ** (entry.count - free)
                entry.locked_until = now + min(delay, self.max_delay_s)
            worst = max(worst, entry.count)
        if len(self._keys) > 10_000:  # bound memory under a spray of usernames
            stale = [k for k, v in self._keys.items() if now - v.last > self.forget_after_s]
            for k in stale:
                del self._keys[k]
        return worst

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)


@dataclass(frozen=True, slots=True)
class Auth:
    """Everything authentication needs, handed in by the composition root."""

    staff: StaffDirectory
    credentials: CredentialStore
    audit: AuditLog
    clock: Clock
    config: AuthConfig
    throttle: LoginThrottle


AUTH = web.AppKey("auth", Auth)
MEMBER = web.RequestKey("member", StaffMember)  # who is calling
CREDENTIAL = web.RequestKey("credential", str)  # the hash of the secret they presented


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def deny(status: int, error_id: str, message: str, **headers: str) -> web.HTTPException:
    """An HTTP error with our JSON body (401, 403, 429 are not domain errors)."""
    body = json.dumps({"error": error_id, "message": message})
    cls: type[web.HTTPException] = {
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        429: web.HTTPTooManyRequests,
    }[status]
    return cls(text=body, content_type="application/json", headers=headers or None)


def member_of(request: web.Request) -> StaffMember:
    return request[MEMBER]


def require_role(request: web.Request, roles: frozenset[str]) -> StaffMember:
    member = member_of(request)
    if member.role not in roles:
        raise deny(403, "forbidden", f"role {member.role} may not do this")
    return member


def require_self_or(request: web.Request, agent_id: str, roles: frozenset[str]) -> StaffMember:
    """Agents act only as themselves; ``roles`` may act for anyone."""
    member = member_of(request)
    if member.id != agent_id and member.role not in roles:
        raise deny(403, "forbidden", "an agent may only act as themselves")
    return member


async def audit(
    request: web.Request,
    action: str,
    target: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Write a supervisor's or admin's action to the audit log (agents' own are not)."""
    member = member_of(request)
    if member.role == "agent":
        return
    auth = request.app[AUTH]
    await auth.audit.record(
        AuditEntry(member.id, member.role, action, target, before, after, auth.clock.now())
    )
    log.info("audit: %s %s %s %s", member.username, action, target, after)


async def _authenticate(request: web.Request, auth: Auth) -> None:
    header = request.headers.get("Authorization", "")
    now = auth.clock.now()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise deny(401, "unauthenticated", "Authorization: use 'Bearer <token>'")
        digest = secret_hash(token.strip())
        cred = await auth.credentials.credential(digest, "token", now)
        if cred is None:
            raise deny(401, "unauthenticated", "bearer token unknown, revoked or expired")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise deny(401, "unauthenticated", "log in first (POST /api/v1/auth/login)")
        digest = secret_hash(cookie)
        cred = await auth.credentials.credential(digest, "session", now)
        if cred is None:
            raise deny(401, "unauthenticated", "session expired or logged out; log in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if (
                not sent
                or cred.csrf_hash is None
                or not hmac.compare_digest(secret_hash(sent), cred.csrf_hash)
            ):
                raise deny(403, "csrf", f"{CSRF_HEADER}: missing or wrong")
    request[MEMBER] = cred.member
    request[CREDENTIAL] = digest


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith(API_PREFIX) and request.path not in PUBLIC_PATHS:
        await _authenticate(request, request.app[AUTH])
    return await handler(request)


async def verify_password(hashed: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def new_secret() -> str:
    return secrets.token_urlsafe(32)
