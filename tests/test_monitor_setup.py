"""States for looking at the monitor and designer pages:
`tools/shoot.py --setup tests.test_monitor_setup:build` (on the demo bureau, whose 2026Q3 is filed
and 2026Q4 open). No tests here: pytest collects nothing from this module."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from models.process import InstanceStatus, ProcessInstance
from workflows.designer import upload
from workflows.engine import instances
from workflows.org import principals

ROOT = Path(__file__).resolve().parent.parent


def build(session) -> None:
    """One failed instance, one stuck one, and a second version of the person process."""
    running = list(session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == "person_quarter", ProcessInstance.status == InstanceStatus.RUNNING)
        .order_by(ProcessInstance.id.desc()).limit(3)))
    if running:
        instances.record_error(session, running[0].id,
                             "branch_review (支部审核（算绩）): score could not be computed: standard 7 has no points")
    designer = principals.principal_by_username(session, "designer")
    xml = (ROOT / "bpmn" / "person_quarter.bpmn").read_bytes().replace(
        "支部代为登记".encode(), "支部代为登记（逾期）".encode())
    upload.deploy_upload(session, designer, xml, "person_quarter.bpmn", "逾期代登记环节更名")
    session.commit()
