"""Translations: English message ids in code, Simplified Chinese (the default) in .po catalogues.

Each blueprint keeps its own catalogue (`webapp/<area>/translations/zh/LC_MESSAGES/messages.po`)
and Flask-Babel merges them all, so areas are translated independently. The compiled .mo files
are build products: `python -m webapp.i18n compile` (run by make) writes them, and
`python -m webapp.i18n update` extracts new message ids into each area's catalogue,
`python -m webapp.i18n missing` lists what has no translation yet, and
`python -m webapp.i18n fill mapping.json` puts {"English id": "中文"} translations in place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WEBAPP = Path(__file__).resolve().parent
LOCALES = ("zh",)


def translation_dirs() -> list[Path]:
    """Every area's catalogue, then the shared one: Flask-Babel merges them in this order and the
    later wins, so the shared vocabulary (and the services' messages) is the same everywhere.
    `tests/test_i18n.py` keeps the areas from translating a shared id differently."""
    dirs = sorted(p / "translations" for p in WEBAPP.iterdir() if (p / "translations").is_dir())
    dirs.append(WEBAPP / "translations")
    return [d for d in dirs if d.is_dir()]


def source_dirs(translations: Path) -> list[Path]:
    """What a catalogue covers: its area package, or for the shared one everything not in an area."""
    owner = translations.parent
    if owner != WEBAPP:
        return [owner]
    # Services raise messages marked with N_(); the shared catalogue translates them.
    return [WEBAPP, WEBAPP.parent / "workflows", WEBAPP.parent / "models"]


def compile_all(force: bool = False) -> int:
    """Compile every .po that is newer than its .mo; returns how many were written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = 0
    for tdir in translation_dirs():
        for po in tdir.glob("*/LC_MESSAGES/*.po"):
            mo = po.with_suffix(".mo")
            if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh)
            # Write then rename: a process reading the catalogue never sees half a file.
            tmp = mo.with_suffix(f".mo.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                write_mo(fh, catalog)
            os.replace(tmp, mo)
            written += 1
    return written


def extract(paths: list[Path], exclude_areas: bool) -> object:
    """Message ids used in Python and Jinja sources under `paths`."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.do"}}
    area_dirs = {p.parent.resolve() for p in translation_dirs() if p.parent != WEBAPP}
    catalog = Catalog()
    for base in paths:
        for filename, lineno, message, comments, _ctx in extract_from_dir(
            str(base), method_map, options_map=options, keywords={"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2), "N_": None}
        ):
            full = (base / filename).resolve()
            if exclude_areas and any(a in full.parents for a in area_dirs):
                continue
            if "static" in full.parts:
                continue
            catalog.add(message, None, [(str(full.relative_to(WEBAPP.parent)), lineno)], auto_comments=comments)
    return catalog


def update_all() -> None:
    """Add new message ids to every area's zh catalogue, keeping existing translations."""
    from babel.messages.pofile import read_po, write_po

    areas = [p / "translations" for p in WEBAPP.iterdir() if (p / "routes.py").exists()]
    for tdir in dict.fromkeys(translation_dirs() + areas):
        template = extract(source_dirs(tdir), exclude_areas=tdir.parent == WEBAPP)
        if not len(template):  # type: ignore[arg-type]
            continue
        for locale in LOCALES:
            po = tdir / locale / "LC_MESSAGES" / "messages.po"
            po.parent.mkdir(parents=True, exist_ok=True)
            if po.exists():
                with po.open("rb") as fh:
                    catalog = read_po(fh, locale=locale)
                catalog.update(template, no_fuzzy_matching=True)
            else:
                from babel.messages.catalog import Catalog

                catalog = Catalog(locale=locale)
                catalog.update(template, no_fuzzy_matching=True)
            with po.open("wb") as fh:
                write_po(fh, catalog, width=0, omit_header=False, ignore_obsolete=True, include_previous=False)
            print(f"updated {po.relative_to(WEBAPP.parent)}")


def _catalogues():
    from babel.messages.pofile import read_po

    for tdir in translation_dirs():
        for po in sorted(tdir.glob("*/LC_MESSAGES/messages.po")):
            with po.open("rb") as fh:
                yield po, read_po(fh)


def missing() -> dict[str, list[str]]:
    """Message ids without a translation, per catalogue."""
    out: dict[str, list[str]] = {}
    for po, catalog in _catalogues():
        ids = [m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and not (
            m.string if isinstance(m.string, str) else all(m.string))]
        if ids:
            out[str(po.relative_to(WEBAPP.parent))] = ids
    return out


def fill(mapping: dict[str, str]) -> int:
    """Put translations from {msgid: text} into every catalogue that has the msgid untranslated."""
    from babel.messages.pofile import write_po

    filled = 0
    for po, catalog in _catalogues():
        changed = False
        for message in catalog:
            key = message.id if isinstance(message.id, str) else message.id[0]
            if not key or key not in mapping:
                continue
            if isinstance(message.id, str):
                if not message.string:
                    message.string = mapping[key]
                    changed = True
            elif not all(message.string):
                message.string = tuple(mapping[key] for _ in message.string)
                changed = True
            filled += changed
        if changed:
            with po.open("wb") as fh:
                write_po(fh, catalog, width=0, ignore_obsolete=True, include_previous=False)
    return filled


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "compile"
    if command == "compile":
        n = compile_all(force="--force" in sys.argv)
        if n:
            print(f"i18n: compiled {n} catalogue(s)")
    elif command == "update":
        update_all()
    elif command == "missing":
        import json

        print(json.dumps(missing(), ensure_ascii=False, indent=1))
    elif command == "fill":
        import json

        with open(sys.argv[2], encoding="utf-8") as fh:
            print(f"i18n: filled {fill(json.load(fh))} catalogue entries")
    else:
        sys.exit("usage: python -m webapp.i18n [compile|update|missing|fill MAPPING.json]")
