"""Writes the evidence upload samples of this folder (run: python tests/data/uploads/make_samples.py).

Small, hand-built files whose *content* is what the name says (good) or is not (bad). The OOXML
samples are minimal but well-formed packages; the Excel one is made by openpyxl.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00C\x00" + bytes(range(64))
        + b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xff\xda\x00\x08\x01\x01\x00\x00?\x00\xd2\xcf \xff\xd9")
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def _ole(stream: str) -> bytes:
    return OLE + stream.encode("utf-16-le") + b"\x00\x00" + b"\x00" * 64


CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
      '<Override PartName="/{part}" ContentType="{ctype}"/></Types>')


def _ooxml(part: str, ctype: str, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CT.format(part=part, ctype=ctype))
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr(part, '<?xml version="1.0"?><document/>')
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active["A1"] = "值班记录"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _zip(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return buffer.getvalue()


MAIN = "application/vnd.openxmlformats-officedocument"
GOOD = {
    "photo.png": PNG, "photo.jpg": JPEG, "anim.gif": GIF, "picture.webp": WEBP, "certificate.pdf": PDF,
    "report.docx": _ooxml("word/document.xml", f"{MAIN}.wordprocessingml.document.main+xml"),
    "sheet.xlsx": _xlsx(),
    "slides.pptx": _ooxml("ppt/presentation.xml", f"{MAIN}.presentationml.presentation.main+xml"),
    "old.doc": _ole("WordDocument"), "old.xls": _ole("Workbook"),
}
BAD = {
    "program_renamed.pdf": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run in DOS mode",
    "page_renamed.pdf": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    "drawing_with_script.png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                                b'<script>alert(document.cookie)</script></svg>'),
    "drawing_with_script.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="5" height="5"/></svg>'),
    "archive_renamed.docx": _zip({"notes.txt": b"not a document", "photo.png": PNG}),
    "types_only.docx": _zip({"[Content_Types].xml": b"<Types/>", "docProps/app.xml": b"<Properties/>"}),
    "macros.docx": _ooxml("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml",
                          {"word/vbaProject.bin": b"\x00" * 32}),
    "truncated.docx": _ooxml("word/document.xml", f"{MAIN}.wordprocessingml.document.main+xml")[:60],
    "installer_renamed.doc": OLE + "\u0005SummaryInformation".encode("utf-16-le") + b"\x00" * 64,
    "linux_program.pdf": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56,
    "notes.txt": "党员积分说明，纯文本。".encode(),
    "empty.pdf": b"",
}


def main() -> None:
    for folder, files in (("good", GOOD), ("bad", BAD)):
        (HERE / folder).mkdir(exist_ok=True)
        for name, data in files.items():
            (HERE / folder / name).write_bytes(data)
    print(f"wrote {len(GOOD)} good and {len(BAD)} bad samples")


if __name__ == "__main__":
    main()
