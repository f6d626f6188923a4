"""Typed ARI errors. A 404 on a leg that just hung up is normal life, not a crash."""

from __future__ import annotations

from contactcore.errors import ContactcoreError, DependencyUnavailable


class AriError(ContactcoreError):
    """ARI answered with an error status."""

    error_id = "ari.error"

    def __init__(self, message: str, *, status: int, method: str, path: str) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.status = status
        self.method = method
        self.path = path


class AriNotFound(AriError):
    """The channel, bridge or playback no longer exists (usually: the caller hung up)."""

    error_id = "ari.not_found"


class AriConflict(AriError):
    """409: the object is in the wrong state (e.g. a channel not in a Stasis app)."""

    error_id = "ari.conflict"


class AriUnprocessable(AriError):
    """400/422: a bad request or an object that is not ready yet."""

    error_id = "ari.unprocessable"


class AriUnavailable(DependencyUnavailable):
    """Asterisk's HTTP server cannot be reached at all."""

    error_id = "ari.unavailable"


def error_for_status(status: int, message: str, method: str, path: str) -> AriError:
    cls: type[AriError]
    if status == 404:
        cls = AriNotFound
    elif status == 409:
        cls = AriConflict
    elif status in (400, 422):
        cls = AriUnprocessable
    else:
        cls = AriError
    return cls(f"ARI {method} {path}: {status} {message}", status=status, method=method, path=path)
