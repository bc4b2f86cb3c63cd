"""Marks messages for translation without translating them here (the web layer does that)."""


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message
