"""What the engine may run, given to it by one explicit call (`configure`, made by
`workflows.setup.configure` from `create_app` and the CLI): the forms a user task may name, the
service-task operators, the messages services send into instances from outside, and the
business objects whose `status` column follows the diagram's "status" of the step an instance waits
at (an evaluation, a branch's quarter...).

Deployment refuses a diagram that names a form, operator or message missing here; the script
engine calls the operators by name. Nothing registers itself by being imported. `add` makes more
known beside the configured set (a test diagram's form, operator or message) and survives a
reconfiguration until `remove`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Operator = Callable[..., Any]  # fn(ctx: spiff.RunContext, task_data: dict, **params) -> JSON-able
# fn(session, instance, item_id) -> the people a task of this form decides on (None: its instance's subject)
Subjects = Callable[[Any, Any, int | None], set[int] | None]


@dataclass
class _Known:
    forms: set[str] = field(default_factory=set)
    operators: dict[str, Operator] = field(default_factory=dict)
    external_messages: set[str] = field(default_factory=set)
    status_models: dict[str, Any] = field(default_factory=dict)
    subjects: dict[str, Subjects] = field(default_factory=dict)


_configured = _Known()
_added = _Known()


def configure(*, forms: Iterable[str], operators: Mapping[str, Operator], external_messages: Iterable[str],
              status_models: Mapping[str, Any], subjects: Mapping[str, Subjects] | None = None) -> None:
    """Replace the configured set (idempotent: calling it twice with the same values is harmless).
    `status_models`: an instance's `object_type` -> the model whose `status` mirrors its step;
    `subjects`: a form -> who a task of it decides on, when that is not its instance's subject."""
    global _configured
    _configured = _Known(set(forms), dict(operators), set(external_messages), dict(status_models), dict(subjects or {}))


def add(*, forms: Iterable[str] = (), operators: Mapping[str, Operator] | None = None,
        external_messages: Iterable[str] = ()) -> None:
    """Make more known beside the configured set."""
    _added.forms.update(forms)
    _added.operators.update(operators or {})
    _added.external_messages.update(external_messages)


def remove(*, forms: Iterable[str] = (), operators: Iterable[str] = (), external_messages: Iterable[str] = ()) -> None:
    """Forget what `add` made known."""
    _added.forms.difference_update(forms)
    for name in operators:
        _added.operators.pop(name, None)
    _added.external_messages.difference_update(external_messages)


def known_forms() -> frozenset[str]:
    return frozenset(_configured.forms | _added.forms)


def external_messages() -> frozenset[str]:
    return frozenset(_configured.external_messages | _added.external_messages)


def operator(name: str) -> Operator | None:
    """The operator a service task names, or None when there is no such operator."""
    return _added.operators.get(name) or _configured.operators.get(name)


def status_model(object_type: str) -> Any | None:
    """The model of a business object whose `status` follows its instance's step, if any."""
    return _configured.status_models.get(object_type)


def subjects_of(form_key: str) -> Subjects | None:
    """How to find the people a task of this form decides on (None: its instance's subject)."""
    return _configured.subjects.get(form_key)
