"""Errors every layer shares, and the one sentence a command prints for any of them.

A `PermanentError` is what retrying cannot fix (a corrupt file, a bucket that does not exist):
it fails a Dagster step at once, whatever the asset's retry policy, and its message is the
sentence the command line prints. `cause_sentence` digs the innermost error out of Dagster's
wrappers ("Exceeded max_retries of 2", DagsterExecutionStepExecutionError, ...) so a failed run
ends with what went wrong, not with how Dagster carried it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import dagster as dg
from dagster._utils.error import SerializableErrorInfo, serializable_error_info_from_exc_info

# Classes that only carry another error through Dagster's machinery.
_DAGSTER_WRAPPER = re.compile(r"^(Dagster\w*Error|RetryRequested\w*)$")
# "package.module.ClassName: " at the start of a formatted exception.
_QUALIFIED_CLASS = re.compile(r"^(?P<path>(?:[A-Za-z_][\w]*\.)*)(?P<name>[A-Za-z_]\w*): ")
# Our own errors and Dagster's Failure carry a sentence written for people: no class name.
_SENTENCE_MODULES = ("amazon_assets.", "dagster._core.definitions.events.")


class PermanentError(dg.Failure):
    """An error retrying cannot fix; the step fails at once and `str()` is the sentence to show."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)

    def __str__(self) -> str:
        return self.description or ""


class DatabaseUnreachableError(ConnectionError):
    """A database server named by a setting did not accept a connection (may be temporary)."""


def error_chain(error: SerializableErrorInfo) -> Iterator[SerializableErrorInfo]:
    """`error` and the errors it was raised from, outermost first."""
    seen: set[int] = set()
    current: SerializableErrorInfo | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.cause or current.context


def innermost_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The first error in the chain that is not one of Dagster's wrappers (else the last one)."""
    chain = list(error_chain(error))
    for candidate in chain:
        if not _DAGSTER_WRAPPER.match(
            candidate.cls_name or ""
        ) and not candidate.message.startswith("Exceeded max_retries"):
            return candidate
    return chain[-1]


def sentence(message: str) -> str:
    """A formatted exception as one line: our own classes' names dropped, whitespace collapsed."""
    text = " ".join(message.split())
    match = _QUALIFIED_CLASS.match(text)
    if match:
        path = match.group("path")
        if path.startswith(_SENTENCE_MODULES):
            text = text[match.end() :]
        else:  # a library's error: its short class name says what kind of failure it was
            text = f"{match.group('name')}: {text[match.end() :]}"
    return text


def cause_sentence(error: SerializableErrorInfo) -> str:
    """The innermost error of `error` as one sentence."""
    return sentence(innermost_error(error).message)


def exception_sentence(error: BaseException) -> str:
    """The innermost error of a Python exception as one sentence (for errors outside a run)."""
    info = serializable_error_info_from_exc_info((type(error), error, error.__traceback__))
    return cause_sentence(info)


def exception_traceback(error: BaseException) -> str:
    """The full chain, as `--verbose` shows it."""
    info = serializable_error_info_from_exc_info((type(error), error, error.__traceback__))
    return info.to_string()
