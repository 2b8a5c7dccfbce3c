"""Errors of the IonQ backends, placed in the core error tree.

* `IonQCredentialsError` (a `CapabilityError`): no API key; raised before any network call.
* `IonQAuthenticationError` (a `JobError`): IonQ rejected the key (HTTP 401).
* `IonQAPIError` (a `JobError`): any other refusal or failure of the API or of a job.

Messages never contain the API key.
"""

from __future__ import annotations

from qstore.core.errors import CapabilityError, JobError

__all__ = ["IonQAPIError", "IonQAuthenticationError", "IonQCredentialsError"]


class IonQCredentialsError(CapabilityError):
    """No IonQ API key was given or found in the environment."""


class IonQAPIError(JobError):
    """The IonQ API refused a request, or a job failed; ``status_code`` when HTTP said so."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class IonQAuthenticationError(IonQAPIError):
    """IonQ rejected the API key (HTTP 401)."""
