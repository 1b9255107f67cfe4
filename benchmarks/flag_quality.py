"""Precision and recall of the flag rules over labelled records.

Run from the project root:

    .venv/bin/python -m benchmarks.flag_quality [--rules FLAGS_TOML] [--out JSON_PATH]

The labels live in benchmarks/labelled_flags/: one TOML file per corpus set
naming its files (read at run time from $POOL_CORPORA, else ../shared/corpora)
and the 001 of every record that should carry each flag; written.json holds
records written for the evaluation (hard negatives and positives the corpora
lack); feeds.toml names course feeds read through the course harvester. Each
record is evaluated as a cluster of its own. Exit status 1 when a flag falls
below the targets.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymarc

from harvesters.courses import KIND as COURSES
from harvesters.courses import CourseHarvester
from harvesters.marc import MarcFileHarvester
from resource_pool.flags import FlagContext, Holding, Member, RuleSet, evaluate, load_rules

ROOT = Path(__file__).resolve().parent.parent
LABELS = Path(__file__).resolve().parent / "labelled_flags"
TARGET = 0.95


@dataclass
class Case:
    """One labelled record: where it came from, what it should carry, and the context."""

    label_file: str
    record_id: str
    expected: set[str]
    context: FlagContext
    note: str = ""


@dataclass
class Score:
    """Counts for one flag, and the records it got wrong."""

    positives: int = 0
    true_positives: int = 0
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        raised = self.true_positives + len(self.false_positives)
        return self.true_positives / raised if raised else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.positives if self.positives else 1.0


def corpora_dir() -> Path:
    return Path(os.environ.get("POOL_CORPORA", ROOT.parent / "shared" / "corpora"))


# ------------------------------------------------------------------ reading labelled records


def read_marc(path: Path) -> list[pymarc.Record]:
    """Every record of an ISO 2709 or MARCXML file as the pool reads it; rejects are left out."""
    harvester = MarcFileHarvester(source="labels", partner="X", path=str(path))
    return [record.marc for page in harvester.pages(None) for record in page.records if record.marc]


def record_id(record: pymarc.Record, path: Path, position: int) -> str:
    """The record's 001, or file#position when it has none."""
    controls = record.get_fields("001")
    return controls[0].data.strip() if controls and controls[0].data else f"{path.name}#{position}"


def corpus_cases(label_path: Path, corpora: Path) -> Iterator[Case]:
    labels = tomllib.loads(label_path.read_text(encoding="utf-8"))
    by_flag: dict[str, list[str]] = labels.get("flags", {})
    notes: dict[str, str] = labels.get("notes", {})
    kind = labels.get("source_kind", "marc")

    for pattern in labels["files"]:
        for name in sorted(glob.glob(str(corpora / pattern))):
            path = Path(name)
            for position, record in enumerate(read_marc(path)):
                rid = record_id(record, path, position)
                expected = {flag for flag, ids in by_flag.items() if rid in ids}
                context = FlagContext(members=[Member(record, kind, "X")])
                yield Case(label_path.name, rid, expected, context, notes.get(rid, ""))


def mnemonic_field(line: str) -> pymarc.Field:
    """A field from MARC mnemonic text: '=245  10$aTitle' or '=008  data'."""
    tag, body = line[1:4], line[6:]
    if tag < "010":
        return pymarc.Field(tag=tag, data=body)
    indicators = [" " if c == "\\" else c for c in body[:2]]
    subfields = [pymarc.Subfield(part[0], part[1:]) for part in body[3:].split("$") if part]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(*indicators), subfields=subfields)


def written_cases(path: Path) -> Iterator[Case]:
    document = json.loads(path.read_text(encoding="utf-8"))
    special = {partner: set(codes) for partner, codes in document["special_locations"].items()}

    for entry in document["records"]:
        record = pymarc.Record(leader=entry["leader"])
        record.fields.extend(mnemonic_field(line) for line in entry["fields"])
        holdings = [Holding(**holding) for holding in entry.get("holdings", [])]
        member = Member(record, entry.get("source_kind", "marc"), "X")
        context = FlagContext([member], holdings, special_locations=special)
        yield Case(path.name, entry["id"], set(entry["flags"]), context, entry["why"])


def feed_cases(path: Path) -> Iterator[Case]:
    for feed in tomllib.loads(path.read_text(encoding="utf-8"))["feed"]:
        harvester = CourseHarvester(
            feed["file"], feed["partner"], path=feed["file"], base_folder=LABELS
        )
        for page in harvester.pages(None):
            for harvested in page.records:
                assert harvested.marc is not None
                member = Member(harvested.marc, COURSES, feed["partner"])
                yield Case(
                    feed["file"], harvested.local_id, set(feed["flags"]), FlagContext([member])
                )


def all_cases(corpora: Path) -> list[Case]:
    cases: list[Case] = []
    for label_path in sorted(LABELS.glob("*.toml")):
        if label_path.name != "feeds.toml":
            cases.extend(corpus_cases(label_path, corpora))
    cases.extend(written_cases(LABELS / "written.json"))
    cases.extend(feed_cases(LABELS / "feeds.toml"))
    return cases


# ------------------------------------------------------------------ scoring


def score(rules: RuleSet, cases: list[Case]) -> dict[str, Score]:
    scores = {flag: Score() for flag in rules.flags}
    for case in cases:
        raised = {hit.flag for hit in evaluate(rules, case.context)}
        for flag, tally in scores.items():
            where = f"{case.label_file}:{case.record_id}"
            if flag in case.expected:
                tally.positives += 1
                if flag in raised:
                    tally.true_positives += 1
                else:
                    tally.false_negatives.append(where)
            elif flag in raised:
                tally.false_positives.append(where)
    return scores


def table(scores: dict[str, Score], records: int) -> str:
    lines = [
        f"{records} labelled records",
        "| flag | labelled | raised correctly | false positives | missed | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for flag, s in scores.items():
        lines.append(
            f"| {flag} | {s.positives} | {s.true_positives} | {len(s.false_positives)} "
            f"| {len(s.false_negatives)} | {s.precision:.3f} | {s.recall:.3f} |"
        )
    for flag, s in scores.items():
        for where in s.false_positives:
            lines.append(f"false positive {flag}: {where}")
        for where in s.false_negatives:
            lines.append(f"missed {flag}: {where}")
    return "\n".join(lines)


def report(scores: dict[str, Score], records: int) -> dict[str, Any]:
    return {
        "records": records,
        "target": TARGET,
        "flags": {
            flag: {
                "labelled": s.positives,
                "true_positives": s.true_positives,
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
                "false_positives": s.false_positives,
                "false_negatives": s.false_negatives,
            }
            for flag, s in scores.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=ROOT / "config" / "flags.toml")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "flag_quality.json")
    args = parser.parse_args(argv)

    corpora = corpora_dir()
    if not corpora.is_dir():
        print(f"corpora not found at {corpora}; set POOL_CORPORA to their folder", file=sys.stderr)
        return 2
    rules = load_rules(args.rules)
    cases = all_cases(corpora)
    scores = score(rules, cases)

    print(table(scores, len(cases)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report(scores, len(cases)), indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    below = [f for f, s in scores.items() if s.precision < TARGET or s.recall < TARGET]
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
