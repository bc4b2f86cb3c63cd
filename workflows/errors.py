"""Domain errors raised by services; the web layer turns them into form errors or 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can cause; `message` is safe to show (already translated
    by the caller's locale where it matters, otherwise plain)."""

    http_status = 400
    code = "bad_request"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details


class NotFound(DomainError):
    """Not found."""

    http_status = 404
    code = "not_found"


class NotAllowed(DomainError):
    """You are not allowed to do this."""

    http_status = 403
    code = "forbidden"


class ValidationFailed(DomainError):
    """Some values are not valid."""

    http_status = 422
    code = "invalid"

    def __init__(self, message: str = "", field_errors: dict[str, list[str]] | None = None, **details: object):
        super().__init__(message, **details)
        self.field_errors = field_errors or {}

    def __str__(self) -> str:
        return f"{self.message} {self.field_errors}" if self.field_errors else self.message


class Conflict(DomainError):
    """Somebody else changed this at the same time."""

    http_status = 409
    code = "conflict"


class TaskNotReady(Conflict):
    """This task is no longer waiting: it was completed or withdrawn."""

    code = "task_not_ready"


class TaskTaken(Conflict):
    """This task has been claimed by somebody else."""

    code = "task_taken"


class QuarterLocked(DomainError):
    """This quarter has been filed and is locked: nothing of it can change."""

    http_status = 409
    code = "quarter_locked"


class WindowClosed(DomainError):
    """The period for this action is over."""

    http_status = 409
    code = "window_closed"


class EngineError(DomainError):
    """The process engine could not run this step; the error is recorded on the instance."""

    http_status = 500
    code = "engine_error"
