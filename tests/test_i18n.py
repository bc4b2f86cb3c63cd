"""Translations: every message of the UI has its Simplified Chinese (the default language), every
catalogue is up to date with its sources, and one English id has one Chinese wording everywhere
(Flask-Babel merges the area catalogues, so a clash would change another area's page)."""

from babel.messages.pofile import read_po

from webapp import i18n


def _catalogue(tdir):
    po = tdir / "zh" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        return po, read_po(fh)


def _key(message):
    return message.id if isinstance(message.id, str) else message.id[0]


def test_every_message_used_is_in_its_catalogue_with_chinese():
    problems = []
    for tdir in i18n.translation_dirs():
        po, catalogue = _catalogue(tdir)
        have = {_key(m): m for m in catalogue if m.id}
        used = i18n.extract(i18n.source_dirs(tdir), exclude_areas=tdir.parent == i18n.WEBAPP)
        for message in used:
            if not message.id:
                continue
            found = have.get(_key(message))
            if found is None:
                problems.append(f"{po}: {_key(message)!r} is not in the catalogue (python -m webapp.i18n update)")
            elif not (found.string if isinstance(found.string, str) else all(found.string)):
                problems.append(f"{po}: {_key(message)!r} has no Chinese")
    assert problems == []


def test_one_english_id_has_one_chinese_wording():
    wordings: dict[str, dict[str, list[str]]] = {}
    for tdir in i18n.translation_dirs():
        po, catalogue = _catalogue(tdir)
        for message in catalogue:
            if message.id and isinstance(message.id, str) and message.string:
                wordings.setdefault(message.id, {}).setdefault(message.string, []).append(tdir.parent.name)
    clashes = {k: v for k, v in wordings.items() if len(v) > 1}
    assert clashes == {}


def test_the_shared_catalogue_is_merged_last():
    assert i18n.translation_dirs()[-1] == i18n.WEBAPP / "translations"
