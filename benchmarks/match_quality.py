"""Pairwise precision and recall of `cluster` on labelled data.

Run from the project root:

    .venv/bin/python -m benchmarks.match_quality [--json PATH]

(also `make quality`). The scores go to var/match_quality.json unless
--json names another file.

The labelled sets come from the real records in the shared corpora
($POOL_CORPORA, else ../shared/corpora) and the choices written down in
benchmarks/labelled/. Each set is a list of pools; every pool is clustered
on its own, and a pair of records counts as matched when they end in one
cluster, as true when they describe the same edition.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import pymarc

from benchmarks.partner_copies import HARD_NEGATIVES, PARTNER_COPIES
from resource_pool.matching import cluster, match_profile

ROOT = Path(__file__).resolve().parent.parent
LABELLED = Path(__file__).resolve().parent / "labelled"
TARGET_PRECISION, TARGET_RECALL = 0.99, 0.95


@dataclass
class Pool:
    """Records to cluster together, each with the edition it truly describes."""

    records: list[pymarc.Record] = field(default_factory=list)
    editions: list[str] = field(default_factory=list)

    def add(self, record: pymarc.Record, edition: str) -> None:
        self.records.append(record)
        self.editions.append(edition)


@dataclass
class Score:
    """Pair counts for one labelled set."""

    name: str
    records: int = 0
    true_pairs: int = 0
    found_pairs: int = 0
    correct_pairs: int = 0

    @property
    def precision(self) -> float | None:
        return self.correct_pairs / self.found_pairs if self.found_pairs else None

    @property
    def recall(self) -> float | None:
        return self.correct_pairs / self.true_pairs if self.true_pairs else None


def corpora_dir() -> Path:
    """The shared corpora: $POOL_CORPORA, else ../shared/corpora."""
    return Path(os.environ.get("POOL_CORPORA", ROOT.parent / "shared" / "corpora"))


def score(name: str, pools: list[Pool]) -> Score:
    """Cluster every pool and count pairs found, pairs true and pairs both."""
    result = Score(name)
    for pool in pools:
        profiles = {index: match_profile(record) for index, record in enumerate(pool.records)}
        found = {member: index for index, found_cluster in enumerate(cluster(profiles))
                 for member in found_cluster.members}

        result.records += len(pool.records)
        for first, second in combinations(range(len(pool.records)), 2):
            same = pool.editions[first] == pool.editions[second]
            joined = found[first] == found[second]
            result.true_pairs += same
            result.found_pairs += joined
            result.correct_pairs += same and joined
    return result


# --------------------------------------------------------------------------
# The labelled sets


def goldrush_fixtures(corpora: Path) -> list[Pool]:
    """mod-reservoir's GoldRush fixtures: six editions, Blinky Bill in print and online."""
    folder = corpora / "github-folio-mod-reservoir"
    names = json.loads((folder / "assertions-goldrush2024.json").read_text())
    pool = Pool()
    for name in names:
        path = folder / Path(name).name
        if path.exists():
            pool.add(next(iter(pymarc.JSONReader(path.read_text()))), path.name)
    return [pool]


def melinda_pairs(corpora: Path) -> list[Pool]:
    """The melinda match-detection pairs that test what the pool matches on."""
    folder = corpora / "github-NatLibFi-melinda-record-matching" / "match-detection" / "index"
    chosen = json.loads((LABELLED / "melinda.json").read_text())["used"]
    pools = []
    for number, same in sorted(chosen.items()):
        first = _melinda_records(folder / number / "recordA.json")[0]
        for index, second in enumerate(_melinda_records(folder / number / "recordB.json")):
            pool = Pool()
            pool.add(first, "A")
            pool.add(second, "A" if same else f"B{index}")
            pools.append(pool)
    return pools


def culturegraph(corpora: Path) -> list[Pool]:
    """Culturegraph clusters: the member records present in full, with partner copies."""
    aggregate = corpora / "github-hbz-lobid-resources" / "cg" / "aggregate_20240507_example.marcxml"
    cluster_of = {}
    for record in pymarc.parse_xml_to_array(str(aggregate)):
        for member in record.get_fields("035"):
            cluster_of[(member.get("a") or "").split(")")[-1]] = record["001"].data

    pool = Pool()
    for path in sorted((corpora / "github-hbz-lobid-resources" / "alma-fix").glob("*.xml")):
        for record in pymarc.parse_xml_to_array(str(path)):
            edition = cluster_of.get(record["001"].data)
            if edition is not None:
                _add_with_copies(pool, record, edition, len(pool.records))
    return [pool]


def partner_copies(corpora: Path) -> list[Pool]:
    """Real records, partner copies of them, and hard negatives, one pool per corpus file."""
    plan = json.loads((LABELLED / "partner-copies.json").read_text())
    duplicates = json.loads((LABELLED / "corpus-duplicates.json").read_text())["files"]
    pools = []
    for name, every in plan["files"].items():
        records = list(_read_corpus(corpora / name))
        editions = _editions(name, len(records), duplicates.get(name, {}))
        pools.append(_pool_with_variants(records, editions, every, plan))
    return pools


def _pool_with_variants(
    records: list[pymarc.Record],
    editions: list[str],
    every: dict[str, int],
    plan: dict[str, list[str]],
) -> Pool:
    """Originals first, then copies and negatives of every n-th one.

    Positions count every record of the file, so the recipes each record
    gets do not shift when records the pool cannot read are left out.
    """
    kept = [(position, record) for position, record in enumerate(records) if is_marc21(record)]
    pool = Pool()
    for position, record in kept:
        pool.add(record, editions[position])

    for position, record in kept:
        if position % every["copy_every"] == 0:
            for recipe in _copy_recipes(position // every["copy_every"], plan["copies"]):
                pool.add(PARTNER_COPIES[recipe](record, len(pool.records)), editions[position])
        if position % every["negative_every"] == 0:
            negatives = plan["negatives"]
            recipe = negatives[(position // every["negative_every"]) % len(negatives)]
            for number, make in enumerate(HARD_NEGATIVES[recipe]):
                pool.add(make(record, len(pool.records)), f"{editions[position]}/{recipe}{number}")
    return pool


def _copy_recipes(turn: int, copies: list[str]) -> list[str]:
    """The turn's recipe and the one from the other end of the list, in that order."""
    return list(dict.fromkeys((copies[turn % len(copies)], copies[-1 - turn % len(copies)])))


def is_marc21(record: pymarc.Record) -> bool:
    """Whether a record is MARC 21, which the pool reads and the recipes vary.

    The Pride and Prejudice file holds 17 UNIMARC records (title in 200,
    ISBN in 010, where MARC 21 keeps an LCCN): a copy of one changes nothing
    a recipe knows, and a "volume" or an "e-book" of one is the record itself
    under another control number, so they are left out of the set.
    """
    return record.get("245") is not None or record.get("200") is None


def _add_with_copies(pool: Pool, record: pymarc.Record, edition: str, serial: int) -> None:
    pool.add(record, edition)
    for recipe in ("isbn-forms", "dublin-core"):
        pool.add(PARTNER_COPIES[recipe](record, serial + 1000), edition)


def _editions(name: str, count: int, reviewed: dict[str, list[list[int]]]) -> list[str]:
    """Each record's edition: its own, unless reviewed as the same as others."""
    editions = [f"{name}#{position}" for position in range(count)]
    for group in reviewed.get("same_edition", []):
        for position in group:
            editions[position] = f"{name}#{group[0]}"
    return editions


def _read_corpus(path: Path) -> Iterator[pymarc.Record]:
    if path.is_dir():
        for each in sorted(path.glob("*.xml")):
            yield from pymarc.parse_xml_to_array(str(each))
        return
    with warnings.catch_warnings(), path.open("rb") as handle:
        warnings.simplefilter("ignore")
        reader = pymarc.MARCReader(handle, to_unicode=True, utf8_handling="replace")
        yield from (record for record in reader if record is not None)


def _melinda_records(path: Path) -> list[pymarc.Record]:
    """Melinda's JSON ({"tag", "value"} or {"tag", "subfields"}) as pymarc records."""
    data = json.loads(path.read_text())
    return [_melinda_record(each) for each in (data if isinstance(data, list) else [data])]


def _melinda_record(data: dict[str, object]) -> pymarc.Record:
    record = pymarc.Record(leader=str(data.get("leader") or "00000nam a2200000 i 4500"))
    for entry in data["fields"]:  # type: ignore[attr-defined]
        if "subfields" not in entry:
            record.add_field(pymarc.Field(tag=entry["tag"], data=entry["value"]))
            continue
        subfields = [pymarc.Subfield(s["code"], s.get("value") or "") for s in entry["subfields"]]
        indicators = pymarc.Indicators(entry.get("ind1", " "), entry.get("ind2", " "))
        record.add_field(pymarc.Field(tag=entry["tag"], indicators=indicators, subfields=subfields))
    return record


# --------------------------------------------------------------------------
# Report


def measure(corpora: Path) -> list[Score]:
    """Score every labelled set and all of them together."""
    sets = {
        "Culturegraph clusters": culturegraph(corpora),
        "GoldRush fixtures": goldrush_fixtures(corpora),
        "melinda pairs": melinda_pairs(corpora),
        "partner copies and hard negatives": partner_copies(corpora),
    }
    scores = [score(name, pools) for name, pools in sets.items()]
    total = Score("all", *(sum(getattr(s, part) for s in scores) for part in
                           ("records", "true_pairs", "found_pairs", "correct_pairs")))
    return scores + [total]


def table(scores: list[Score]) -> str:
    """The scores as a Markdown table."""
    lines = ["| labelled set | records | true pairs | matched pairs | precision | recall |",
             "|---|---:|---:|---:|---:|---:|"]
    for each in scores:
        lines.append(f"| {each.name} | {each.records} | {each.true_pairs} | {each.found_pairs} "
                     f"| {_ratio(each.precision)} | {_ratio(each.recall)} |")
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    """Print the table, write the JSON, and fail when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "match_quality.json",
                        help="where to write the scores (default: var/match_quality.json)")
    options = parser.parse_args(argv)

    corpora = corpora_dir()
    if not corpora.is_dir():
        print(f"corpora not found at {corpora}; set POOL_CORPORA to their folder", file=sys.stderr)
        return 2

    scores = measure(corpora)
    print(table(scores))
    write_json(scores, options.json)

    missed = [each.name for each in scores if not meets_targets(each)]
    print(f"targets: precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL} on every set "
          f"with pairs: {'missed by ' + ', '.join(missed) if missed else 'met'}")
    return 1 if missed else 0


def meets_targets(each: Score) -> bool:
    """Both targets met, or nothing to measure (a set without true or found pairs)."""
    precision_met = each.precision is None or each.precision >= TARGET_PRECISION
    return precision_met and (each.recall is None or each.recall >= TARGET_RECALL)


def write_json(scores: list[Score], path: Path) -> None:
    """The scores as JSON, one object per labelled set."""
    rows = [{"set": s.name, "records": s.records, "true_pairs": s.true_pairs,
             "matched_pairs": s.found_pairs, "correct_pairs": s.correct_pairs,
             "precision": s.precision, "recall": s.recall} for s in scores]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
