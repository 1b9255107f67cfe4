"""The language the pool speaks to people: English, or Indonesian.

Messages are looked up in gettext catalogues under `resource_pool/locale`
(domain `resource_pool`). Code marks a message with `_()`; a message with no
translation falls back to its English text, so a missing entry never hides
a message. Machine-readable output (--json, the keys of JSON log lines) stays
English whatever the language.

The language has to be chosen before `resource_pool.cli` is imported: Typer
reads every help text when the command modules load. `main()` below is the
console script; it picks the language from `--lang` or the locale variables,
then imports the command line.

`harvesters` may not import `resource_pool`, so it marks its messages with
the standard library's `gettext.gettext`, as Click and Typer do;
`set_language` makes this domain the process's domain, so those messages come
from the same catalogue.
"""

from __future__ import annotations

import gettext
import os
import sys
from collections.abc import Sequence
from pathlib import Path

LOCALE_FOLDER = Path(__file__).parent / "locale"
DOMAIN = "resource_pool"
LANGUAGES = ("en", "id")
DEFAULT_LANGUAGE = "en"
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT_LANGUAGE


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it here (gettext's N_)."""
    return message


# Typer prints these with the standard library's gettext; listed here so the
# catalogue carries them (typer/rich_utils.py, fixed strings).
FRAMEWORK_MESSAGES = (
    N_("Arguments"),
    N_("Options"),
    N_("Commands"),
    N_("Error"),
    N_("Aborted."),
    N_("[default: {}]"),
    N_("[required]"),
    N_("[env var: {}]"),
    N_("(deprecated) "),
    N_("Try [blue]'{command_path} {help_option}'[/] for help."),
)


def language_from_environment(environ: dict[str, str] | None = None) -> str:
    """The language the locale variables ask for, in gettext's order; English otherwise."""
    environ = dict(os.environ) if environ is None else environ
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if not value:
            continue
        # LANGUAGE may list several, "id:en"; the first we speak wins.
        for entry in value.split(":"):
            code = entry.split("_")[0].split(".")[0].split("@")[0].lower()
            if code in LANGUAGES:
                return code
        if variable != "LANGUAGE":
            return DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def language_from_arguments(arguments: Sequence[str]) -> str | None:
    """The value of `--lang` among the command-line arguments, if one is given."""
    for position, argument in enumerate(arguments):
        if argument == "--":
            break
        if argument.startswith("--lang="):
            return argument.removeprefix("--lang=")
        if argument == "--lang" and position + 1 < len(arguments):
            return arguments[position + 1]
    return None


def set_language(language: str) -> None:
    """Speak `language` ("en" or "id") from now on."""
    global _translation, _language
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
    _language = language
    _translation = gettext.translation(
        DOMAIN, localedir=LOCALE_FOLDER, languages=[language], fallback=True
    )
    # The standard library's gettext (harvesters, Typer) takes its language
    # from LANGUAGE and its catalogue from the process's domain.
    os.environ["LANGUAGE"] = language
    gettext.bindtextdomain(DOMAIN, LOCALE_FOLDER)
    gettext.textdomain(DOMAIN)


def current_language() -> str:
    """The language chosen by `set_language`, "en" until then."""
    return _language


def _(message: str) -> str:
    """`message` in the current language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message for `count`, in the current language."""
    return _translation.ngettext(singular, plural, count)


def main() -> None:
    """The `pool` console script: choose the language, then load and run the command line.

    An unknown `--lang` value is left to the command line's own option, which
    refuses it with a message naming the value.
    """
    asked = language_from_arguments(sys.argv[1:])
    if asked is not None and asked in LANGUAGES:
        set_language(asked)
    else:
        set_language(language_from_environment())

    from resource_pool.cli import main as run_command_line

    run_command_line()
