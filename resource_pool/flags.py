"""Flag rules: rare materials and online courses, each flag with the evidence that raised it.

Rules are data in flags.toml, so librarians change them without a programmer.
`load_rules` reads and checks a rule file once, compiling every regular
expression; `evaluate` then applies the rules to one cluster at a time, with
no database and no I/O, so recomputing the flags of a whole pool is a loop
over clusters.

A rule holds for a cluster when its conditions hold for one member record:
conditions on fields never mix two records. Conditions on holdings, on the
number of partners and on the source kind see the whole cluster.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymarc

from harvesters.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a condition saw: a tag, a subfield or position, the value, or a holding."""

    tag: str
    subfield: str = ""
    value: str = ""
    partner: str = ""

    def __str__(self) -> str:
        if self.tag == "holding":
            return f"holding at {self.partner}: {self.subfield} {self.value}"
        where = self.tag
        if len(self.subfield) == 1:
            where = f"{self.tag} ${self.subfield}"
        elif self.subfield:
            where = f"{self.tag}/{self.subfield}"
        prefix = f"{self.partner} " if self.partner else ""
        return f"{prefix}{where} = {self.value!r}"


@dataclass(frozen=True, slots=True)
class FlagHit:
    """One flag raised on a cluster: which rule raised it and why."""

    flag: str
    rule: str
    evidence: tuple[Evidence, ...]

    def explain(self) -> str:
        """One line for `pool catalog show`: flag, rule and evidence."""
        because = "; ".join(str(item) for item in self.evidence) or "no field evidence"
        return f"{self.flag} (rule {self.rule}): {because}"


@dataclass(frozen=True, slots=True)
class Member:
    """A member record of a cluster, with the kind of source and the partner it came from.

    The record is a pymarc Record, or a `RecordView` read straight from the
    stored MARC-in-JSON (see `view_from_json`): the rules give the same hits
    on both.
    """

    record: pymarc.Record | RecordView
    source_kind: str
    partner: str


@dataclass(frozen=True, slots=True)
class Holding:
    """A partner's copy as the flag rules see it: where it is shelved and in which collection."""

    partner: str
    location: str = ""
    collection: str = ""


@dataclass(slots=True)
class FlagContext:
    """Everything the rules may look at for one cluster.

    `partners_holding` defaults to the distinct partners among holdings and
    members. `special_locations` maps a partner code to its special-collection
    location and collection codes (the `special_locations` lists of partners.toml).
    """

    members: Sequence[Member]
    holdings: Sequence[Holding] = ()
    partners_holding: int | None = None
    special_locations: Mapping[str, Collection[str]] = field(default_factory=dict)

    def partner_count(self) -> int:
        """The number of partners holding the cluster."""
        if self.partners_holding is not None:
            return self.partners_holding
        partners = {holding.partner for holding in self.holdings}
        partners.update(member.partner for member in self.members)
        return len(partners)


# --------------------------------------------------------------------------- record views

YearRange = tuple[int, int]

_YEAR_IN_TEXT = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_YEAR_CODE = re.compile(r"[0-9][0-9u]{3}")

# 008/06 types whose Date2 is an end date, so Date1 can be no later than it (MARC 21 008/06).
_DATE2_ENDS = frozenset("cdikmq")


def _year_code(code: str) -> YearRange | None:
    """Read an 008 date ("1752", "17uu"); None for blanks, fill, "0000" and "9999"."""
    if not _YEAR_CODE.fullmatch(code) or code in ("0000", "9999"):
        return None
    return int(code.replace("u", "0")), int(code.replace("u", "9"))


DataField = tuple[Any, Any, Sequence[tuple[str, str]]]
"""A data field as the rules read it: first indicator, second indicator, (code, value) pairs."""


@dataclass(frozen=True, slots=True)
class RecordView:
    """A record as the rules read it, in plain values: no pymarc objects to build.

    `controls` maps a control field tag to the data of each occurrence and
    `fields` a data field tag to its occurrences, both in record order.
    `tags` are the tags kept when the view was made for one rule set
    (`RuleSet.tags`); None when it holds every field.
    """

    leader: str
    controls: dict[str, list[str]]
    fields: dict[str, list[DataField]]
    tags: frozenset[str] | None = None


def record_view(record: pymarc.Record) -> RecordView:
    """The view of a pymarc Record: its leader and fields, shared, not copied."""
    controls: dict[str, list[str]] = {}
    fields: dict[str, list[DataField]] = {}
    for item in record.fields:
        if item.is_control_field():
            controls.setdefault(item.tag, []).append(item.data or "")
        else:
            fields.setdefault(item.tag, []).append(
                (item.indicator1, item.indicator2, item.subfields)
            )
    return RecordView(str(record.leader), controls, fields)


_BLANK_INDICATORS = (" ", " ")


def view_from_json(text: str, tags: frozenset[str] | None = None) -> RecordView:
    """The view of a record stored as MARC-in-JSON, keeping only `tags` when given.

    It reads the JSON as `pymarc.Record` would hold it, so the rules see the
    same values: the leader with 10-11 "22" and 20-23 "4500", tags padded to
    three digits, a tag under 010 made of digits a control field (MARC 21),
    and absent indicators blank.
    """
    data = json.loads(text)
    leader = data.get("leader", " " * 24)
    leader = str(pymarc.Leader(leader[0:10] + "22" + leader[12:20] + "4500"))

    controls: dict[str, list[str]] = {}
    fields: dict[str, list[DataField]] = {}
    for entry in data.get("fields", []):
        for tag, value in entry.items():
            if len(tag) != 3 and tag.isdigit():
                tag = f"{int(tag):03}"
            if tags is not None and tag not in tags:
                continue
            if tag < "010" and tag.isdigit():
                controls.setdefault(tag, []).append(value if isinstance(value, str) else "")
            elif isinstance(value, str):
                fields.setdefault(tag, []).append((*_BLANK_INDICATORS, []))
            else:
                subfields = [pair for item in value.get("subfields", []) for pair in item.items()]
                occurrence = (value.get("ind1", " "), value.get("ind2", " "), subfields)
                fields.setdefault(tag, []).append(occurrence)
    return RecordView(leader, controls, fields, tags)


class _View:
    """A member record read once for one cluster: its fields and, when asked, its dates."""

    __slots__ = ("member", "leader", "controls", "fields", "_years")

    def __init__(self, member: Member, record: RecordView) -> None:
        self.member = member
        self.leader = record.leader
        self.controls = record.controls
        self.fields = record.fields
        self._years: dict[str, tuple[YearRange, Evidence] | None] = {}

    def year(self, which: str) -> tuple[YearRange, Evidence] | None:
        """The publication or original year range, with where it was read."""
        if which not in self._years:
            self._years[which] = self._read_year(which)
        return self._years[which]

    def _read_year(self, which: str) -> tuple[YearRange, Evidence] | None:
        fixed = self.controls.get("008", [""])[0].ljust(15)
        kind, date1, date2 = fixed[6], fixed[7:11], fixed[11:15]
        first, second = _year_code(date1), _year_code(date2)

        # 008/06 "r": Date1 is the reprint or reproduction, Date2 the original.
        # Some records swap them, so the later year is taken as the reprint.
        if kind == "r" and first and second:
            earlier, later = sorted([(first, "07-10", date1), (second, "11-14", date2)])
            chosen = later if which == "publication" else earlier
            return chosen[0], Evidence("008", chosen[1], chosen[2])
        if kind == "r" and which == "original":
            return None
        if first:
            return first, Evidence("008", "07-10", date1)

        # Date1 unknown: a closing Date2 still bounds when publication began.
        if second and kind in _DATE2_ENDS:
            return (0, second[1]), Evidence("008", "11-14", date2)
        return self._imprint_year()

    def _imprint_year(self) -> tuple[YearRange, Evidence] | None:
        """Fall back to 264 (publication, second indicator 1) then 260 $c (MARC 21 264, 260)."""
        published = self.fields.get("264", [])
        candidates = [("264", f) for f in published if f[1] == "1"]
        candidates += [("260", f) for f in self.fields.get("260", [])]
        candidates += [("264", f) for f in published]
        for tag, (_, _, subfields) in candidates:
            for code, value in subfields:
                found = _YEAR_IN_TEXT.search(value) if code == "c" else None
                if found:
                    year = int(found.group(1))
                    return (year, year), Evidence(tag, "c", value.strip())
        return None


@dataclass(frozen=True, slots=True)
class _Cluster:
    holdings: Sequence[Holding]
    partners: int
    special: Mapping[str, Collection[str]]


Found = tuple[Evidence, ...] | None
Test = Callable[[_View | None, _Cluster], Found]
"""A compiled condition: the evidence when it holds (maybe empty), None when it does not."""


# --------------------------------------------------------------------------- rule sets


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: the flag it raises, why it exists, and its compiled conditions."""

    id: str
    flag: str
    description: str
    test: Test = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one flags.toml, checked and compiled, with its variables."""

    rules: tuple[Rule, ...]
    variables: Mapping[str, Any]
    origin: str = ""
    tags: frozenset[str] | None = None
    """Every tag a rule reads; None when not known, so views keep every field."""

    @property
    def flags(self) -> list[str]:
        """The flag names the rules can raise, in first-seen order."""
        return list(dict.fromkeys(rule.flag for rule in self.rules))


def load_rules(path: Path) -> RuleSet:
    """Read and compile a rule file; ConfigError names the file, rule, key and value at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the flag rules: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML (TOML files are UTF-8): {error}") from error
    return rules_from_toml(text, str(path))


def rules_from_toml(text: str, origin: str) -> RuleSet:
    """Compile rules from TOML text; `origin` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{origin}: not valid TOML: {error}") from error

    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ConfigError(f"{origin}: [variables] must be a table; got {variables!r}")
    unknown = sorted(set(data) - {"variables", "rule"})
    if unknown:
        raise ConfigError(
            f"{origin}: unknown top-level key {unknown[0]!r}; expected variables, rule"
        )

    entries = data.get("rule", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{origin}: no rules; add [[rule]] tables")
    tags: set[str] = set()
    rules = tuple(
        _compile_rule(entry, number, _Place(origin, f"#{number}", variables, tags))
        for number, entry in enumerate(entries, 1)
    )
    _refuse_duplicates(rules, origin)
    return RuleSet(rules=rules, variables=variables, origin=origin, tags=frozenset(tags))


def _refuse_duplicates(rules: Sequence[Rule], origin: str) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(f"{origin}: rule {rule.id!r}, key 'id': used twice; got {rule.id!r}")
        seen.add(rule.id)


_RULE_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_RULE_KEYS = frozenset({"id", "flag", "description", "when"})


def _compile_rule(entry: Any, number: int, file: _Place) -> Rule:
    rule_id = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise ConfigError(
            f"{file.origin}: rule #{number}, key 'id': must be lower-case letters, digits, "
            f"'-', '_' or '.'; got {rule_id!r}"
        )
    place = _Place(file.origin, rule_id, file.variables, file.tags)

    extra = sorted(set(entry) - _RULE_KEYS)
    if extra:
        place.fail(extra[0], "unknown key; a rule has id, flag, description, when", entry[extra[0]])
    flag = entry.get("flag")
    if not isinstance(flag, str) or not _RULE_ID.fullmatch(flag):
        place.fail("flag", "must name the flag, such as 'rare' or 'online-course'", flag)
    description = entry.get("description", "")
    if not isinstance(description, str) or not description.strip():
        place.fail("description", "must say in words what the rule catches", description)
    if not isinstance(entry.get("when"), dict):
        place.fail("when", "must be a table of conditions", entry.get("when"))
    return Rule(rule_id, flag, description.strip(), _compile(entry["when"], place, "when"))


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a condition is in the file, so every error names file, rule and key."""

    origin: str
    rule: str
    variables: Mapping[str, Any]
    tags: set[str]
    """The tags the rules read so far: a view for the rule set keeps only these."""

    def fail(self, key: str, problem: str, value: Any) -> Any:
        raise ConfigError(
            f"{self.origin}: rule {self.rule!r}, key {key!r}: {problem}; got {value!r}"
        )

    def resolve(self, key: str, value: Any) -> Any:
        """Replace a "$name" reference with the variable's value."""
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.variables:
                self.fail(
                    key,
                    f"unknown variable; [variables] has {', '.join(self.variables) or 'none'}",
                    value,
                )
            return self.variables[name]
        return value


# --------------------------------------------------------------------------- conditions

_KINDS = (
    "all",
    "any",
    "not",
    "year_before",
    "year_after",
    "leader",
    "control",
    "tag",
    "host_in",
    "holding",
    "partners_at_least",
    "partners_at_most",
    "source",
)
_OPTIONS: dict[str, frozenset[str]] = {
    "all": frozenset(),
    "any": frozenset(),
    "not": frozenset(),
    "year_before": frozenset({"date"}),
    "year_after": frozenset({"date"}),
    "leader": frozenset({"in"}),
    "control": frozenset({"at", "in"}),
    "tag": frozenset({"subfield", "match", "terms", "ignore_case"}),
    "host_in": frozenset({"tag", "subfield", "ind2"}),
    "holding": frozenset({"partner", "part"}),
    "partners_at_least": frozenset(),
    "partners_at_most": frozenset(),
    "source": frozenset(),
}


def _compile(condition: Any, place: _Place, key: str) -> Test:
    if not isinstance(condition, dict):
        return place.fail(key, "a condition must be a table", condition)  # type: ignore[no-any-return]
    # `tag` is also an option of host_in, where it names the link fields.
    kinds = [
        name
        for name in _KINDS
        if name in condition and not (name == "tag" and "host_in" in condition)
    ]
    if len(kinds) != 1:
        place.fail(key, f"a condition needs exactly one of {', '.join(_KINDS)}", condition)
    kind = kinds[0]

    extra = sorted(set(condition) - {kind} - _OPTIONS[kind])
    if extra:
        place.fail(extra[0], f"not an option of {kind!r}", condition[extra[0]])
    return _COMPILERS[kind](condition, place)


def _compile_all(condition: dict[str, Any], place: _Place) -> Test:
    parts = _compile_list(condition, "all", place)

    def test(view: _View | None, cluster: _Cluster) -> Found:
        evidence: list[Evidence] = []
        for part in parts:
            found = part(view, cluster)
            if found is None:
                return None
            evidence.extend(found)
        return tuple(evidence)

    return test


def _compile_any(condition: dict[str, Any], place: _Place) -> Test:
    parts = _compile_list(condition, "any", place)

    def test(view: _View | None, cluster: _Cluster) -> Found:
        for part in parts:
            found = part(view, cluster)
            if found is not None:
                return found
        return None

    return test


def _compile_list(condition: dict[str, Any], key: str, place: _Place) -> list[Test]:
    items = condition[key]
    if not isinstance(items, list) or not items:
        place.fail(key, "must be a non-empty list of conditions", items)
    return [_compile(item, place, key) for item in items]


def _compile_not(condition: dict[str, Any], place: _Place) -> Test:
    inner = _compile(condition["not"], place, "not")

    # A negation proves an absence, so it adds no evidence of its own.
    def test(view: _View | None, cluster: _Cluster) -> Found:
        return () if inner(view, cluster) is None else None

    return test


def _compile_year(condition: dict[str, Any], place: _Place) -> Test:
    key = "year_before" if "year_before" in condition else "year_after"
    year = place.resolve(key, condition[key])
    if not isinstance(year, int) or isinstance(year, bool):
        place.fail(key, "must be a year such as 1850, or a $variable holding one", year)
    which = condition.get("date", "publication")
    if which not in ("publication", "original"):
        place.fail("date", "must be 'publication' or 'original'", which)
    place.tags.update(("008", "260", "264"))

    # An uncertain year ("17uu") counts only when every year it may stand for qualifies.
    def test(view: _View | None, cluster: _Cluster) -> Found:
        found = view.year(which) if view else None
        if found is None:
            return None
        (low, high), evidence = found
        holds = high < year if key == "year_before" else low > year
        return (evidence,) if holds else None

    return test


def _codes(value: Any, key: str, place: _Place) -> frozenset[str]:
    value = place.resolve(key, value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        place.fail(key, "must be a list of codes such as ['d', 'f', 't']", value)
    return frozenset(value)


def _positions(value: Any, key: str, place: _Place, width: int) -> tuple[int, int]:
    """A position (6, "06") or range ("00-01") as a slice, checked against the field width."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    match = re.fullmatch(r"(\d{1,2})(?:-(\d{1,2}))?", text)
    if not match:
        place.fail(key, "must be a position such as 6 or a range such as '00-01'", value)
    start = int(match.group(1))  # type: ignore[union-attr]
    end = int(match.group(2) or start)  # type: ignore[union-attr]
    if end < start or end >= width:
        place.fail(key, f"must lie within 00-{width - 1:02d}", value)
    return start, end + 1


def _compile_leader(condition: dict[str, Any], place: _Place) -> Test:
    start, end = _positions(condition["leader"], "leader", place, 24)
    codes = _codes(condition.get("in"), "in", place)
    label = f"{start:02d}" if end - start == 1 else f"{start:02d}-{end - 1:02d}"

    def test(view: _View | None, cluster: _Cluster) -> Found:
        value = view.leader[start:end] if view else ""
        return (Evidence("LDR", label, value),) if value in codes else None

    return test


_CONTROL_TAG = re.compile(r"00[1-9]")


def _compile_control(condition: dict[str, Any], place: _Place) -> Test:
    tag = condition["control"]
    if not isinstance(tag, str) or not _CONTROL_TAG.fullmatch(tag):
        place.fail("control", "must be a control field tag such as '006', '007' or '008'", tag)
    place.tags.add(tag)
    start, end = _positions(condition.get("at"), "at", place, 40)
    codes = _codes(condition.get("in"), "in", place)
    label = f"{start:02d}" if end - start == 1 else f"{start:02d}-{end - 1:02d}"

    def test(view: _View | None, cluster: _Cluster) -> Found:
        for data in view.controls.get(tag, []) if view else []:
            if data[start:end] in codes:
                return (Evidence(tag, label, data[start:end]),)
        return None

    return test


def _tags(value: Any, key: str, place: _Place) -> frozenset[str]:
    """Tags as given ("245", "6XX", a list of them), expanded to every tag they cover."""
    value = place.resolve(key, value)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        place.fail(key, "must be a tag such as '245' or '6XX', or a list of them", value)
    tags: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not re.fullmatch(r"[0-9X]{3}", item.upper()):
            place.fail(key, "must be a tag such as '245' or '6XX', or a list of them", item)
        pattern = re.compile(item.upper().replace("X", "[0-9]"))
        tags.update(f"{n:03d}" for n in range(1000) if pattern.fullmatch(f"{n:03d}"))
    place.tags.update(tags)
    return frozenset(tags)


def _pattern(condition: dict[str, Any], place: _Place) -> re.Pattern[str] | None:
    """The regex of a tag condition: `match` as written, or `terms` as whole words."""
    ignore_case = condition.get("ignore_case", True)
    if not isinstance(ignore_case, bool):
        place.fail("ignore_case", "must be true or false", ignore_case)
    flags = re.IGNORECASE if ignore_case else 0
    if "match" in condition and "terms" in condition:
        place.fail("terms", "give either match or terms, not both", condition["terms"])

    if "terms" in condition:
        terms = _codes(condition["terms"], "terms", place)
        words = sorted(
            (r"\s+".join(map(re.escape, t.split())) for t in terms), key=len, reverse=True
        )
        return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", flags)
    if "match" in condition:
        source = place.resolve("match", condition["match"])
        if not isinstance(source, str):
            place.fail("match", "must be a regular expression", source)
        try:
            return re.compile(source, flags)
        except re.error as error:
            place.fail("match", f"not a valid regular expression ({error})", source)
    return None


def _compile_tag(condition: dict[str, Any], place: _Place) -> Test:
    tags = _tags(condition["tag"], "tag", place)
    codes = condition.get("subfield", "")
    if not isinstance(codes, str) or not re.fullmatch(r"[a-z0-9]*", codes):
        place.fail("subfield", "must be subfield codes such as 'a' or 'avx'", codes)
    pattern = _pattern(condition, place)
    wanted = frozenset(codes)

    # Without a pattern the condition asks only whether the field is there.
    def test(view: _View | None, cluster: _Cluster) -> Found:
        if view is None:
            return None
        for tag in tags.intersection(view.fields):
            for data in view.fields[tag]:
                for code, value in data[2]:
                    if (not wanted or code in wanted) and (
                        pattern is None or pattern.search(value)
                    ):
                        return (Evidence(tag, code, value.strip()),)
        for tag in tags.intersection(view.controls):
            for value in view.controls[tag]:
                if pattern is None or pattern.search(value):
                    return (Evidence(tag, "", value),)
        return None

    return test


def _host(url: str) -> str:
    text = url.strip()
    if "//" not in text:
        text = "//" + text
    try:
        return (urlsplit(text).hostname or "").lower()
    except ValueError:
        return ""


def _compile_host(condition: dict[str, Any], place: _Place) -> Test:
    hosts = sorted(h.lower().strip(".") for h in _codes(condition["host_in"], "host_in", place))
    tags = _tags(condition.get("tag", "856"), "tag", place)
    code = condition.get("subfield", "u")
    second = _codes(condition.get("ind2", [" ", "0", "1", "2", "8"]), "ind2", place)

    # A link's host matches a listed host or any subdomain of it.
    def matches(host: str) -> bool:
        return any(host == h or host.endswith("." + h) for h in hosts)

    def test(view: _View | None, cluster: _Cluster) -> Found:
        for tag in tags.intersection(view.fields) if view else ():
            for _, indicator2, subfields in view.fields[tag]:  # type: ignore[union-attr]
                if (indicator2 or " ") not in second:
                    continue
                for found, url in subfields:
                    if found == code and matches(_host(url)):
                        return (Evidence(tag, code, url.strip()),)
        return None

    return test


def _compile_holding(condition: dict[str, Any], place: _Place) -> Test:
    wanted = condition["holding"]
    special = wanted == "special"
    codes = frozenset() if special else _codes(wanted, "holding", place)
    partner = condition.get("partner")
    if partner is not None and not isinstance(partner, str):
        place.fail("partner", "must be a partner code", partner)
    part = condition.get("part", "either")
    if part not in ("location", "collection", "either"):
        place.fail("part", "must be 'location', 'collection' or 'either'", part)

    def test(view: _View | None, cluster: _Cluster) -> Found:
        for holding in cluster.holdings:
            if partner and holding.partner != partner:
                continue
            allowed = cluster.special.get(holding.partner, ()) if special else codes
            for name in ("location", "collection"):
                value = getattr(holding, name)
                if value and part in (name, "either") and value in allowed:
                    return (Evidence("holding", name, value, holding.partner),)
        return None

    return test


def _compile_partners(condition: dict[str, Any], place: _Place) -> Test:
    key = "partners_at_least" if "partners_at_least" in condition else "partners_at_most"
    count = place.resolve(key, condition[key])
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        place.fail(key, "must be a whole number of partners", count)

    def test(view: _View | None, cluster: _Cluster) -> Found:
        holds = (
            cluster.partners >= count if key == "partners_at_least" else cluster.partners <= count
        )
        return (Evidence("partners", "", str(cluster.partners)),) if holds else None

    return test


def _compile_source(condition: dict[str, Any], place: _Place) -> Test:
    kinds = _codes(condition["source"], "source", place)

    def test(view: _View | None, cluster: _Cluster) -> Found:
        if view is None or view.member.source_kind not in kinds:
            return None
        return (Evidence("source", "", view.member.source_kind, view.member.partner),)

    return test


_COMPILERS: dict[str, Callable[[dict[str, Any], _Place], Test]] = {
    "all": _compile_all,
    "any": _compile_any,
    "not": _compile_not,
    "year_before": _compile_year,
    "year_after": _compile_year,
    "leader": _compile_leader,
    "control": _compile_control,
    "tag": _compile_tag,
    "host_in": _compile_host,
    "holding": _compile_holding,
    "partners_at_least": _compile_partners,
    "partners_at_most": _compile_partners,
    "source": _compile_source,
}


# --------------------------------------------------------------------------- evaluation


def evaluate(rules: RuleSet, context: FlagContext) -> list[FlagHit]:
    """Apply every rule to one cluster; one hit per rule that holds, in rule order."""
    views: list[_View | None] = [
        _View(member, _view_of(member.record, rules)) for member in context.members
    ] or [None]
    cluster = _Cluster(context.holdings, context.partner_count(), context.special_locations)

    hits: list[FlagHit] = []
    for rule in rules.rules:
        for view in views:
            found = rule.test(view, cluster)
            if found is not None:
                hits.append(FlagHit(rule.flag, rule.id, found))
                break
    return hits


def _view_of(record: pymarc.Record | RecordView, rules: RuleSet) -> RecordView:
    if not isinstance(record, RecordView):
        return record_view(record)
    # A view made for another rule set may lack fields these rules read.
    if record.tags is None or record.tags is rules.tags:
        return record
    if rules.tags is None or not rules.tags <= record.tags:
        raise ValueError(f"the record view keeps only some tags, not all of {rules.origin}'s")
    return record


def flags_of(hits: Sequence[FlagHit]) -> set[str]:
    """The distinct flag names among hits."""
    return {hit.flag for hit in hits}
