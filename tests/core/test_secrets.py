"""Credentials: a `Secret` never shows, pickles or chains its value; configs drop credentials."""

from __future__ import annotations

import copy
import pickle
import traceback

import pytest

from qstore.core.errors import CredentialError, QstoreError
from qstore.core.secrets import CREDENTIAL_OPTIONS, Secret, without_credentials

KEY = "sk-core-test-7d1e-DO-NOT-LEAK"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def test_repr_str_and_format_never_show_the_value() -> None:
    secret = Secret(KEY, "api_key=")
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!s:>40}",
        repr([secret]),
        repr({"k": secret}),
    ):
        assert KEY not in text
    assert secret.reveal() == KEY
    assert "api_key=" in repr(secret)


def test_never_pickled_but_shared_by_copies() -> None:
    secret = Secret(KEY, "IONQ_API_KEY")
    with pytest.raises(TypeError, match="never pickled") as info:
        pickle.dumps({"backend": secret})
    assert KEY not in str(info.value)
    assert copy.copy(secret) is secret and copy.deepcopy([secret])[0] is secret


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (KEY + "\n", "a newline at position 30 of 30"),
        (KEY + "\r\n", "a carriage return at position 30 of 31"),
        (" " + KEY, "a space at position 1 of 30"),
        (KEY[:5] + "\t" + KEY[5:], "a tab at position 6 of 30"),
        (KEY + "\x00", "a control character at position 30 of 30"),
        (KEY + "é", "a non-ASCII character at position 30 of 30"),
        ("", "is empty"),
        (b"sk-bytes", "is a bytes, not a string"),
    ],
)
def test_malformed_values_are_refused_without_showing_them(value: object, problem: str) -> None:
    with pytest.raises(CredentialError) as info:
        Secret(value, "IONQ_API_KEY")  # type: ignore[arg-type]
    message = str(info.value)
    assert problem in message and "IONQ_API_KEY" in message and ".strip()" in message
    assert isinstance(info.value, QstoreError)
    text = "".join(traceback.format_exception(info.value))
    for exc in _chain(info.value):
        assert KEY not in str(exc) and KEY not in repr(exc.args)
    assert KEY not in text


def test_redact_replaces_every_occurrence() -> None:
    secret = Secret(KEY, "api_key=")
    assert secret.redact(f"Authorization: apiKey {KEY}; again {KEY}") == (
        "Authorization: apiKey <redacted>; again <redacted>"
    )


def test_without_credentials_drops_credential_names_and_secret_values() -> None:
    options = {name: KEY for name in CREDENTIAL_OPTIONS}
    options |= {"noise_model": "aria-1", "timeout": 5.0, "extra": Secret(KEY, "x")}
    assert without_credentials(options) == {"noise_model": "aria-1", "timeout": 5.0}
    assert without_credentials(None) == {}
    assert options["api_key"] == KEY  # the caller's mapping is not modified
