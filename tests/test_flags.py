"""The flag rule engine and the default rules of config/flags.toml."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pymarc
import pytest

from harvesters.errors import ConfigError
from resource_pool.catalogue import marc_to_json, record_from_json
from resource_pool.flags import (
    FlagContext,
    Holding,
    Member,
    RuleSet,
    evaluate,
    load_rules,
    rules_from_toml,
    view_from_json,
)

ROOT = Path(__file__).resolve().parent.parent
BOOK = "00000cam a2200000 a 4500"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    """The shipped default rules."""
    return load_rules(ROOT / "config" / "flags.toml")


def record(*lines: str, leader: str = BOOK) -> pymarc.Record:
    """A record from mnemonic lines such as '=245  10$aTitle' ('\\' is a blank indicator)."""
    made = pymarc.Record(leader=leader)
    for line in lines:
        tag, body = line[1:4], line[6:]
        if tag < "010":
            made.add_field(pymarc.Field(tag=tag, data=body))
            continue
        indicators = pymarc.Indicators(*(" " if c == "\\" else c for c in body[:2]))
        subfields = [pymarc.Subfield(p[0], p[1:]) for p in body[3:].split("$") if p]
        made.add_field(pymarc.Field(tag=tag, indicators=indicators, subfields=subfields))
    return made


def fixed(date_type: str = "s", date1: str = "2001", date2: str = "    ", form: str = " ") -> str:
    """An 008 for books with the given dates and 008/23 form of item."""
    return f"=008  010101{date_type}{date1}{date2}io {'':5}{form}     000 0 ind d"


def hits(rules: RuleSet, rec: pymarc.Record, kind: str = "marc", **extra: object) -> dict[str, str]:
    """Rule id to flag for every rule that holds on a one-record cluster."""
    context = FlagContext([Member(rec, kind, "TBL")], **extra)  # type: ignore[arg-type]
    return {hit.rule: hit.flag for hit in evaluate(rules, context)}


# ---------------------------------------------------------------- rare rules


def test_early_imprint_from_008(rules: RuleSet) -> None:
    """A book whose 008 Date1 is before 1850 is rare; one from 1850 is not."""
    assert "rare-early-imprint" in hits(rules, record(fixed(date1="1849")))
    assert "rare-early-imprint" not in hits(rules, record(fixed(date1="1850")))


def test_early_imprint_falls_back_to_260c(rules: RuleSet) -> None:
    """With no usable 008 date the year comes from 264/260 $c."""
    rec = record("=008  010101|||||||||io", "=260  \\\\$aLondon :$bMurray,$c[1823]")
    found = evaluate(rules, FlagContext([Member(rec, "marc", "TBL")]))
    early = next(h for h in found if h.rule == "rare-early-imprint")
    assert str(early.evidence[0]) == "260 $c = '[1823]'"
    assert "rare-early-imprint" not in hits(rules, record("=260  \\\\$c1999."))


def test_uncertain_year_counts_only_when_every_reading_qualifies(rules: RuleSet) -> None:
    """17uu is before 1850; 18uu is not known to be, and 0000 is not a year."""
    assert "rare-early-imprint" in hits(rules, record(fixed(date1="17uu")))
    assert "rare-early-imprint" not in hits(rules, record(fixed(date1="18uu")))
    assert "rare-early-imprint" not in hits(rules, record(fixed("c", "0000", "9999")))


def test_incunabulum(rules: RuleSet) -> None:
    """A print of 1472 is an incunabulum; one of 1501 is not."""
    assert "rare-incunabulum" in hits(rules, record(fixed(date1="1472")))
    assert "rare-incunabulum" not in hits(rules, record(fixed(date1="1501")))


def test_digitised_early_book_is_rare_but_print_reprint_is_not(rules: RuleSet) -> None:
    """A scan (008/06 r, online) of a 1752 book is rare; a 1977 print reprint of 1788 is not."""
    scan = record(fixed("r", "2015", "1752", form="o"))
    reprint = record(fixed("r", "1977", "1788"), "=250  \\\\$aFacsimile ed.")
    assert hits(rules, scan) == {"rare-digitised-early": "rare"}
    assert hits(rules, reprint) == {}


def test_reprint_dates_in_wrong_order_are_read_by_size(rules: RuleSet) -> None:
    """008 r18732010 is a 2010 reprint of 1873, not an 1873 book."""
    assert hits(rules, record(fixed("r", "1873", "2010"))) == {}


def test_manuscript(rules: RuleSet) -> None:
    """Leader/06 t is rare unless a 502 or 533 says thesis or reproduction."""
    manuscript = record(fixed(), leader="00000ntm a2200000 a 4500")
    thesis = record(fixed(), "=502  \\\\$aThesis (Ph. D.)", leader="00000ntm a2200000 a 4500")
    film = record(fixed(), "=533  \\\\$aMicrofilm.", leader="00000ntm a2200000 a 4500")
    assert "rare-manuscript" in hits(rules, manuscript)
    assert "rare-manuscript" not in hits(rules, thesis)
    assert "rare-manuscript" not in hits(rules, film)


def test_archival_control(rules: RuleSet) -> None:
    """Leader/08 a is rare; a blank Leader/08 is not."""
    assert "rare-archival-control" in hits(
        rules, record(fixed(), leader="00000npcaa2200000 a 4500")
    )
    assert "rare-archival-control" not in hits(rules, record(fixed()))


def test_cataloguing_code(rules: RuleSet) -> None:
    """040 $e dcrmb is rare; 040 $e rda is not."""
    assert "rare-cataloguing-code" in hits(rules, record(fixed(), "=040  \\\\$aXX$erda$edcrmb"))
    assert "rare-cataloguing-code" not in hits(rules, record(fixed(), "=040  \\\\$aXX$erda"))


def test_genre_terms(rules: RuleSet) -> None:
    """655 Rare books or Lontar is rare; a facsimile with the same genre is not."""
    assert "rare-genre" in hits(rules, record(fixed(), "=655  \\7$aRare books.$2rbgenr"))
    assert "rare-genre" in hits(rules, record("=655  \\7$aLontar$2local"))
    facsimile = record(fixed(), "=655  \\7$aManuscripts.", "=655  \\7$aFacsimiles.")
    assert "rare-genre" not in hits(rules, facsimile)


def test_early_works_subdivision(rules: RuleSet) -> None:
    """Early works to 1800 flags an undated record, not a 2005 reprint."""
    subject = "=650  \\0$aNavigation$vEarly works to 1800."
    assert "rare-early-works" in hits(rules, record(subject))
    assert "rare-early-works" not in hits(rules, record(fixed(date1="2005"), subject))


def test_indonesian_terms(rules: RuleSet) -> None:
    """Naskah kuno or aksara Pegon flag an undated record, not a 1998 catalogue of manuscripts."""
    assert "rare-indonesian-terms" in hits(rules, record("=653  \\\\$aNaskah kuno"))
    assert "rare-indonesian-terms" in hits(rules, record("=546  \\\\$aAksara Pegon."))
    catalogue = record(fixed(date1="1998"), "=245  10$aKatalog naskah kuno Nusantara.")
    assert "rare-indonesian-terms" not in hits(rules, catalogue)


def test_special_location(rules: RuleSet) -> None:
    """A holding in a partner's special location is rare; the code at another partner is not."""
    special = {"TBL": ["KL"]}
    at_home = [Holding("TBL", location="KL")]
    elsewhere = [Holding("USU", location="KL")]
    rec = record(fixed())
    assert "rare-special-location" in hits(rules, rec, holdings=at_home, special_locations=special)
    assert "rare-special-location" not in hits(
        rules, rec, holdings=elsewhere, special_locations=special
    )


# ---------------------------------------------------------------- online-course rules


def test_course_genre(rules: RuleSet) -> None:
    """655 Kursus daring is a course; 650 Massive open online courses on a book is not."""
    assert "course-genre" in hits(rules, record("=655  \\7$aKursus daring$2local"))
    book = record(fixed(), "=650  \\0$aMassive open online courses.")
    assert hits(rules, book) == {}


def test_course_subject(rules: RuleSet) -> None:
    """Subject Kuliah daring on a computer file is a course; on a printed book it is not."""
    subject = "=650  \\4$aKuliah daring"
    assert "course-subject" in hits(rules, record(subject, leader="00000nmm a2200000 i 4500"))
    assert "course-subject" not in hits(rules, record(subject))


def test_course_platform_link(rules: RuleSet) -> None:
    """An 856 40 to a Coursera subdomain is a course; 856 42 and e-book links are not."""
    course = record("=856  40$uhttps://www.coursera.org/learn/machine-learning")
    companion = record("=856  42$uhttps://www.edx.org/course/cs50")
    ebook = record(fixed(form="o"), "=856  40$uhttps://www.jstor.org/stable/1234")
    assert "course-platform-link" in hits(rules, course)
    assert hits(rules, companion) == {}
    assert hits(rules, ebook) == {}


def test_course_feed(rules: RuleSet) -> None:
    """A record from a course feed is a course; the same record from a MARC file is not."""
    rec = record("=245  00$aPengantar ilmu komputer.")
    assert "course-feed" in hits(rules, rec, kind="courses")
    assert "course-feed" not in hits(rules, rec, kind="marc")


# ---------------------------------------------------------------- the rule language


def test_conditions_nest_and_evidence_is_kept() -> None:
    """all/any/not nest, variables are substituted, and evidence names tag, subfield and value."""
    ruleset = rules_from_toml(
        """
        [variables]
        hosts = ["example.org"]
        [[rule]]
        id = "r1"
        flag = "demo"
        description = "nested"
        [rule.when]
        all = [
          { any = [{ host_in = "$hosts" }, { source = "oai" }] },
          { not = { control = "007", at = "00-01", in = ["cr"] } },
          { partners_at_least = 2 },
        ]
        """,
        "inline.toml",
    )
    rec = record("=856  40$uhttp://x.example.org/a")
    one = FlagContext([Member(rec, "marc", "A")], partners_holding=2)
    [hit] = evaluate(ruleset, one)
    assert hit.explain() == "demo (rule r1): 856 $u = 'http://x.example.org/a'; partners = '2'"
    assert evaluate(ruleset, FlagContext([Member(rec, "marc", "A")])) == []


def test_regex_on_control_fields_and_case() -> None:
    """A regex reaches control fields, and ignore_case = false makes it exact."""
    text = """
    [[rule]]
    id = "ctl"
    flag = "x"
    description = "regex on 001"
    when = { tag = "001", match = "^ABC", ignore_case = false }
    """
    ruleset = rules_from_toml(text, "t.toml")
    assert evaluate(ruleset, FlagContext([Member(record("=001  ABC1"), "marc", "A")]))
    assert not evaluate(ruleset, FlagContext([Member(record("=001  abc1"), "marc", "A")]))


def test_rule_conditions_never_mix_two_records(rules: RuleSet) -> None:
    """A manuscript and a thesis note in different members do not cancel each other."""
    manuscript = record(fixed(), leader="00000ntm a2200000 a 4500")
    thesis = record(fixed(), "=502  \\\\$aThesis")
    context = FlagContext([Member(thesis, "marc", "A"), Member(manuscript, "oai", "B")])
    assert "rare-manuscript" in {hit.rule for hit in evaluate(rules, context)}


RULE = 'id = "r"\nflag = "rare"\ndescription = "d"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"[[rule]]\n{RULE}when = {{ yaer_before = 1850 }}",
            "bad.toml: rule 'r', key 'when': a condition needs exactly one of all, any, not, "
            "year_before, year_after, leader, control, tag, host_in, holding, "
            "partners_at_least, partners_at_most, source; got {'yaer_before': 1850}",
        ),
        (
            f"[[rule]]\n{RULE}when = {{ year_before = '$rare_year' }}",
            "bad.toml: rule 'r', key 'year_before': unknown variable; [variables] has none; "
            "got '$rare_year'",
        ),
        (
            f"[[rule]]\n{RULE}when = {{ tag = '245', match = '(unclosed' }}",
            "bad.toml: rule 'r', key 'match': not a valid regular expression "
            "(missing ), unterminated subpattern at position 0); got '(unclosed'",
        ),
        (
            f"[[rule]]\n{RULE}when = {{ leader = 30, in = ['a'] }}",
            "bad.toml: rule 'r', key 'leader': must lie within 00-23; got 30",
        ),
        (
            f"[[rule]]\n{RULE}when = {{ leader = 6, in = ['t'], within = 2 }}",
            "bad.toml: rule 'r', key 'within': not an option of 'leader'; got 2",
        ),
        (
            f"[[rule]]\n{RULE}when = {{ year_before = 'soon' }}",
            "bad.toml: rule 'r', key 'year_before': must be a year such as 1850, "
            "or a $variable holding one; got 'soon'",
        ),
        (
            f"[[rule]]\n{RULE}when = {{ source = 'courses' }}\n[[rule]]\n{RULE}"
            "when = { source = 'oai' }",
            "bad.toml: rule 'r', key 'id': used twice; got 'r'",
        ),
        (
            '[[rule]]\nid = "Bad Id"\nflag = "rare"',
            "bad.toml: rule #1, key 'id': must be lower-case letters, digits, '-', '_' or '.'; "
            "got 'Bad Id'",
        ),
        (
            '[[rule]]\nid = "r"\nflag = "rare"\nwhen = { source = "oai" }',
            "bad.toml: rule 'r', key 'description': must say in words what the rule catches; "
            "got ''",
        ),
    ],
)
def test_bad_rule_file_names_file_rule_key_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    """A bad rule file is refused with the file, rule id, key and bad value in the message."""
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(caught.value) == message.replace("bad.toml", str(path))


def test_unreadable_or_invalid_toml_is_refused(tmp_path: Path) -> None:
    """A missing file or broken TOML names the file."""
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read the flag rules"):
        load_rules(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[rule]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_rules(broken)


def test_default_year_is_one_variable(tmp_path: Path) -> None:
    """Changing rare_before in [variables] moves the line for every rule that uses it."""
    text = (ROOT / "config" / "flags.toml").read_text(encoding="utf-8")
    moved = tmp_path / "flags.toml"
    moved.write_text(text.replace("rare_before = 1850", "rare_before = 1900"), encoding="utf-8")
    rec = record(fixed(date1="1880"))
    assert hits(load_rules(moved), rec) == {"rare-early-imprint": "rare"}


# ---------------------------------------------------------------- views of stored records

EVERY_TAG = """
[[rule]]
id = "any-date"
flag = "x"
description = "A four-digit number in any subfield of any data field: evidence shows which field."
when = { tag = "XXX", match = '\\d{4}' }

[[rule]]
id = "any-link"
flag = "x"
description = "A link in 856 or 956 whatever its indicators."

[rule.when]
host_in = ["org", "com", "edu", "gov", "de", "uk"]
tag = ["856", "956"]
ind2 = [" ", "0", "1", "2", "8"]

[[rule]]
id = "original-date"
flag = "x"
description = "An original date after 1500 with a physical description."
when = { all = [{ year_after = 1500, date = "original" }, { tag = "3XX", subfield = "a" }] }

[[rule]]
id = "control"
flag = "x"
description = "Any 007 or 006, or a language in 008/35-37."

[rule.when]
any = [
    { control = "007", at = 0, in = ["c", "h", "s", "v"] },
    { control = "006", at = 0, in = ["m"] },
    { control = "008", at = "35-37", in = ["eng", "ger", "ind"] },
]
"""


def stored_hits(rules: RuleSet, context: FlagContext) -> tuple[object, object, object]:
    """A cluster's hits three ways: pymarc records, records rebuilt from MARC-in-JSON, views."""
    stored = [(marc_to_json(m.record), m) for m in context.members]  # type: ignore[arg-type]
    rebuilt = [Member(record_from_json(text), m.source_kind, m.partner) for text, m in stored]
    viewed = [
        Member(view_from_json(text, rules.tags), m.source_kind, m.partner) for text, m in stored
    ]
    extra = {"holdings": context.holdings, "special_locations": context.special_locations}
    return (
        evaluate(rules, context),
        evaluate(rules, FlagContext(rebuilt, **extra)),  # type: ignore[arg-type]
        evaluate(rules, FlagContext(viewed, **extra)),  # type: ignore[arg-type]
    )


def test_stored_views_give_the_hits_of_pymarc_records_over_the_labelled_sets(
    rules: RuleSet, corpora: Path
) -> None:
    """Over every labelled record, views read from stored JSON give the same flags and evidence."""
    from benchmarks.flag_quality import all_cases

    broad = rules_from_toml(EVERY_TAG, "every-tag.toml")
    cases = all_cases(corpora)
    raised = Counter[str]()
    for case in cases:
        for ruleset in (rules, broad):
            harvested, rebuilt, viewed = stored_hits(ruleset, case.context)
            assert viewed == rebuilt == harvested, f"{case.label_file}:{case.record_id}"
            raised.update(hit.rule for hit in viewed)  # type: ignore[attr-defined]
    assert len(cases) > 1300
    assert raised["rare-digitised-early"] > 50 and raised["course-platform-link"] > 10
    assert raised["any-date"] > 1000 and raised["any-link"] > 50 and raised["control"] > 500


def test_stored_views_read_odd_json_as_pymarc_does() -> None:
    """Null indicators, a table on a control tag, text on a data tag and a short tag read alike."""
    broad = rules_from_toml(EVERY_TAG, "every-tag.toml")
    text = json.dumps(
        {
            "leader": "00000cam a2200000 a 4599",
            "fields": [
                {"8": "010101r20151752io            000 0 eng d"},
                {"007": {"ind1": " ", "subfields": [{"a": "cr"}]}},
                {"500": "1999 as text"},
                {"300": {"ind1": None, "ind2": None, "subfields": [{"a": "1 v."}, {"c": "1888"}]}},
                {"856": {"ind2": None, "subfields": [{"u": "https://x.example.org/1"}]}},
            ],
        }
    )
    reference = evaluate(broad, FlagContext([Member(record_from_json(text), "marc", "A")]))
    fast = evaluate(broad, FlagContext([Member(view_from_json(text, broad.tags), "marc", "A")]))
    assert fast == reference
    assert [hit.explain() for hit in fast] == [
        "x (rule any-date): 300 $c = '1888'",
        "x (rule any-link): 856 $u = 'https://x.example.org/1'",
        "x (rule original-date): 008/11-14 = '1752'; 300 $a = '1 v.'",
        "x (rule control): 008/35-37 = 'eng'",
    ]


def test_view_kept_for_other_rules_is_refused(rules: RuleSet) -> None:
    """A view holding only one rule set's tags is refused by rules reading other tags."""
    narrow = rules_from_toml(
        '[[rule]]\nid = "r"\nflag = "x"\ndescription = "d"\nwhen = { tag = "245" }', "n.toml"
    )
    view = view_from_json(marc_to_json(record("=245  10$aTitle", "=100  1\\$aName")), narrow.tags)
    assert evaluate(narrow, FlagContext([Member(view, "marc", "A")]))
    with pytest.raises(ValueError, match="keeps only some tags"):
        evaluate(rules, FlagContext([Member(view, "marc", "A")]))
