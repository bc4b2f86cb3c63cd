"""Imports every module that registers forms (`deploy.KNOWN_FORMS`), service-task operators
(`spiff.OPERATORS`) and the locked-quarter guard, so validation and the engine know them all."""

from workflows import (  # noqa: F401
    annual,
    appeals,
    branch,
    followups,
    forms,
    locking,
    notices,
    reports,
)
