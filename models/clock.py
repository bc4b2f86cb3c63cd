"""The one source of "now" for the whole system, so tests move time instead of sleeping.

Timers, deadlines, publicity windows and audit timestamps all read `now()`. Tests (and the
benchmark) install a `FrozenClock` with `set_clock`; production uses the system clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.current = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.current += delta if delta is not None else timedelta(**kwargs)
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when.astimezone(UTC)


_clock: SystemClock | FrozenClock = SystemClock()


def now() -> datetime:
    return _clock.now()


def set_clock(clock: SystemClock | FrozenClock) -> SystemClock | FrozenClock:
    """Install a clock; returns the previous one so callers can restore it."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def get_clock() -> SystemClock | FrozenClock:
    return _clock
