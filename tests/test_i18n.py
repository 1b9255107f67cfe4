"""The pool speaks Indonesian or English: the choice, the catalogues, and the real CLI."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from resource_pool import i18n
from tests.runpool import ROOT, copy_database, database_for, pool

LOCALE = ROOT / "resource_pool" / "locale"
TEMPLATE = LOCALE / "resource_pool.pot"
INDONESIAN_PO = LOCALE / "id" / "LC_MESSAGES" / "resource_pool.po"
INDONESIAN_MO = LOCALE / "id" / "LC_MESSAGES" / "resource_pool.mo"

# No locale variable says anything: what a cron job or a bare container has.
NO_LOCALE = {"LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": ""}

# Words of the harvest's own English messages that must not survive in Indonesian.
ENGLISH_HARVEST_WORDS = (
    "Harvest summary",
    "added",
    "unchanged",
    "starting",
    "delivery complete",
    "records,",
    "end of delivery",
    "@ end",
    "upgrading database schema",
)


def read_catalogue(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def translations_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts/translations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def placeholders(text: str) -> list[str]:
    """The {name} fields and %-conversions of a message, in order (%% is no placeholder)."""
    return re.findall(r"\{[^{}]*\}|%(?:\([a-z_]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]", text)


@pytest.fixture
def indonesian() -> Iterator[None]:
    """Speak Indonesian in this process for one test, then English again."""
    i18n.set_language("id")
    yield
    i18n.set_language("en")


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    """A fresh copy of the demo configuration, its pool beside it."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    pool_toml = folder / "pool.toml"
    pool_toml.write_text(pool_toml.read_text().replace('"../var/pool.sqlite"', '"pool.sqlite"'))
    return folder


# ---------------------------------------------------------------- choosing


def test_locale_variables_choose_in_gettext_order() -> None:
    """LANGUAGE wins over LC_ALL, LC_MESSAGES and LANG; C, unset or unknown mean English."""
    choose = i18n.language_from_environment
    assert choose({"LANG": "id_ID.UTF-8"}) == "id"
    assert choose({"LC_ALL": "id_ID.utf8", "LANG": "en_US.UTF-8"}) == "id"
    assert choose({"LANGUAGE": "fr:id:en", "LANG": "en_US.UTF-8"}) == "id"
    assert choose({"LANGUAGE": "en", "LANG": "id_ID.UTF-8"}) == "en"
    assert choose({"LC_MESSAGES": "C", "LANG": "id_ID.UTF-8"}) == "en"
    assert choose({"LANG": "C"}) == "en"
    assert choose({"LANG": "fr_FR.UTF-8"}) == "en"
    assert choose({}) == "en"


def test_lang_option_is_read_before_the_command_line_loads() -> None:
    """`--lang id` and `--lang=id` are found in argv; an argument after `--` is not an option."""
    find = i18n.language_from_arguments
    assert find(["--config", "c", "--lang", "id", "harvest", "--all"]) == "id"
    assert find(["--lang=en", "status"]) == "en"
    assert find(["harvest", "--all"]) is None
    assert find(["request", "note", "7", "--", "--lang", "id"]) is None


def test_unknown_language_is_refused_by_set_language() -> None:
    """set_language names the value it cannot speak."""
    with pytest.raises(ValueError, match="'xx'"):
        i18n.set_language("xx")


def test_progress_text_follows_the_language(indonesian: None) -> None:
    """The terminal's progress line of a harvest is Indonesian once Indonesian is chosen."""
    from resource_pool.cli import _progress_text
    from resource_pool.harvest import RunSummary

    summary = RunSummary(source="tbl-books", pages=3, added=250, rejected=2)
    text = _progress_text(summary, 250, 2.0)
    assert text == "halaman 3, cantuman 250, 125 cantuman/detik; +250 ~0 -0, ditolak 2"


# ---------------------------------------------------------------- the real CLI


@pytest.mark.database
def test_demo_harvest_speaks_indonesian_end_to_end(demo_config: Path) -> None:
    """`pool --lang id -v harvest --all` on the demo: the table, its words and the log lines."""
    # An empty database, so the schema upgrade and its log line happen on every backend.
    url = database_for(demo_config, empty=True)
    result = pool("--lang", "id", "-v", "harvest", "--all", config=demo_config, db=url)
    assert result.returncode == 0, result.stderr

    for expected in ("Ringkasan panen", "sumber", "ditambah", "diperbarui", "berhasil"):
        assert expected in result.stdout, expected
    for expected in ("memperbarui skema basis data", "dimulai", "kiriman lengkap", "akhir kiriman"):
        assert expected in result.stderr, expected
    assert "ditambah, 0 diperbarui" in result.stderr
    for english in ENGLISH_HARVEST_WORDS:
        assert english not in result.stdout + result.stderr, english


@pytest.mark.database
def test_failed_source_and_bad_name_are_told_in_indonesian(demo_config: Path) -> None:
    """A source whose files are gone, and an unknown source name, fail in Indonesian words."""
    url = database_for(demo_config)
    shutil.rmtree(demo_config / "demo" / "tbl")

    failed = pool("--lang", "id", "harvest", "tbl-books", config=demo_config, db=url)
    assert failed.returncode == 1
    assert "gagal" in failed.stdout
    assert "sumber tbl-books: tidak ada berkas yang cocok dengan path 'demo/tbl/*.mrc'" in (
        failed.stderr
    )

    unknown = pool("--lang", "id", "harvest", "no-such-source", config=demo_config, db=url)
    assert unknown.returncode == 2
    assert "galat:" in unknown.stderr
    assert "tidak ada sumber bernama 'no-such-source' di partners.toml" in unknown.stderr


@pytest.mark.database
def test_request_refusals_are_told_in_indonesian(
    demo_config: Path, demo_pool: str, tmp_path: Path
) -> None:
    """Loan staff read why a step is refused in their language: a cluster that does not
    exist, a request that does not exist, and a rare item nobody lends as a loan."""
    url = copy_database(demo_pool, tmp_path)
    rare = pool(
        "--json", "catalog", "search", "hikayat", "--flag", "rare", config=demo_config, db=url
    )
    assert rare.returncode == 0, rare.stderr
    cluster = json.loads(rare.stdout)[0]["id"]

    def refusal(*arguments: str) -> str:
        result = pool("--lang", "id", "request", *arguments, config=demo_config, db=url)
        assert result.returncode == 2, result.stdout + result.stderr
        return " ".join(result.stderr.split())

    assert "tidak ada klaster 999999 di katalog" in refusal(
        "new", "--as", "SMA1", "--item", "999999"
    )
    assert "tidak ada permintaan 77 di pool" in refusal("ship", "77", "--as", "TBL")
    rare_loan = refusal("new", "--as", "SMA1", "--item", str(cluster))
    assert "ditandai langka" in rare_loan and "hanya sebagai salinan" in rare_loan
    assert f"pool request new --as SMA1 --item {cluster} --service copy" in rare_loan
    assert "flagged rare" not in rare_loan and "copies only" not in rare_loan


def test_indonesian_locale_gives_indonesian_help() -> None:
    """`LANG=id_ID.UTF-8 pool --help` lists the commands in Indonesian, Typer's panels too."""
    result = pool("--help", env={**NO_LOCALE, "LANG": "id_ID.UTF-8"})
    assert result.returncode == 0, result.stderr
    for expected in ("Katalog induk bersama", "Perintah", "Opsi", "Contoh:", "Panen sumber"):
        assert expected in result.stdout, expected
    assert "Harvest sources" not in result.stdout


@pytest.mark.parametrize("locale", ["C", "", "C.UTF-8", "en_GB.UTF-8"])
def test_english_without_an_indonesian_locale(locale: str) -> None:
    """With LANG=C, no locale at all, or an English one, the help is English."""
    result = pool("--help", env={**NO_LOCALE, "LANG": locale})
    assert result.returncode == 0, result.stderr
    assert "Harvest sources into the catalogue" in result.stdout
    assert "Commands" in result.stdout
    assert "Panen sumber" not in result.stdout


def test_lang_option_wins_over_the_locale() -> None:
    """`--lang en` under an Indonesian locale, and `--lang id` under LANG=C, do as asked."""
    english = pool("--lang", "en", "--help", env={**NO_LOCALE, "LANG": "id_ID.UTF-8"})
    assert "Harvest sources into the catalogue" in english.stdout
    indonesian = pool("--lang", "id", "--help", env={**NO_LOCALE, "LANG": "C"})
    assert "Panen sumber ke dalam katalog" in indonesian.stdout


def test_unknown_lang_is_refused_naming_it() -> None:
    """`pool --lang xx` exits 2 with an error naming 'xx' and the languages there are."""
    for arguments in (["--lang", "xx", "status"], ["--lang", "xx", "--help"]):
        result = pool(*arguments, env=NO_LOCALE)
        assert result.returncode == 2, arguments
        assert "'xx' is not a language the pool speaks; choose one of en, id" in result.stderr


@pytest.mark.database
def test_json_output_is_the_same_in_both_languages(tmp_path: Path) -> None:
    """--json keeps English keys and values: two harvests and their stats differ only in time."""
    outputs: dict[str, list[Any]] = {}
    for language in ("en", "id"):
        folder = tmp_path / language
        shutil.copytree(ROOT / "config", folder)
        url = database_for(folder)
        runs = []
        for command in (["harvest", "--all"], ["catalog", "stats"], ["partners", "list"]):
            result = pool("--lang", language, "--json", *command, config=folder, db=url)
            assert result.returncode == 0, result.stderr
            runs.append(json.loads(result.stdout))
        for summary in runs[0]:
            summary.pop("seconds")
        outputs[language] = runs
    assert outputs["id"] == outputs["en"]
    assert outputs["id"][0][0]["status"] == "ok"


def test_cli_reference_is_english_under_an_indonesian_locale() -> None:
    """scripts/cli_reference.py writes the English help whatever the locale says."""
    check = subprocess.run(
        [sys.executable, "scripts/cli_reference.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **NO_LOCALE, "LANG": "id_ID.UTF-8"},
    )
    assert check.returncode == 0, check.stdout + check.stderr


# ---------------------------------------------------------------- the catalogues


def test_template_holds_every_message_in_the_code() -> None:
    """A message marked in the code but missing from the .pot fails: run scripts/translations.py."""
    in_code = translations_script().messages_in_code()
    in_template = {message.id for message in read_catalogue(TEMPLATE) if message.id}
    singular = {m if isinstance(m, str) else m[0] for m in in_template}
    missing = sorted(in_code - singular)
    assert not missing, f"not in {TEMPLATE.name}; run scripts/translations.py: {missing[:5]}"


def test_no_message_is_marked_inside_an_f_string() -> None:
    """`_()` inside an f-string is invisible to the extractor (Python 3.11 reads the
    f-string as one token), so such a message would stay English in every language."""
    hidden = []
    for folder in ("resource_pool", "harvesters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            with path.open("rb") as handle:
                for token in tokenize.tokenize(handle.readline):
                    prefix = re.match(r"[A-Za-z]*", token.string)
                    if (
                        token.type == tokenize.STRING
                        and prefix is not None
                        and "f" in prefix.group().lower()
                        and re.search(r"\b(?:_|gettext|ngettext)\(\s*['\"]", token.string)
                    ):
                        hidden.append(f"{path.relative_to(ROOT)}:{token.start[0]}")
    assert not hidden, hidden


def test_every_indonesian_entry_is_translated() -> None:
    """Each message of the template has an Indonesian msgstr, none empty and none fuzzy."""
    template = {message.id for message in read_catalogue(TEMPLATE) if message.id}
    catalogue = read_catalogue(INDONESIAN_PO)
    entries = {message.id: message for message in catalogue if message.id}
    assert template <= set(entries), sorted(map(str, template - set(entries)))[:5]
    untranslated = [
        str(message.id)
        for message in entries.values()
        if message.fuzzy
        or not message.string
        or (isinstance(message.string, tuple) and not all(message.string))
    ]
    assert not untranslated, f"untranslated or fuzzy in id: {untranslated[:5]}"


def test_placeholders_match_between_english_and_indonesian() -> None:
    """{name} fields and %-conversions survive translation: same set, %-conversions in order."""
    wrong = []
    for message in read_catalogue(INDONESIAN_PO):
        if not message.id or not isinstance(message.id, str):
            continue
        assert isinstance(message.string, str)
        source, target = placeholders(message.id), placeholders(message.string)
        named_match = sorted(p for p in source if p.startswith("{")) == sorted(
            p for p in target if p.startswith("{")
        )
        ordered_match = [p for p in source if p.startswith("%")] == [
            p for p in target if p.startswith("%")
        ]
        if not (named_match and ordered_match):
            wrong.append(message.id)
    assert not wrong, f"placeholders differ: {wrong[:5]}"


def test_rich_markup_survives_translation() -> None:
    """A [style]...[/] pair in an English message is in its translation too."""
    markup = re.compile(r"\[(?:/|/?(?:red|yellow|green|blue|bold|dim))\]")
    wrong = [
        message.id
        for message in read_catalogue(INDONESIAN_PO)
        if isinstance(message.id, str)
        and isinstance(message.string, str)
        and markup.findall(message.id) != markup.findall(message.string)
    ]
    assert not wrong, wrong[:5]


def test_compiled_catalogue_is_current() -> None:
    """The committed .mo is what compiling the .po gives today."""
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(INDONESIAN_PO), use_fuzzy=False)
    assert INDONESIAN_MO.read_bytes() == compiled.getvalue(), (
        "resource_pool.mo is stale: run .venv/bin/python scripts/translations.py compile"
    )


def test_catalogue_ships_with_the_package() -> None:
    """pyproject's package data carries the .mo, so a plain pip install speaks Indonesian."""
    text = (ROOT / "pyproject.toml").read_text()
    assert '"locale/*/LC_MESSAGES/*.mo"' in text


def english_sentences() -> dict[str, str]:
    """The English text between placeholders of each translated message, by that text.

    Only runs of two words or more count, and only those the Indonesian catalogue
    does not itself contain (a command name, an ISO 18626 code), so finding one
    in the output means a sentence reached the user untranslated.
    """
    catalogue = [m for m in read_catalogue(INDONESIAN_PO) if isinstance(m.id, str) and m.id]
    indonesian = "\n".join(str(message.string) for message in catalogue)
    sentences: dict[str, str] = {}
    for message in catalogue:
        assert isinstance(message.id, str)
        for piece in re.split(r"\{[^{}]*\}|%(?:\([a-z_]+\))?[sdifr]|\[/?[a-z ]*\]|\n", message.id):
            piece = piece.strip(" :;,.()'\"")
            if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", piece) and piece not in indonesian:
                sentences[piece] = message.id
    return sentences


def english_left_in(text: str, sentences: dict[str, str]) -> list[str]:
    return sorted(piece for piece in sentences if piece in text)


@pytest.mark.database
def test_harvest_has_no_english_sentence_by_option_or_locale(demo_config: Path) -> None:
    """`pool --lang id -v harvest --all` and the same under LANG=id_ID.UTF-8 print no
    English sentence of the catalogue, on stdout or stderr; `--lang en` under that
    locale speaks English again."""
    url = database_for(demo_config)
    sentences = english_sentences()
    assert "Harvest summary" in sentences

    by_option = pool(
        "--lang", "id", "-v", "harvest", "--all", config=demo_config, db=url, env=NO_LOCALE
    )
    by_locale = pool(
        "-v",
        "harvest",
        "--all",
        config=demo_config,
        db=url,
        env={**NO_LOCALE, "LANG": "id_ID.UTF-8"},
    )
    english = pool(
        "--lang",
        "en",
        "-v",
        "harvest",
        "--all",
        config=demo_config,
        db=url,
        env={**NO_LOCALE, "LANG": "id_ID.UTF-8"},
    )

    for result in (by_option, by_locale):
        assert result.returncode == 0, result.stderr
        assert "Ringkasan panen" in result.stdout
        assert " dimulai" in result.stderr
        assert english_left_in(result.stdout + result.stderr, sentences) == []
    assert english.returncode == 0, english.stderr
    assert "Harvest summary" in english.stdout and "Ringkasan panen" not in english.stdout
    assert english_left_in(english.stdout + english.stderr, sentences)
