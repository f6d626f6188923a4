"""The error tree: a stable ``error_id`` and details, no transport codes.

Only the web layer maps these to HTTP statuses and only the CLI maps them to an
exit code, so the same error reads the same everywhere.
"""

from __future__ import annotations

from typing import Any


class ContactcoreError(Exception):
    """Base of every error we raise on purpose."""

    error_id: str = "contactcore.error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(ContactcoreError):
    """A setting is missing or wrong; the message names the key and the fix."""

    error_id = "config.invalid"


class DependencyUnavailable(ContactcoreError):
    """Asterisk, Redis or the database cannot be reached."""

    error_id = "dependency.unavailable"


class NotFound(ContactcoreError):
    error_id = "not_found"


class Conflict(ContactcoreError):
    """The request contradicts the current state (e.g. an illegal transition)."""

    error_id = "conflict"


class InvalidInput(ContactcoreError):
    error_id = "invalid_input"


class Unprocessable(ContactcoreError):
    """Well-formed input the rules refuse now (e.g. a closed queue, a callback outside
    business hours)."""

    error_id = "unprocessable"


class SandboxError(ContactcoreError):
    """The Asterisk sandbox could not be built, started or stopped."""

    error_id = "sandbox.failed"
