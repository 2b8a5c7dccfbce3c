"""Errors of the IonQ backends, placed in the core error tree.

* `IonQCredentialsError` (a `CapabilityError` and a `CredentialError`): no API key; raised before
  any network call. A malformed key raises the core `CredentialError` at the same point.
* `IonQAPIError` (a `JobError`): any other refusal or failure of the API or of a job.
* `IonQAuthenticationError` (an `IonQAPIError`): IonQ rejected the key (HTTP 401).
* `IonQOriginError` (an `IonQAPIError`): IonQ pointed at a URL outside the configured API origin;
  nothing is sent there, and the error is final (not retried).

Messages never contain the API key, and no vendor exception is chained to them.
"""

from __future__ import annotations

from qstore.core.errors import CapabilityError, CredentialError, JobError

__all__ = ["IonQAPIError", "IonQAuthenticationError", "IonQCredentialsError", "IonQOriginError"]


class IonQCredentialsError(CapabilityError, CredentialError):
    """No IonQ API key was given or found in the environment."""


class IonQAPIError(JobError):
    """The IonQ API refused a request, or a job failed; ``status_code`` when HTTP said so."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class IonQAuthenticationError(IonQAPIError):
    """IonQ rejected the API key (HTTP 401)."""


class IonQOriginError(IonQAPIError):
    """A URL from IonQ lies outside the API origin (scheme, host, port); the key is never sent there."""
