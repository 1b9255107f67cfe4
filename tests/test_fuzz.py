"""Hostile and broken input meets only the project's own typed errors: no crash, no hang.

Each target gets inputs made by mutating real corpus data (bytes flipped,
cut, repeated or inserted) as well as arbitrary bytes. Anything raised must
be a PoolError subclass; a crash in the library code beneath is a failure.
Cases hypothesis finds are kept below as regression examples.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from harvesters.errors import PoolError, RecordError
from harvesters.iso2709 import decode_record
from harvesters.marc import MarcFileHarvester
from tests.conftest import ROOT, corpora_dir

CORPORA = corpora_dir()
FUZZ = settings(
    max_examples=200,
    deadline=None,
    # The same examples on every run, so CI failures can be repeated.
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@contextmanager
def watchdog(seconds: int = 120) -> Iterator[None]:
    """Turn a hang into a failure: the test is stopped if it has not ended by then."""

    def stop(*_: object) -> None:
        raise TimeoutError(f"no result after {seconds} s: the input made the code hang")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sample(relative: str) -> bytes:
    path = CORPORA / relative
    if not path.exists():
        pytest.skip(f"corpus file {path} not found; set POOL_CORPORA")
    return path.read_bytes()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with a few bytes flipped, cut, inserted or repeated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        if action == "flip":
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[position : position + draw(st.integers(1, 40))]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=12))
        elif action == "repeat":
            data[position:position] = data[position : position + draw(st.integers(1, 60))]
        else:
            del data[position:]
    return bytes(data)


ONE_RECORD = "github-traject/george_eliot.marc"
MARC8_RECORD = "github-traject/one-marc8.mrc"
MARCXML = "github-ruby-marc/batch.xml"


@FUZZ
@given(data=st.data())
@example(data=None)
def test_iso2709_decoder_raises_only_record_errors(data: st.DataObject | None) -> None:
    """Any mutation of a real record decodes, or is refused with a RecordError."""
    seeds = [sample(ONE_RECORD), sample(MARC8_RECORD)]
    chunk = (
        seeds[0]
        if data is None
        else data.draw(st.one_of(mutated(seeds[0]), mutated(seeds[1]), st.binary(max_size=400)))
    )
    with watchdog():
        try:
            record = decode_record(chunk.rstrip(b"\x1d"))
        except RecordError:
            return
    assert record.leader[9] == "a"
    for field in record.fields:
        assert isinstance(field.tag, str) and len(field.tag) == 3


@FUZZ
@given(data=st.data())
def test_marc_file_reader_never_stops_on_a_bad_record(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A file of mutated records is read to its end: every record loads or is rejected."""
    seed = sample("github-traject/test_data.utf8.mrc")
    content = data.draw(mutated(seed))
    path = tmp_path_factory.mktemp("fuzz") / "file.mrc"
    path.write_bytes(content)
    with watchdog():
        try:
            pages = list(MarcFileHarvester(source="s", partner="P", path=str(path)).pages(None))
        except PoolError:
            return
    assert pages[-1].complete


@FUZZ
@given(data=st.data())
@example(data=None)
def test_marcxml_reader_never_crashes(
    data: st.DataObject | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Mutated MARCXML is read with records loaded or rejected, never a crash."""
    seed = sample(MARCXML)
    content = seed if data is None else data.draw(mutated(seed))
    path = tmp_path_factory.mktemp("fuzz") / "file.xml"
    path.write_bytes(b"<" + content.lstrip(b"<") if content else b"<")
    with watchdog():
        try:
            list(MarcFileHarvester(source="s", partner="P", path=str(path)).pages(None))
        except PoolError:
            return


DC_NS = "http://purl.org/dc/elements/1.1/"
DC_ELEMENTS = [
    "title",
    "creator",
    "subject",
    "description",
    "publisher",
    "contributor",
    "date",
    "type",
    "format",
    "identifier",
    "source",
    "language",
    "relation",
    "coverage",
    "rights",
    "identifier_isbn",
]


@FUZZ
@given(
    elements=st.lists(st.tuples(st.sampled_from(DC_ELEMENTS), st.text(max_size=80)), max_size=20),
    datestamp=st.one_of(st.none(), st.text(max_size=25)),
)
def test_dublin_core_crosswalk_gives_a_record_or_a_record_error(
    elements: list[tuple[str, str]], datestamp: str | None
) -> None:
    """Any set of DC elements with any text becomes a MARC record or a RecordError."""
    from harvesters.dublin_core import record_from_dc

    root = etree.Element("{http://www.openarchives.org/OAI/2.0/oai_dc/}dc", nsmap={"dc": DC_NS})
    for name, text in elements:
        child = etree.SubElement(root, f"{{{DC_NS}}}{name}")
        child.text = "".join(c for c in text if c.isprintable())
    try:
        record = record_from_dc(root, datestamp=datestamp)
    except RecordError:
        return
    assert len(str(record.leader)) == 24
    assert record.as_marc()


@FUZZ
@given(data=st.data())
def test_iso18626_import_raises_only_message_errors(data: st.DataObject) -> None:
    """Mutated ISO 18626 messages parse, or are refused with the project's error."""
    from resource_pool.iso18626 import parse_message

    folder = CORPORA / "github-mod-rs-iso18626"
    seeds = sorted(folder.rglob("*.xml")) if folder.exists() else []
    if not seeds:
        pytest.skip(f"no ISO 18626 messages under {folder}")
    seed = data.draw(st.sampled_from(seeds)).read_bytes()
    with watchdog():
        try:
            parse_message(data.draw(mutated(seed)))
        except PoolError:
            return


TOML_VALUES = st.one_of(
    st.booleans(),
    st.integers(-5, 100),
    st.text(max_size=20),
    st.lists(st.text(max_size=8), max_size=3),
)
PARTNER_KEYS = [
    "code",
    "name",
    "kind",
    "lends",
    "loan_days",
    "lends_rare",
    "special_locations",
    "colour",
]
SOURCE_KEYS = [
    "name",
    "kind",
    "path",
    "url",
    "holdings",
    "schedule",
    "profile",
    "set",
    "retries",
    "timeout",
    "page_size",
    "full_every_days",
    "enabled",
    "metadata_prefix",
    "auth_env",
    "credentials_file",
    "max_response_mb",
    "response_deadline",
    "max_pages",
]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(c if c.isprintable() else " " for c in text)
    return f'"{text}"'


@FUZZ
@given(
    partners=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(PARTNER_KEYS), TOML_VALUES, max_size=8),
            st.lists(
                st.dictionaries(st.sampled_from(SOURCE_KEYS), TOML_VALUES, max_size=12), max_size=2
            ),
        ),
        max_size=3,
    )
)
def test_config_loader_raises_only_config_errors(
    partners: list[tuple[dict[str, object], list[dict[str, object]]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Any partners.toml of the right shape loads or is refused with a ConfigError."""
    from harvesters.errors import ConfigError
    from resource_pool.config import load_config

    lines = []
    for partner, sources in partners:
        lines.append("[[partners]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in partner.items()]
        for source in sources:
            lines.append("[[partners.sources]]")
            lines += [f"{key} = {toml_value(value)}" for key, value in source.items()]
    folder = tmp_path_factory.mktemp("config")
    (folder / "pool.toml").write_text('[pool]\nname = "x"\n')
    (folder / "partners.toml").write_text("\n".join(lines) + "\n")
    try:
        load_config(folder)
    except ConfigError:
        return


CONFIG_FILES = ("pool.toml", "partners.toml", "flags.toml")


@FUZZ
@given(data=st.data())
def test_mutated_configuration_files_raise_only_config_errors(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The shipped pool.toml, partners.toml and flags.toml, mutated, load or meet a ConfigError.

    Loading goes as far as `pool` goes before its first command: the folder,
    the [export] table with its targets, and the flag rules.
    """
    from harvesters.errors import ConfigError
    from resource_pool.config import load_config
    from resource_pool.export import export_settings
    from resource_pool.flags import load_rules

    shipped = ROOT / "config"
    folder = tmp_path_factory.mktemp("config")
    victim = data.draw(st.sampled_from(CONFIG_FILES))
    for name in CONFIG_FILES:
        content = (shipped / name).read_bytes()
        (folder / name).write_bytes(data.draw(mutated(content)) if name == victim else content)
    with watchdog():
        try:
            config = load_config(folder)
            export_settings(config)
            load_rules(folder / "flags.toml")
        except ConfigError:
            return


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_a_configuration_file_that_is_not_utf8_is_refused_naming_it(
    name: str, tmp_path: Path
) -> None:
    """Found by the test above: a byte that is not UTF-8 gave a bare UnicodeDecodeError."""
    from harvesters.errors import ConfigError
    from resource_pool.config import load_config
    from resource_pool.flags import load_rules

    for each in CONFIG_FILES:
        (tmp_path / each).write_bytes((ROOT / "config" / each).read_bytes())
    spoilt = tmp_path / name
    spoilt.write_bytes(b"\x80" + spoilt.read_bytes())

    with pytest.raises(ConfigError, match=f"{name}: not valid TOML"):
        load_config(tmp_path)
        load_rules(tmp_path / "flags.toml")


class _OneBody:
    """An OAI-PMH endpoint answering Identify properly and ListRecords with a given body."""

    def __init__(self) -> None:
        self.body = b""

    def reply(self, params: dict[str, str]) -> object:
        from tests.oaiserver import Reply

        if params.get("verb") == "Identify":
            return Reply(sample("github-mloesch-sickle/sample_data/Identify.xml"))
        return Reply(self.body)


@pytest.fixture(scope="module")
def one_body_server() -> Iterator[tuple[str, _OneBody]]:
    from tests.oaiserver import OaiServer

    endpoint = _OneBody()
    with OaiServer() as server:
        yield server.add("fuzz", endpoint), endpoint  # type: ignore[arg-type]


OAI_SEEDS = [
    "github-folio-mod-reservoir/oai-response-1.xml",
    "github-vufindharvest/marc.xml",
    "github-traject/sample-oai-pmh.xml",
    "github-mloesch-sickle/sample_data/ListRecords.xml",
]


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_oai_responses_raise_only_pool_errors(
    data: st.DataObject, one_body_server: tuple[str, _OneBody]
) -> None:
    """A mutated real OAI-PMH page served over HTTP ends in pages or a PoolError, never a crash."""
    from harvesters.oai import OaiHarvester

    url, endpoint = one_body_server
    seed = sample(data.draw(st.sampled_from(OAI_SEEDS)))
    endpoint.body = data.draw(mutated(seed))
    harvester = OaiHarvester(
        "fuzz",
        "P",
        url,
        metadata_prefix="marc21",
        retries=0,
        backoff=0.0,
        timeout=5,
        prefetch=False,
    )
    with watchdog():
        try:
            for page in harvester.pages(None):
                assert all(record.local_id.startswith("P:") for record in page.records)
                if page.complete:
                    break
        except PoolError:
            return
