"""Serving evidence files to those who may see the evaluation: the member, their branch's
reviewers, secretary and discipline member, the party office and the leading group.

The Content-Type is the sniffed one from the accepted list, never the browser's; images and PDFs
open in the browser, everything else downloads; `nosniff` stops any second guessing; the file
name is sent in RFC 6266/5987 form with an ASCII fallback, so no name can inject a header.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from flask import abort, current_app, request, send_file

from models.evaluation import Evidence
from webapp.authz import guard, load_or_404
from webapp.member import bp
from workflows.errors import NotFound
from workflows.quarter import evidence


def content_disposition(filename: str, *, inline: bool, fallback_stem: str = "evidence") -> str:
    """`inline` or `attachment` with a plain-ASCII `filename` and the exact UTF-8 `filename*`."""
    stem, _, ext = filename.rpartition(".") if "." in filename else (filename, "", "")
    ascii_stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    ascii_ext = re.sub(r"[^A-Za-z0-9]+", "", ext)
    fallback = (ascii_stem if ascii_stem.replace("_", "") else fallback_stem)[:120] + (f".{ascii_ext}" if ascii_ext else "")
    return f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# Nothing inside a served file may run scripts or load anything. Chrome's PDF viewer refuses a
# sandboxed document, so PDFs get the policy without `sandbox`.
_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


@bp.route("/evidence/<int:evidence_id>")
@guard("evaluation.view")
def evidence_file(evidence_id: int) -> Any:
    """One evidence file (403/404 for everyone who may not see its evaluation)."""
    item = load_or_404(Evidence, evidence_id, "evaluation.view")
    try:
        path = evidence.stored_file(current_app.config["UPLOAD_DIR"], item)
    except NotFound:
        abort(404)
    inline = evidence.is_inline(item) and request.args.get("download") is None
    response = send_file(path, mimetype=evidence.content_type_of(item), as_attachment=False, conditional=True,
                         etag=item.sha256, max_age=0)
    response.headers["Content-Disposition"] = content_disposition(item.filename, inline=inline,
                                                                  fallback_stem=f"evidence-{item.id}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    pdf = evidence.content_type_of(item) == evidence.PDF
    response.headers["Content-Security-Policy"] = _CSP + ("; object-src 'self'" if pdf else "; sandbox")
    return response
