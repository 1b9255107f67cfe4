"""Match keys, guards and clusters (resource_pool.matching)."""

from __future__ import annotations

import json
from pathlib import Path

import pymarc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resource_pool.matching import (
    MatchProfile,
    cluster,
    goldrush_key,
    match_profile,
    normalise_isbn,
    normalise_lccn,
)

GOLDRUSH_AGREEMENT = 6  # of the 6 assertions whose records are in the corpus


def book(
    title: str = "Sejarah kota Tanjungbalai",
    *,
    subtitle: str | None = None,
    isbn: str | None = None,
    year: str | None = "2019",
    edition: str | None = None,
    part: str | None = None,
    extent: str | None = "xii, 240 hlm. ;",
    online: bool = False,
    publisher: str = "Pustaka Asahan,",
    author: str | None = "Siregar, Ahmad,",
    extra: list[pymarc.Field] | None = None,
) -> pymarc.Record:
    """A partner's book record with only the fields a test names."""
    record = pymarc.Record(leader="00000nam a2200000 i 4500")
    if year:
        fixed = f"200101s{year}    io            000 0 ind d"
        record.add_field(pymarc.Field(tag="008", data=fixed))
    if isbn:
        record.add_field(_field("020", "a", isbn))
    if author:
        record.add_field(_field("100", "a", author))
    title_parts = ["a", title] + (["b", subtitle] if subtitle else [])
    record.add_field(_field("245", *title_parts, *(["n", part] if part else [])))
    if edition:
        record.add_field(_field("250", "a", edition))
    record.add_field(_field("264", "b", publisher, "c", year or "[s.a.]"))
    if online:
        record.add_field(_field("300", "a", "1 online resource"))
        record.add_field(_field("338", "a", "online resource", "b", "cr"))
    elif extent:
        record.add_field(_field("300", "a", extent, "c", "24 cm"))
    for field in extra or []:
        record.add_field(field)
    return record


def _field(tag: str, *pairs: str) -> pymarc.Field:
    subfields = [pymarc.Subfield(c, v) for c, v in zip(pairs[::2], pairs[1::2], strict=True)]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "), subfields=subfields)


def partition(profiles: dict[int, MatchProfile]) -> set[tuple[int, ...]]:
    return {result.members for result in cluster(profiles)}


# --------------------------------------------------------------------------
# Identifier keys


def test_isbn10_becomes_isbn13_with_a_recomputed_check_digit() -> None:
    """An ISBN-10 with hyphens and a qualifier normalises to its ISBN-13."""
    assert normalise_isbn("0-8052-4116-7 :") == "9780805241167"
    assert normalise_isbn("978-0-8052-4116-7") == "9780805241167"


def test_isbn_with_a_wrong_check_digit_is_dropped() -> None:
    """A mistyped ISBN (bad check digit) yields no key."""
    assert normalise_isbn("978-952-62-2477-1") is None
    assert normalise_isbn("0805241168") is None


def test_isbn_qualifiers_and_several_numbers_in_one_subfield() -> None:
    """Qualifiers are stripped and every ISBN in 020 $a becomes a key; $z is not read."""
    record = book(isbn="ISBN 978-602-0000-00-8 (jil. 1) ; 979-10-90636-07-1")
    record.add_field(_field("020", "z", "0805241167"))
    assert match_profile(record).isbns == {"9786020000008", "9791090636071"}


def test_lccn_is_normalised_as_the_library_of_congress_prescribes() -> None:
    """Blanks go, a revision after "/" goes, a hyphenated serial is zero-padded."""
    assert normalise_lccn("   70207870 ") == "70207870"
    assert normalise_lccn("n78-890351") == "n78890351"
    assert normalise_lccn("85-2 //r86") == "85000002"


def test_oclc_numbers_in_their_several_spellings() -> None:
    """(OCoLC) with ocm/ocn/on prefixes and leading zeros gives the bare number."""
    extra = [_field("035", "a", "(OCoLC)ocm00012345"), _field("035", "a", "ocn968309193"),
             _field("035", "a", "(OCoLC-M)272290"), _field("035", "a", "(OCoLC)on1234567890")]
    profile = match_profile(book(extra=extra))
    assert profile.oclc_numbers == {"12345", "968309193", "1234567890"}


def test_issn_is_validated() -> None:
    """A valid ISSN becomes a key in NNNN-NNNC form; an invalid one does not."""
    profile = match_profile(book(extra=[_field("022", "a", "0378-5955"),
                                        _field("022", "a", "0378-5956")]))
    assert profile.issns == {"0378-5955"}


def test_keys_are_what_the_database_indexes() -> None:
    """keys lists (kind, value) pairs for every identifier and the composite keys."""
    keys = match_profile(book(isbn="9786021234563", extra=[_field("010", "a", "n78-890351")])).keys
    assert {("isbn", "9786021234563"), ("lccn", "n78890351")} <= keys
    assert {kind for kind, _ in keys} == {"isbn", "lccn", "goldrush", "imprint"}


def test_ignored_isbns_leave_no_key() -> None:
    """An ISBN on the ignore list, in either form, is not used."""
    record = book(isbn="0805241167")
    assert not match_profile(record, ignore_isbns=frozenset({"9780805241167"})).isbns
    assert not match_profile(record, ignore_isbns=frozenset({"0805241167"})).isbns


# --------------------------------------------------------------------------
# GoldRush 2024


def test_goldrush_key_agrees_with_the_reservoir_assertions(corpora: Path) -> None:
    """Our composite key equals mod-reservoir's expected GoldRush 2024 key for its fixtures."""
    folder = corpora / "github-folio-mod-reservoir"
    expected = json.loads((folder / "assertions-goldrush2024.json").read_text())
    agreed = 0
    for name, key in expected.items():
        path = folder / Path(name).name
        if not path.exists():
            continue  # the two invalid-JSON fixtures are not in the corpus
        record = next(iter(pymarc.JSONReader(path.read_text())))
        assert goldrush_key(record) == key, name
        agreed += 1
    assert agreed == GOLDRUSH_AGREEMENT


def test_blinky_bill_in_print_and_online_stay_apart(corpora: Path) -> None:
    """The Gutenberg e-text and the NLA print record of one work are two clusters."""
    folder = corpora / "github-folio-mod-reservoir"
    records = [next(iter(pymarc.JSONReader((folder / f"blinky-nutsy-{name}.json").read_text())))
               for name in ("gutenberg", "nla")]
    profiles = {index: match_profile(record) for index, record in enumerate(records)}
    assert partition(profiles) == {(0,), (1,)}


# --------------------------------------------------------------------------
# Guards


def test_partner_copies_sharing_an_isbn_join() -> None:
    """ISBN-10 and ISBN-13 copies of one book join, with the reason in words."""
    profiles = {1: match_profile(book(isbn="0805241167")),
                2: match_profile(book(title="SEJARAH KOTA TANJUNGBALAI", isbn="978-0-8052-4116-7"))}
    [result] = cluster(profiles)
    assert result.members == (1, 2)
    assert result.describe(lambda i: f"TBL:{i}")[2] == "same ISBN 9780805241167 as TBL:1"


def test_different_years_never_join() -> None:
    """A reprint under the same ISBN in another year is another cluster."""
    profiles = {1: match_profile(book(isbn="0805241167", year="2019")),
                2: match_profile(book(isbn="0805241167", year="2022"))}
    assert partition(profiles) == {(1,), (2,)}


def test_missing_year_does_not_block() -> None:
    """A copy without any date joins the dated record it shares an ISBN with."""
    profiles = {1: match_profile(book(isbn="0805241167")),
                2: match_profile(book(isbn="0805241167", year=None))}
    assert partition(profiles) == {(1, 2)}


def test_different_editions_never_join() -> None:
    """Edisi kedua and the 3rd edition stay apart; "2nd ed." equals "Edisi kedua"."""
    profiles = {1: match_profile(book(isbn="0805241167", edition="Edisi kedua")),
                2: match_profile(book(isbn="0805241167", edition="2nd ed.")),
                3: match_profile(book(isbn="0805241167", edition="3rd ed."))}
    assert partition(profiles) == {(1, 2), (3,)}


def test_printings_are_not_editions() -> None:
    """"Cet. 3" (a printing) does not conflict with an unnumbered statement."""
    assert match_profile(book(edition="Cet. 3")).edition is None


def test_print_and_online_never_join() -> None:
    """The e-book sharing the print ISBN is its own cluster."""
    profiles = {1: match_profile(book(isbn="0805241167")),
                2: match_profile(book(isbn="0805241167", online=True))}
    assert partition(profiles) == {(1,), (2,)}


def test_different_volumes_never_join() -> None:
    """Volumes of a set sharing the set ISBN stay apart, and apart from the set."""
    profiles = {1: match_profile(book(isbn="0805241167", part="Jilid 1")),
                2: match_profile(book(isbn="0805241167", part="Vol. II")),
                3: match_profile(book(isbn="0805241167", part="v. 2")),
                4: match_profile(book(isbn="0805241167"))}
    assert partition(profiles) == {(1,), (2, 3), (4,)}


def test_isbn_shared_by_clearly_different_titles_is_unreliable() -> None:
    """A wrong ISBN does not tie two different books together."""
    profiles = {1: match_profile(book(isbn="0805241167")),
                2: match_profile(book(title="Cerita rakyat Asahan", isbn="0805241167"))}
    assert partition(profiles) == {(1,), (2,)}


def test_a_copy_without_its_subtitle_still_agrees() -> None:
    """A title cut short joins the full title through the ISBN."""
    profiles = {1: match_profile(book(subtitle="dari masa ke masa", isbn="0805241167")),
                2: match_profile(book(isbn="0805241167", publisher="Asahan"))}
    assert partition(profiles) == {(1, 2)}


def test_undated_record_between_two_years_stays_out() -> None:
    """A record of unknown year bridging 2019 and 2022 joins neither."""
    profiles = {1: match_profile(book(isbn="0805241167", year="2019")),
                2: match_profile(book(isbn="0805241167", year=None)),
                3: match_profile(book(isbn="0805241167", year="2022"))}
    assert partition(profiles) == {(1,), (2,), (3,)}


def test_undated_record_follows_its_only_dated_neighbour() -> None:
    """An undated copy joins the one year it is linked to, even across a conflict elsewhere."""
    extra = [_field("035", "a", "(OCoLC)12345")]
    profiles = {1: match_profile(book(isbn="0805241167", year="2019", extra=extra)),
                2: match_profile(book(year=None, extra=extra, publisher="X")),
                3: match_profile(book(isbn="0805241167", year="2022"))}
    assert partition(profiles) == {(1, 2), (3,)}


def test_thin_dublin_core_copy_joins_through_title_year_and_publisher() -> None:
    """A copy with no identifiers or extent joins through the imprint key."""
    thin = book(author=None, extent=None, subtitle=None)
    profiles = {1: match_profile(book(author="Siregar, Ahmad")), 2: match_profile(thin)}
    [result] = cluster(profiles)
    assert result.describe()[2] == "same title, publisher and year as 1"


def test_first_member_reason() -> None:
    """The lowest record id is the cluster's first record."""
    [result] = cluster({7: match_profile(book())})
    assert result.describe() == {7: "first record of this cluster"}


# --------------------------------------------------------------------------
# Order independence and change


def test_changing_one_record_splits_its_cluster() -> None:
    """When the bridging record's year is corrected, its cluster splits in two."""
    shared = [_field("035", "a", "(OCoLC)777")]
    profiles = {1: match_profile(book(isbn="0805241167", year="2019")),
                2: match_profile(book(isbn="0805241167", year="2019", extra=shared)),
                3: match_profile(book(title="Sejarah kota Tanjungbalai", year="2019", extra=shared,
                                      publisher="Lain"))}
    assert partition(profiles) == {(1, 2, 3)}

    profiles[2] = match_profile(book(isbn="0805241167", year="2021", extra=shared))
    assert partition(profiles) == {(1,), (2,), (3,)}


_ISBNS = ["0805241167", "9780804190114", "0192827609"]
_TITLES = ["Sejarah kota Tanjungbalai", "Cerita rakyat Asahan"]


@st.composite
def profiles_strategy(draw: st.DrawFn) -> MatchProfile:
    """A small profile drawn so that keys collide and guards conflict often."""
    record = book(
        title=draw(st.sampled_from(_TITLES)),
        isbn=draw(st.sampled_from([None, *_ISBNS])),
        year=draw(st.sampled_from([None, "2019", "2020"])),
        edition=draw(st.sampled_from([None, "Edisi 2", "Edisi 3"])),
        online=draw(st.booleans()),
        extra=[_field("035", "a", f"(OCoLC){draw(st.integers(1, 3))}")],
    )
    return match_profile(record)


@settings(max_examples=60, deadline=None)
@given(st.lists(profiles_strategy(), min_size=1, max_size=10), st.randoms())
def test_clusters_do_not_depend_on_input_order(pool: list[MatchProfile], rng: object) -> None:
    """Any permutation of the same profiles gives the same clusters and reasons."""
    profiles = dict(enumerate(pool))
    order = list(profiles)
    rng.shuffle(order)  # type: ignore[attr-defined]
    shuffled = {record_id: profiles[record_id] for record_id in order}
    assert cluster(shuffled) == cluster(profiles)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.none() | profiles_strategy()), max_size=25))
def test_updates_recomputed_locally_equal_recomputing_everything(
    changes: list[tuple[int, MatchProfile | None]],
) -> None:
    """Applying updates and deletes one by one, recomputing only the records
    connected to the change through shared keys, ends with the clusters of
    the final set computed from scratch."""
    profiles: dict[int, MatchProfile] = {}
    clusters: set[tuple[int, ...]] = set()
    for record_id, profile in changes:
        before = _key_connected(record_id, profiles)
        if profile is None:
            profiles.pop(record_id, None)
        else:
            profiles[record_id] = profile
        touched = before | _key_connected(record_id, profiles)

        clusters = {members for members in clusters if not set(members) & touched}
        subset = {i: profiles[i] for i in touched if i in profiles}
        clusters |= partition(subset)

    assert clusters == partition(profiles)


def _key_connected(start: int, profiles: dict[int, MatchProfile]) -> set[int]:
    """The records reachable from `start` through shared keys, as the database finds them."""
    if start not in profiles:
        return {start}
    reached, frontier = {start}, [start]
    while frontier:
        keys = profiles[frontier.pop()].keys
        for other, profile in profiles.items():
            if other not in reached and profile.keys & keys:
                reached.add(other)
                frontier.append(other)
    return reached


# --------------------------------------------------------------------------
# Real labelled data


def test_culturegraph_members_of_different_clusters_stay_apart(corpora: Path) -> None:
    """The two Culturegraph members present in full belong to two clusters and stay apart."""
    folder = corpora / "github-hbz-lobid-resources"
    aggregate = pymarc.parse_xml_to_array(str(folder / "cg" / "aggregate_20240507_example.marcxml"))
    cluster_of = {(f.get("a") or "").split(")")[-1]: r["001"].data
                  for r in aggregate for f in r.get_fields("035")}
    members = [record for path in sorted((folder / "alma-fix").glob("*.xml"))
               for record in pymarc.parse_xml_to_array(str(path))
               if record["001"].data in cluster_of]
    assert len({cluster_of[record["001"].data] for record in members}) == len(members) == 2
    profiles = {index: match_profile(record) for index, record in enumerate(members)}
    assert partition(profiles) == {(0,), (1,)}


@pytest.mark.parametrize("number, same", [("01", True), ("02", False), ("03", False),
                                          ("05", True), ("09", False), ("11", True),
                                          ("13", False)])
def test_melinda_pairs(corpora: Path, number: str, same: bool) -> None:
    """Melinda's expected verdict holds for the pairs that test identifiers, title and year."""
    from benchmarks.match_quality import _melinda_records

    folder = corpora / "github-NatLibFi-melinda-record-matching" / "match-detection" / "index"
    first = _melinda_records(folder / number / "recordA.json")[0]
    second = _melinda_records(folder / number / "recordB.json")[0]
    profiles = {1: match_profile(first), 2: match_profile(second)}
    assert (partition(profiles) == {(1, 2)}) is same
