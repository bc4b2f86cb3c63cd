"""What the designer's pages say about the services' findings, translated: the messages of BPMN
validation (`workflows.deploy`, `workflows.migration`), why an instance cannot move, and how a
replayed history went. The services speak in message ids and codes; this module is where the
designer's catalogue finds them (tests/test_designer_pages.py checks none is missing)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from workflows.i18n import N_

# Message ids of the validation services, listed so that this area's catalogue translates them.
MESSAGE_IDS = (
    # workflows.deploy
    N_("%(value)s is not an ISO 8601 date, time or duration"),
    N_("a service task needs a spiffworkflow:serviceTaskOperator"),
    N_("a timer needs a timeDate, timeDuration or timeCycle"),
    N_("bad condition: %(error)s"),
    N_("bad timer expression: %(error)s"),
    N_("cannot be evaluated: %(error)s"),
    N_("due date (dueAt): %(error)s"),
    N_("lane %(lane)s is not a known role (member, reviewer, secretary, discipline, party_office, leading_group)"),
    N_("must give an ISO 8601 date, time or duration as text"),
    N_("not a Python expression: %(error)s"),
    N_("the engine cannot parse this: %(error)s"),
    N_("the expression is empty"),
    N_("the file has no diagram (BPMNDI); draw it in a modeller so it can be shown"),
    N_("this is not a BPMN 2.0 document (bpmn:definitions expected)"),
    N_("this message event refers to no bpmn:message"),
    N_("this user task is not in a lane; put it in the lane of the role that does it"),
    N_("unknown form %(form)s"),
    N_("unknown service operator %(name)s"),
    N_("waits for message %(message)s, which no deployed process sends"),
    N_('no executable process (isExecutable="true") in this file'),
    # workflows.migration
    N_("The file is empty."),
    N_("The file is larger than 2 MB; a BPMN diagram is much smaller."),
    N_("This is a ZIP archive (perhaps a zipped folder or an Office document renamed to .bpmn), not a BPMN "
       "file. Unzip it and upload the .bpmn file inside."),
    N_("This is not a text file. Export the diagram from your modeller as BPMN 2.0 XML (.bpmn)."),
    N_("This is not an XML file. Export the diagram from your modeller as BPMN 2.0 XML (.bpmn)."),
    N_("This is a web page (HTML), not a BPMN file. Export the diagram from your modeller as BPMN 2.0 XML "
       "(.bpmn)."),
    N_("timer %(expression)s is Python here: put ISO text in quotes, e.g. '%(expression)s'"),
    N_("Camunda expressions like ${...} are not supported: write the expression in Python "
       "(for example approved == True)"),
    N_("this id is used by %(count)s elements; ids must be unique"),
    N_("this flow starts at %(ref)s, which is not in the file"),
    N_("this flow goes to %(ref)s, which is not in the file"),
    N_("this event refers to message %(ref)s, which is not in the file"),
    N_("this boundary event is attached to %(ref)s, which is not in the file"),
    N_("this lane lists %(ref)s, which is not in the file"),
    N_("the default flow %(ref)s is not in the file"),
    N_("no path from a start event reaches this element"),
    N_("The file has problems; nothing was deployed."),
    N_("Both versions must be of the same process."),
    N_("This instance cannot move to that version."),
)

# The parser's own messages (workflows.engine.spiff.BpmnSyntaxError) start with these words.
PREFIXED = {
    "not well-formed XML: ": N_("not well-formed XML: %(error)s"),
    "DOCTYPE and ENTITY declarations are not allowed in BPMN files":
        N_("DOCTYPE and ENTITY declarations are not allowed in BPMN files (they can read files of the server)"),
    "DOCTYPE declarations are not allowed in BPMN files":
        N_("DOCTYPE and ENTITY declarations are not allowed in BPMN files (they can read files of the server)"),
    "the file is larger than ": N_("The file is larger than 2 MB; a BPMN diagram is much smaller."),
}


def problem_text(problem: Any) -> str:
    """A validation problem's message (without its element), in the reader's language."""
    message = problem.message
    for prefix, text in PREFIXED.items():
        if message.startswith(prefix):
            return _(text, error=message[len(prefix):]) if "%(error)s" in text else _(text)
    params = dict(problem.params or {})
    try:
        return _(message, **params) if params else _(message)
    except (KeyError, ValueError, TypeError):
        return str(problem)


MIGRATION_REASONS = {
    "other_process": N_("It is an instance of another process."),
    "same_version": N_("It already runs on this version."),
    "older_target": N_("It runs on a newer version than this one."),
    "not_running": N_("It is not running (%(status)s)."),
    "subprocess_removed": N_("Its subprocess %(step)s is not in the new version."),
    "removed_step": N_("Step %(step)s, which it has done or waits at, is not in the new version."),
    "changed_done_step": N_("Step %(step)s, which it has done, is connected differently in the new version (%(fields)s)."),
    "changed_kind": N_("Step %(step)s, where it waits, is a different kind of element in the new version."),
    "unaligned": N_("Step %(step)s cannot be matched with the new version."),
    "would_fail": N_("The new version fails where it stands: %(error)s"),
    "would_stick": N_("On the new version it would wait for nothing and never move."),
}

OUTCOMES = {"same": N_("Same path"), "different": N_("Different path"), "stuck": N_("Stuck")}

REPLAY_REASONS = {
    "same": N_("Takes the same path as recorded."),
    "not_ready": N_("The history goes on with %(step)s, but the new version is at %(found)s."),
    "ended_early": N_("The new version ends before the rest of the history (%(step)s)."),
    "message_not_awaited": N_("Message %(message)s arrives while the new version is at %(found)s."),
    "engine_error": N_("Stuck at %(step)s: %(error)s"),
    "cannot_move": N_("Stuck at %(step)s: nothing is ready and nothing is awaited."),
    "path_differs": N_("Takes a different path from %(step)s on."),
    "ends_elsewhere": N_("Ends up at %(found)s instead of %(expected)s."),
}

FIELDS = {
    "type": N_("Kind"), "name": N_("Element name"), "lane": N_("Lane"), "form": N_("Form"), "due": N_("Due date"),
    "status": N_("Status property"), "timer": N_("Timer"), "message": N_("Message"),
    "operator": N_("Service operator"), "attached_to": N_("Attached to"), "default": N_("Default flow"),
    "script": N_("Script"), "from": N_("From"), "to": N_("To"), "condition": N_("Condition"),
    "in": N_("Steps in the lane"),
}


def step_label(step: str | None, names: dict[str, str]) -> str:
    if not step:
        return "—"
    name = names.get(step)
    return f"{name} ({step})" if name and name != step else step


def steps_label(steps: list[str] | None, names: dict[str, str]) -> str:
    return "、".join(step_label(s, names) for s in steps or []) or _("nowhere")


def migration_reason(reason: Any, names: dict[str, str]) -> str:
    text = MIGRATION_REASONS.get(reason.code)
    if text is None:
        return reason.code
    params = dict(reason.params)
    params.setdefault("step", step_label(reason.step, names))
    if reason.code == "not_running":
        from webapp.labels import label

        params["status"] = label("instance_status", params.get("status"))
    return _(text, **params)


def replay_reason(result: Any, names: dict[str, str]) -> str:
    text = REPLAY_REASONS.get(result.reason)
    if text is None:
        return result.reason
    detail = result.detail
    params = {"step": step_label(result.step, names), "found": steps_label(detail.get("found"), names),
              "expected": steps_label(detail.get("expected"), names), "message": detail.get("message", ""),
              "error": detail.get("error", "")}
    return _(text, **params)
