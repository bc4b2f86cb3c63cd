"""Evidence files: accepted for what their content is (never their name), stored outside the web
root under a random key, served with safe headers, and only to those who may see the evaluation."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from models.audit import AuditEvent
from models.evaluation import Claim, Evidence, Quarter
from tests import quarter_helpers as qh
from tests import test_member_states as states
from webapp.member.files import content_disposition
from workflows.engine import tx
from workflows.errors import QuarterLocked, WindowClosed
from workflows.quarter import evaluation, evidence

SAMPLES = Path(__file__).resolve().parent / "data" / "uploads"
GOOD = sorted((SAMPLES / "good").iterdir())
BAD = sorted((SAMPLES / "bad").iterdir())
MB = 1024 * 1024


# --- What a file is: by content only -----------------------------------------------------------------

@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_files_are_recognised_by_their_content(path: Path) -> None:
    kind = evidence.sniff(path.read_bytes())
    expected = path.suffix.lstrip(".")
    assert kind.extension == expected and kind.content_type == evidence.KINDS[expected]


@pytest.mark.parametrize(("name", "says"), [
    ("program_renamed.pdf", "a Windows program"),
    ("linux_program.pdf", "a program"),
    ("page_renamed.pdf", "This kind of file is not accepted"),
    ("drawing_with_script.png", "This kind of file is not accepted"),
    ("drawing_with_script.svg", "This kind of file is not accepted"),
    ("archive_renamed.docx", "zip archive, not a Word"),
    ("types_only.docx", "zip archive, not a Word"),
    ("macros.docx", "macros are not accepted"),
    ("truncated.docx", "damaged"),
    ("installer_renamed.doc", "neither a Word nor an Excel"),
    ("notes.txt", "This kind of file is not accepted"),
])
def test_bad_files_are_refused_saying_what_they_are(name: str, says: str) -> None:
    with pytest.raises(evidence.Refused) as caught:
        evidence.sniff((SAMPLES / "bad" / name).read_bytes())
    error = caught.value
    assert says in (error.message % error.details if error.details else error.message)
    assert list(error.field_errors) == ["file"]


def test_a_right_type_behind_a_wrong_extension_is_stored_as_what_it_is() -> None:
    assert evidence.sniff((SAMPLES / "good" / "photo.jpg").read_bytes()).extension == "jpg"
    assert evidence.clean_filename("scan.pdf", "jpg") == "scan.jpg"


def test_zip_bombs_and_huge_archives_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(evidence.MAX_ZIP_ENTRIES + 1):
            archive.writestr(f"word/{i}.xml", b"")
    with pytest.raises(evidence.Refused, match="too large when unpacked"):
        evidence.sniff(buffer.getvalue())
    monkeypatch.setattr(evidence, "MAX_UNPACKED", 10)
    with pytest.raises(evidence.Refused, match="too large when unpacked"):
        evidence.sniff((SAMPLES / "good" / "report.docx").read_bytes())


@pytest.mark.parametrize(("given", "expected"), [
    ("值班记录.PNG", "值班记录.png"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\张三\\Desktop\\表彰.pdf", "表彰.pdf"),
    ('a"b\r\nContent-Type: text/html;.pdf', "html_.pdf"),  # a slash starts a folder name
    ('a"b\r\nSet-Cookie: x=1;.pdf', "a_bSet-Cookie_ x=1_.pdf"),
    ("noextension", "noextension.pdf"),
    (".pdf", "evidence.pdf"),
    ("", "evidence.pdf"),
    ("x" * 300 + ".pdf", "x" * evidence.MAX_NAME + ".pdf"),
])
def test_stored_names_are_clean(given: str, expected: str) -> None:
    assert evidence.clean_filename(given, "png" if given.lower().endswith(".png") else "pdf") == expected


@pytest.mark.parametrize("name", ['a"; filename=evil.html', "证明\r\nSet-Cookie: x=1.pdf", "表彰文件.pdf", "plain.pdf"])
def test_content_disposition_cannot_carry_a_header(name: str) -> None:
    value = content_disposition(name, inline=False, fallback_stem="evidence-7")
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="')
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback and all(ch.isalnum() or ch in "._-" for ch in fallback)
    assert "filename*=UTF-8''" in value and ";" not in value.split("filename*=UTF-8''", 1)[1]


# --- Uploading through the page ----------------------------------------------------------------------

@pytest.fixture
def draft(app, db_session, org, clock):
    """An open quarter in which m1_a1 has one draft claim (a bonus) and its self-evaluation task."""
    qh.deploy_shipped(db_session)
    qh.load_catalogue(db_session)
    quarter = qh.open_quarter(db_session, clock)
    ev = qh.evaluation_of(db_session, quarter.id, org.people["m1_a1"].id)
    picks = states.standards(db_session, ev)
    claim = tx.run(db_session, evaluation.save_claim, qh.who(db_session, "m1_a1"), ev.id,
                   {"standard_id": picks["plain"].id, "occurrences": 1, "occurred_on": "2026-10-08"})
    [task] = qh.tasks(db_session, "self_evaluation", person_id=ev.person_id)
    return quarter, ev, claim, task


def _stored(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return [p for p in root.rglob("*") if p.is_file()]


def _upload(client, task, claim, name: str, data: bytes):
    return client.post(f"/self-evaluation/{task.id}/claims/{claim.id}/evidence",
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_a_good_file_is_stored_outside_the_web_root_under_a_random_key(app, client, login, db_session, draft):
    quarter, ev, claim, task = draft
    login("m1_a1")
    data = (SAMPLES / "good" / "certificate.pdf").read_bytes()
    response = _upload(client, task, claim, "../表彰 文件.pdf", data)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#claim-{claim.id}")
    item = db_session.scalar(select(Evidence).where(Evidence.claim_id == claim.id))
    assert item.filename == "表彰 文件.pdf" and item.content_type == "application/pdf" and item.size == len(data)
    assert item.sha256 == hashlib.sha256(data).hexdigest()
    [path] = _stored(app)
    assert path.name == item.storage_key and len(item.storage_key) == 40 and path.read_bytes() == data
    assert not str(path).startswith(str(Path(app.static_folder)))
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.uploaded"))
    assert event.object_id == str(item.id) and item.sha256 in event.data
    # The same file twice on one claim is refused; the page says so.
    again = _upload(client, task, claim, "copy.pdf", data)
    assert again.status_code == 422
    assert states.says(app, "This file is already attached to the claim.") in again.get_data(as_text=True)


def test_bad_uploads_are_refused_with_a_message_and_leave_nothing_behind(app, client, login, db_session, draft):
    quarter, ev, claim, task = draft
    login("m1_a1")
    app.config["UPLOAD_MAX_BYTES"] = 2048
    kinds = "Upload a PDF, an image (PNG, JPEG, GIF, WebP) or a Word, Excel or PowerPoint document."
    cases = [
        ("program_renamed.pdf", states.says(app, f"This file is %(what)s, which is not accepted as evidence. {kinds}",
                                            what="a Windows program")),
        ("page_renamed.pdf", states.says(app, f"This kind of file is not accepted as evidence. {kinds}")),
        ("drawing_with_script.png", states.says(app, f"This kind of file is not accepted as evidence. {kinds}")),
        ("drawing_with_script.svg", states.says(app, f"This kind of file is not accepted as evidence. {kinds}")),
        ("archive_renamed.docx", states.says(app, "This file is a zip archive, not a Word, Excel or PowerPoint document.")),
        ("macros.docx", states.says(app, "Documents with macros are not accepted. Save it as an ordinary .docx, .xlsx or .pptx.")),
        ("empty.pdf", states.says(app, "The file is empty.")),
    ]
    assert "Windows 可执行程序" in cases[0][1]  # the kind of file is translated too
    for name, says in cases:
        response = _upload(client, task, claim, name, (SAMPLES / "bad" / name).read_bytes())
        assert response.status_code == 422, name
        assert says in response.get_data(as_text=True), name
    oversize = _upload(client, task, claim, "big.pdf", b"%PDF-1.4\n" + b"0" * 4096)
    assert oversize.status_code == 422
    assert states.says(app, "The file is larger than the limit of %(size)s.", size="2 KB") in oversize.get_data(as_text=True)
    nothing = client.post(f"/self-evaluation/{task.id}/claims/{claim.id}/evidence", data={},
                          content_type="multipart/form-data")
    assert nothing.status_code == 422 and "请选择要上传的文件" in nothing.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert _stored(app) == []


def test_adding_a_claim_with_a_bad_file_saves_nothing_and_keeps_what_was_typed(app, client, login, db_session, draft):
    quarter, ev, claim, task = draft
    login("m1_a1")
    picks = states.standards(db_session, ev)
    response = client.post(f"/self-evaluation/{task.id}/claims", data={
        "standard_id": str(picks["high"].id), "occurrences": "1", "occurred_on": "2026-11-02",
        "description": "获得局级表彰，文件见附件", "file": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 60), "表彰.pdf")},
        content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "获得局级表彰，文件见附件" in text and 'value="2026-11-02"' in text
    assert "本次未保存任何内容" in text
    assert db_session.scalar(select(func.count()).select_from(Claim)) == 1 and _stored(app) == []


def test_files_follow_the_transaction(app, db_session, draft):
    quarter, ev, claim, task = draft
    member = qh.who(db_session, "m1_a1")
    upload = dict(upload_dir=app.config["UPLOAD_DIR"], max_bytes=MB)
    evidence.upload(db_session, member, claim.id, filename="a.png", data=states.PNG, **upload)
    assert len(_stored(app)) == 1
    db_session.rollback()
    assert _stored(app) == []  # rolled back: the file went with it
    item = tx.run(db_session, evidence.upload, member, claim.id, filename="a.png", data=states.PNG, **upload)
    [path] = _stored(app)
    evidence.delete(db_session, member, item.id, upload_dir=app.config["UPLOAD_DIR"])
    assert path.exists()  # not before the deletion commits
    db_session.rollback()
    assert path.exists()
    tx.run(db_session, evidence.delete, member, item.id, upload_dir=app.config["UPLOAD_DIR"])
    assert not path.exists()


def test_removing_a_claim_removes_its_files(app, client, login, db_session, draft):
    quarter, ev, claim, task = draft
    login("m1_a1")
    assert _upload(client, task, claim, "a.png", states.PNG).status_code == 302
    [item] = db_session.scalars(select(Evidence)).all()
    assert client.post(f"/self-evaluation/{task.id}/evidence/{item.id}/remove").status_code == 302
    assert _stored(app) == [] and db_session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert _upload(client, task, claim, "a.png", states.PNG).status_code == 302
    assert client.post(f"/self-evaluation/{task.id}/claims/{claim.id}/remove").status_code == 302
    assert _stored(app) == [] and db_session.get(Claim, claim.id) is None
    actions = db_session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["evidence.uploaded", "evidence.deleted", "claim.removed"]


def test_evidence_cannot_change_once_submitted_or_locked(app, db_session, draft):
    quarter, ev, claim, task = draft
    member = qh.who(db_session, "m1_a1")
    upload = dict(filename="a.png", data=states.PNG, upload_dir=app.config["UPLOAD_DIR"], max_bytes=MB)
    item = tx.run(db_session, evidence.upload, member, claim.id, **upload)
    tx.run(db_session, evaluation.submit_self_evaluation, member, task.id)
    with pytest.raises(WindowClosed):
        evidence.upload(db_session, member, claim.id, **upload)
    db_session.rollback()
    with pytest.raises(WindowClosed):
        evidence.delete(db_session, member, item.id, upload_dir=app.config["UPLOAD_DIR"])
    db_session.rollback()
    db_session.execute(update(Quarter).where(Quarter.id == quarter.id).values(locked=True))
    db_session.commit()
    with pytest.raises(QuarterLocked):
        evidence.delete(db_session, member, item.id, upload_dir=app.config["UPLOAD_DIR"])
    db_session.rollback()
    assert len(_stored(app)) == 1


# --- Serving -----------------------------------------------------------------------------------------

@pytest.fixture
def served(app, db_session, draft):
    """One stored file of each kind the page treats differently: image, PDF, Office document."""
    quarter, ev, claim, task = draft
    member = qh.who(db_session, "m1_a1")
    items = {}
    for name in ("photo.png", "certificate.pdf", "report.docx"):
        items[name] = tx.run(db_session, evidence.upload, member, claim.id, filename=name,
                             data=(SAMPLES / "good" / name).read_bytes(), upload_dir=app.config["UPLOAD_DIR"],
                             max_bytes=MB)
    return items


def test_files_are_served_with_safe_headers(client, login, served):
    login("m1_a1")
    png = client.get(f"/evidence/{served['photo.png'].id}")
    assert png.status_code == 200 and png.data == (SAMPLES / "good" / "photo.png").read_bytes()
    assert png.headers["Content-Type"] == "image/png"
    assert png.headers["Content-Disposition"].startswith("inline;")
    assert png.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in png.headers["Content-Security-Policy"] and "script-src" not in png.headers["Content-Security-Policy"]
    assert "no-store" in png.headers["Cache-Control"]
    pdf = client.get(f"/evidence/{served['certificate.pdf'].id}")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.headers["Content-Disposition"].startswith("inline;")
    docx = client.get(f"/evidence/{served['report.docx'].id}")
    assert docx.headers["Content-Type"] == evidence.DOCX
    assert docx.headers["Content-Disposition"] == (
        "attachment; filename=\"report.docx\"; filename*=UTF-8''report.docx")
    download = client.get(f"/evidence/{served['photo.png'].id}?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_a_tampered_row_never_changes_the_served_type(client, login, db_session, served):
    item = served["photo.png"]
    db_session.execute(update(Evidence).where(Evidence.id == item.id).values(
        content_type="text/html", filename='x"\r\n.html'))
    db_session.commit()
    login("m1_a1")
    response = client.get(f"/evidence/{item.id}")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "\n" not in response.headers["Content-Disposition"]


@pytest.mark.parametrize(("username", "status"), [
    ("m1_a1", 200),  # the member
    ("rev_a1", 200), ("sec_a1", 200), ("disc_a1", 200),  # their branch
    ("office", 200), ("leader", 200),  # the party office and the leading group
    ("m2_a1", 403),  # another member of the same branch
    ("m1_a2", 403), ("rev_a2", 403), ("sec_b1", 403), ("disc_a2", 403),  # another branch
    ("designer", 403), ("admin", 403),
])
def test_only_those_who_may_see_the_evaluation_get_the_file(client, login, served, username, status):
    login(username)
    assert client.get(f"/evidence/{served['photo.png'].id}").status_code == status


def test_missing_files_and_strangers(client, login, served, app):
    assert client.get(f"/evidence/{served['photo.png'].id}").status_code == 302  # sign in first
    login("m1_a1")
    assert client.get("/evidence/999999").status_code == 404
    Path(evidence.path_for(app.config["UPLOAD_DIR"], served["photo.png"].storage_key)).unlink()
    assert client.get(f"/evidence/{served['photo.png'].id}").status_code == 404
