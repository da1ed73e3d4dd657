"""Stopping a command within seconds on SIGTERM or SIGINT, also while a client waits on a quota.

Every wait of ours (quota buckets, backoff, report polling, FATAL cooldowns) goes through
`sleep`, which wakes as soon as a stop is requested and raises `StopRequested`: a Dagster
`Failure` that no retry policy retries, so the step ends instead of being tried again in a
minute. The command line requests the stop from its signal handlers (`cli.py`); a run then
ends in seconds and is marked canceled (`commands.run_job`).
"""

from __future__ import annotations

import signal
import threading

import dagster as dg

_STOP = threading.Event()
_received: list[int] = []


class StopRequested(dg.Failure):
    """A stop was requested while this code waited; raised by `sleep` in any thread."""

    def __init__(self) -> None:
        super().__init__(description=f"stopped by {stop_signal_name()}", allow_retries=False)


def note_signal(signum: int) -> None:
    """Remember a stop signal without waking the waits yet (the caller marks its run first)."""
    _received.append(signum)


def request_stop(signum: int | None = None) -> None:
    """Ask every wait of this process to end now."""
    if signum is not None:
        _received.append(signum)
    _STOP.set()


def signal_received() -> bool:
    return bool(_received)


def stop_signal() -> int | None:
    """The first signal that requested the stop, if any."""
    return _received[0] if _received else None


def stop_signal_name() -> str:
    signum = stop_signal()
    return signal.Signals(signum).name if signum is not None else "a stop request"


def sleep(seconds: float) -> None:
    """Sleep `seconds` real seconds, or raise `StopRequested` as soon as a stop is requested."""
    if _STOP.wait(max(0.0, seconds)):
        raise StopRequested()
