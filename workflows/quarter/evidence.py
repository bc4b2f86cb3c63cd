"""Evidence (佐证材料) of a claim: uploading, removing and finding the stored file.

A file is accepted only for what its *content* is, never for its name: PDF, PNG/JPEG/GIF/WebP
images, Word/Excel/PowerPoint (OOXML, checked inside the zip: the right `[Content_Types].xml`
main part and the word/ xl/ ppt/ folder, no macros) and legacy Word/Excel (OLE compound files
with a WordDocument or Workbook stream). Anything else (a program, HTML, SVG, a plain zip) is
refused with a message saying what it is. The extension of the stored name is corrected to
the real type, so the name can never make a browser treat it as something else.

Files live under the configured upload folder (outside the web root) under a random storage
key; the database keeps the display name, the sniffed type, the size and the SHA-256. Files are
written before the transaction commits and removed again if it rolls back; a deleted evidence's
file is removed only once the deletion has committed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filetype
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.clock import now
from models.db import listen
from models.evaluation import Claim, ClaimSource, ClaimStatus, Evaluation, Evidence
from models.permissions import Principal
from workflows.errors import NotFound, ValidationFailed, WindowClosed
from workflows.i18n import N_
from workflows.quarter import evaluation as evaluations

MAX_FILES_PER_CLAIM = 10
MAX_NAME = 120
MAX_UNPACKED = 200 * 1024 * 1024  # an Office file larger than this unpacked is a zip bomb, not evidence
MAX_ZIP_ENTRIES = 5000

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"

# The accepted kinds: extension -> the one Content-Type a stored file of that kind is served with.
KINDS: dict[str, str] = {
    "pdf": PDF, "png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "docx": DOCX, "xlsx": XLSX, "pptx": PPTX, "doc": DOC, "xls": XLS,
}
INLINE_TYPES = frozenset({PDF, "image/png", "image/jpeg", "image/gif", "image/webp"})
ACCEPT = ",".join("." + ext for ext in (*KINDS, "jpeg"))  # for <input type=file accept=...>

# OOXML: the folder and the main part's content type each kind must have.
_OOXML = {
    "docx": ("word/document.xml", b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    "pptx": ("ppt/presentation.xml", b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"),
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_STREAMS = {  # directory entry names, UTF-16LE with their terminator
    "doc": ("WordDocument",),
    "xls": ("Workbook", "Book"),
}
# What a refused file is, in words the member understands.
_DESCRIBED = {
    "exe": N_("a Windows program"), "elf": N_("a program"), "zip": N_("a zip archive"),
    "rar": N_("a compressed archive"), "7z": N_("a compressed archive"), "gz": N_("a compressed archive"),
    "tar": N_("a compressed archive"), "mp4": N_("a video"), "mov": N_("a video"), "avi": N_("a video"),
    "mp3": N_("an audio file"), "heic": N_("a HEIC photo (convert it to JPEG)"), "tif": N_("a TIFF image"),
    "bmp": N_("a BMP image"), "ppt": N_("a PowerPoint 97-2003 file (save it as .pptx)"),
    "odt": N_("an OpenDocument file (save it as .docx)"), "ods": N_("an OpenDocument file (save it as .xlsx)"),
    "rtf": N_("an RTF document (save it as .docx or PDF)"),
}


@dataclass(frozen=True)
class Sniffed:
    extension: str  # one of KINDS
    content_type: str


class Refused(ValidationFailed):
    """The file was refused; the message says why."""


def _refuse(message: str, **params: Any) -> Refused:
    return Refused(message, field_errors={"file": [message]}, **params)


def sniff(data: bytes) -> Sniffed:
    """What the file really is, by its content; Refused when it is not an accepted kind."""
    if data.startswith(b"PK\x03\x04"):
        ext = _ooxml_kind(data)
        return Sniffed(ext, KINDS[ext])
    if data.startswith(_OLE_MAGIC):
        ext = _ole_kind(data)
        return Sniffed(ext, KINDS[ext])
    kind = filetype.guess(data[:8192])
    if kind is not None:
        ext = {"jpeg": "jpg", "apng": "png"}.get(kind.extension, kind.extension)
        if ext in ("pdf", "png", "jpg", "gif", "webp"):
            return Sniffed(ext, KINDS[ext])
        described = _DESCRIBED.get(kind.extension)
        if described:
            raise _refuse(N_("This file is %(what)s, which is not accepted as evidence. Upload a PDF, an image "
                             "(PNG, JPEG, GIF, WebP) or a Word, Excel or PowerPoint document."), what=described)
    raise _refuse(N_("This kind of file is not accepted as evidence. Upload a PDF, an image (PNG, JPEG, GIF, "
                     "WebP) or a Word, Excel or PowerPoint document."))


def _ooxml_kind(data: bytes) -> str:
    not_office = _refuse(N_("This file is a zip archive, not a Word, Excel or PowerPoint document."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise _refuse(N_("This document is too large when unpacked."))
            names = {i.filename for i in infos}
            if "[Content_Types].xml" not in names:
                raise not_office
            content_types = archive.read("[Content_Types].xml")[:500_000]
            if archive.testzip() is not None:
                raise _refuse(N_("This document is damaged: it could not be read."))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, NotImplementedError,
            RuntimeError, ValueError):
        raise _refuse(N_("This document is damaged: it could not be read.")) from None
    if any(n.lower().endswith("vbaproject.bin") for n in names) or b"macroEnabled" in content_types:
        raise _refuse(N_("Documents with macros are not accepted. Save it as an ordinary .docx, .xlsx or .pptx."))
    for ext, (part, main_type) in _OOXML.items():
        if part in names and main_type in content_types:
            return ext
    raise not_office


def _ole_kind(data: bytes) -> str:
    for ext, streams in _OLE_STREAMS.items():
        if any(name.encode("utf-16-le") + b"\x00\x00" in data for name in streams):
            return ext
    kind = filetype.guess(data[:8192])
    if kind is not None and kind.extension in ("doc", "xls"):
        return str(kind.extension)
    raise _refuse(N_("This Office 97-2003 file is neither a Word nor an Excel document. Save it as .docx, "
                     ".xlsx or PDF."))


_UNSAFE = re.compile(r'[\\/:*?"<>|;]+')


def clean_filename(name: str, extension: str) -> str:
    """A display name that is safe anywhere: no folders, no control or quote characters, not too
    long, and ending in the extension of what the file really is."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"\s+", " ", stem).strip(" .") or "evidence"
    return f"{stem[:MAX_NAME]}.{extension}"


def path_for(upload_dir: str | os.PathLike[str], storage_key: str) -> Path:
    """Where a stored file lives: two-level fan-out under the upload folder."""
    if not re.fullmatch(r"[0-9a-f]{40}", storage_key):
        raise NotFound()
    return Path(upload_dir) / storage_key[:2] / storage_key


# --- Files follow the transaction -------------------------------------------------------------------

_WRITTEN, _DOOMED = "evidence_written", "evidence_doomed"


def _after_commit(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
    for path in session.info.pop(_DOOMED, []):
        Path(path).unlink(missing_ok=True)


def _after_rollback(session: Session) -> None:
    session.info.pop(_DOOMED, None)
    for path in session.info.pop(_WRITTEN, []):
        Path(path).unlink(missing_ok=True)


def install() -> None:
    """Files written in a transaction go with its rollback, doomed ones with its commit (idempotent)."""
    listen(Session, {"after_commit": _after_commit, "after_rollback": _after_rollback})


# --- Services ----------------------------------------------------------------------------------------


def editable_claim(session: Session, actor: Principal, claim_id: int) -> tuple[Claim, Evaluation]:
    """A draft claim the actor may change now (their self-evaluation, or the branch's recording)."""
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise NotFound()
    evaluation = evaluations.get_evaluation(session, actor, claim.evaluation_id)
    evaluations._editable_by(session, actor, evaluation)  # noqa: SLF001 - the one rule of who edits claims when
    if claim.status != ClaimStatus.DRAFT or claim.source not in (ClaimSource.SELF, ClaimSource.BRANCH):
        raise WindowClosed(N_("Evidence can only be changed on a draft claim."))
    return claim, evaluation


def upload(session: Session, actor: Principal, claim_id: int, *, filename: str, data: bytes,
           upload_dir: str | os.PathLike[str], max_bytes: int) -> Evidence:
    """Attach a file to a draft claim, after checking what it really is."""
    claim, evaluation = editable_claim(session, actor, claim_id)
    if not data:
        raise _refuse(N_("The file is empty."))
    if len(data) > max_bytes:
        raise _refuse(N_("The file is larger than the limit of %(size)s."), size=_size(max_bytes))
    attached = session.scalar(select(func.count()).select_from(Evidence).where(Evidence.claim_id == claim.id)) or 0
    if attached >= MAX_FILES_PER_CLAIM:
        raise _refuse(N_("A claim has at most %(n)s files."), n=MAX_FILES_PER_CLAIM)
    kind = sniff(data)
    digest = hashlib.sha256(data).hexdigest()
    if session.scalar(select(Evidence.id).where(Evidence.claim_id == claim.id, Evidence.sha256 == digest).limit(1)):
        raise _refuse(N_("This file is already attached to the claim."))
    key = secrets.token_hex(20)
    path = path_for(upload_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:  # never overwrite: a fresh random key each time
        fh.write(data)
    session.info.setdefault(_WRITTEN, []).append(str(path))
    item = Evidence(evaluation_id=evaluation.id, claim_id=claim.id, filename=clean_filename(filename, kind.extension),
                    content_type=kind.content_type, size=len(data), sha256=digest, storage_key=key,
                    uploaded_by=actor.user_id, uploaded_at=now())
    session.add(item)
    session.flush()
    audit.record(session, "evidence.uploaded", actor_user_id=actor.user_id, object_type="evidence", object_id=item.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                 data={"evaluation_id": evaluation.id, "claim_id": claim.id, "filename": item.filename,
                       "content_type": item.content_type, "size": item.size, "sha256": digest})
    return item


def save_claim_with_file(session: Session, actor: Principal, evaluation_id: int, values: dict[str, Any], *,
                         claim_id: int | None = None, file: tuple[str, bytes] | None = None,
                         upload_dir: str | os.PathLike[str], max_bytes: int) -> Claim:
    """Add or change a draft claim and, for a new one, attach its first file — both or neither."""
    claim = evaluations.save_claim(session, actor, evaluation_id, values, claim_id=claim_id)
    if file is not None:
        name, data = file
        upload(session, actor, claim.id, filename=name, data=data, upload_dir=upload_dir, max_bytes=max_bytes)
    return claim


def delete(session: Session, actor: Principal, evidence_id: int, *, upload_dir: str | os.PathLike[str]) -> Evidence:
    """Remove a file from a draft claim (the stored file goes once the removal commits)."""
    item = session.get(Evidence, evidence_id)
    if item is None:
        raise NotFound()
    if item.claim_id is None:
        evaluation = evaluations.get_evaluation(session, actor, item.evaluation_id)
        evaluations._editable_by(session, actor, evaluation)  # noqa: SLF001
    else:
        _, evaluation = editable_claim(session, actor, item.claim_id)
    _doom(session, item, upload_dir)
    audit.record(session, "evidence.deleted", actor_user_id=actor.user_id, object_type="evidence", object_id=item.id,
                 quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                 data={"evaluation_id": evaluation.id, "claim_id": item.claim_id, "filename": item.filename,
                       "sha256": item.sha256})
    session.delete(item)
    return item


def delete_claim(session: Session, actor: Principal, claim_id: int, *, upload_dir: str | os.PathLike[str]) -> None:
    """Remove a draft claim together with its files (a file never outlives the claim it backed)."""
    claim, evaluation = editable_claim(session, actor, claim_id)
    for item in list(claim.evidence):
        _doom(session, item, upload_dir)
        audit.record(session, "evidence.deleted", actor_user_id=actor.user_id, object_type="evidence",
                     object_id=item.id, quarter_id=evaluation.quarter_id, branch_id=evaluation.branch_id,
                     data={"evaluation_id": evaluation.id, "claim_id": claim.id, "filename": item.filename,
                           "sha256": item.sha256, "with_claim": True})
        session.delete(item)
    session.flush()
    session.expire(claim, ["evidence"])
    evaluations.delete_claim(session, actor, claim_id)


def _doom(session: Session, item: Evidence, upload_dir: str | os.PathLike[str]) -> None:
    session.info.setdefault(_DOOMED, []).append(str(path_for(upload_dir, item.storage_key)))


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


def stored_file(upload_dir: str | os.PathLike[str], item: Evidence) -> Path:
    """The stored file of an evidence (NotFound when it has gone missing from the disk)."""
    path = path_for(upload_dir, item.storage_key)
    if not path.is_file():
        raise NotFound()
    return path


def content_type_of(item: Evidence) -> str:
    """The Content-Type to serve: only ever one of the accepted kinds, whatever the row says."""
    return item.content_type if item.content_type in KINDS.values() else "application/octet-stream"


def is_inline(item: Evidence) -> bool:
    return content_type_of(item) in INLINE_TYPES
