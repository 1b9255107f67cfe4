"""Keep the message catalogues in step with the code: extract, update, compile.

    .venv/bin/python scripts/translations.py            # all three steps
    .venv/bin/python scripts/translations.py compile    # only .po -> .mo, after editing a .po

Extracting reads every `_()`, `gettext()`, `ngettext()` and `N_()` in
resource_pool/ and harvesters/ into resource_pool/locale/resource_pool.pot;
updating merges the template into each language's .po (new messages arrive
with an empty msgstr, changed ones marked fuzzy); compiling writes the .mo the
pool reads at run time. tests/test_i18n.py fails while a message is missing
from the template, untranslated, fuzzy, or not yet compiled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "resource_pool" / "locale"
TEMPLATE = LOCALE / "resource_pool.pot"
DOMAIN = "resource_pool"
LANGUAGES = ("id",)
SOURCES = ("resource_pool", "harvesters")
KEYWORDS = ("_", "gettext", "ngettext:1,2", "N_")


def messages_in_code() -> set[str]:
    """Every message id the code marks, read the way `extract` reads it."""
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    method_map = [("**/migrations/**", "ignore"), ("**.py", "python")]
    found: set[str] = set()
    for folder in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, keywords=keywords
        ):
            found.update([message] if isinstance(message, str) else message[:1])
    return found


def pybabel(*arguments: str) -> None:
    """Run one `pybabel` command in this process, from the project root."""
    CommandLineInterface().run(["pybabel", "--quiet", *arguments])


def extract() -> None:
    keywords = [option for keyword in KEYWORDS for option in ("-k", keyword)]
    pybabel(
        "extract",
        "--no-default-keywords",
        *keywords,
        # File names without line numbers: moving code does not touch the catalogues.
        "--add-location=file",
        "--sort-output",
        "--add-comments=TRANSLATORS:",
        "--project=resource-pool",
        "--copyright-holder=resource-pool",
        "--ignore-dirs=migrations locale __pycache__",
        "--width=88",
        "-o",
        str(TEMPLATE.relative_to(ROOT)),
        *SOURCES,
    )


def update() -> None:
    for language in LANGUAGES:
        catalogue = LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        command = "update" if catalogue.exists() else "init"
        pybabel(
            command,
            "-D",
            DOMAIN,
            "-i",
            str(TEMPLATE.relative_to(ROOT)),
            "-d",
            str(LOCALE.relative_to(ROOT)),
            "-l",
            language,
            "--width=88",
            *(["--ignore-obsolete"] if command == "update" else []),
        )


def compile_catalogues() -> None:
    pybabel("compile", "-D", DOMAIN, "-d", str(LOCALE.relative_to(ROOT)), "--statistics")


def main(arguments: list[str]) -> int:
    steps = arguments or ["extract", "update", "compile"]
    actions = {"extract": extract, "update": update, "compile": compile_catalogues}
    unknown = [step for step in steps if step not in actions]
    if unknown:
        print(f"unknown step {unknown[0]!r}: choose from {', '.join(actions)}", file=sys.stderr)
        return 2
    # pybabel writes the paths it is given into the catalogues: keep them relative.
    os.chdir(ROOT)
    for step in steps:
        actions[step]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
