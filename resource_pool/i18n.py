"""The language the pool speaks to people: English, or Indonesian.

Messages are looked up in gettext catalogues under `resource_pool/locale`
(domain `resource_pool`). Code marks a message with `_()`; a message with no
translation falls back to its English text, so a missing entry never hides
a message.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

LOCALE_FOLDER = Path(__file__).parent / "locale"
DOMAIN = "resource_pool"
LANGUAGES = ("en", "id")
DEFAULT_LANGUAGE = "en"

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT_LANGUAGE


def language_from_environment(environ: dict[str, str] | None = None) -> str:
    """The language the locale variables ask for, in gettext's order; English otherwise."""
    environ = dict(os.environ) if environ is None else environ
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "")
        if not value:
            continue
        # LANGUAGE may list several, "id:en"; the first we speak wins.
        for entry in value.split(":"):
            code = entry.split("_")[0].split(".")[0].lower()
            if code in LANGUAGES:
                return code
        if variable != "LANGUAGE":
            return DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Speak `language` ("en" or "id") from now on."""
    global _translation, _language
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
    _language = language
    _translation = gettext.translation(
        DOMAIN, localedir=LOCALE_FOLDER, languages=[language], fallback=True
    )


def current_language() -> str:
    """The language chosen by `set_language`, "en" until then."""
    return _language


def _(message: str) -> str:
    """`message` in the current language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message for `count`, in the current language."""
    return _translation.ngettext(singular, plural, count)
