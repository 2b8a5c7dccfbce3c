"""Credentials: held by one object that never shows, pickles or chains its value.

A `Secret` wraps an API key or token taken from an argument or the environment. Its ``repr`` and
``str`` are redacted, it refuses to be pickled (a checkpoint or saved model that reaches it fails
loudly instead of writing the key), and a malformed value is refused with a message that says
what is wrong and where it came from, never the value itself.

`without_credentials` is the one place that decides which backend options are credentials:
framework layers store its output in their configs, so a saved model holds no credential and
the backend reads it from the environment when the model is loaded::

    >>> without_credentials({"api_key": "sk-...", "noise_model": "aria-1"})
    {'noise_model': 'aria-1'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from qstore.core.errors import CredentialError

__all__ = ["CREDENTIAL_OPTIONS", "Secret", "without_credentials"]

CREDENTIAL_OPTIONS = frozenset({"api_key", "token", "access_token", "password", "secret"})
"""Backend option names whose values are credentials and are never stored in a config."""

_REDACTED = "<redacted>"
_CHARACTER_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def _malformed(value: object) -> str | None:
    """What is wrong with a credential value, described without quoting it; None if nothing."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value:
        return "is empty"
    for position, ch in enumerate(value, start=1):
        if ch in _CHARACTER_NAMES:
            what = _CHARACTER_NAMES[ch]
        elif not ch.isascii():
            what = "a non-ASCII character"
        elif not ch.isprintable():
            what = "a control character"
        else:
            continue
        return f"contains {what} at position {position} of {len(value)}"
    return None


class Secret:
    """One credential. ``reveal()`` hands the value to the call that sends it; nothing else shows it.

    ``source`` says where the value came from (``"api_key="``, ``"IONQ_API_KEY"``) and appears in
    messages instead of the value. Raises `CredentialError` for a value that is not a non-empty
    string of printable ASCII without spaces (a trailing newline from a key file is the usual case).
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        problem = _malformed(value)
        if problem is not None:
            raise CredentialError(
                f"the credential from {source} {problem}: keys and tokens are printable ASCII without "
                "spaces, newlines or control characters; if it was read from a file or pasted, remove "
                "the extra character (for example with .strip())"
            )
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The value, for the one place that sends it (an HTTP header); never store or log it."""
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the value replaced by ``<redacted>``."""
        return text.replace(self._value, _REDACTED)

    def __repr__(self) -> str:
        return f"Secret({_REDACTED}, source={self.source!r})"

    def __str__(self) -> str:
        return _REDACTED

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            f"a Secret (from {self.source}) is never pickled; store the name of the environment "
            "variable that holds it, or nothing, and rebuild the backend when loading"
        )

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


def without_credentials(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` minus credentials (names in `CREDENTIAL_OPTIONS`, and any `Secret` value).

    Framework layers keep this instead of the options they were given, so configs, saved models
    and reprs never carry a key; backends read credentials from the environment when rebuilt.
    """
    return {
        name: value
        for name, value in (options or {}).items()
        if name not in CREDENTIAL_OPTIONS and not isinstance(value, Secret)
    }
