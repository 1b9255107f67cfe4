"""Read and check the configuration folder: pool.toml, partners.toml, flags.toml.

Every error names the file, the key and the bad value, so the librarian can
fix it without reading code; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvesters.errors import ConfigError
from harvesters.holdings import HOLDINGS_TAGS
from resource_pool.i18n import _

PARTNER_KINDS = ("public", "school", "university", "community", "company", "network")
SOURCE_KINDS = ("marc", "oai", "courses")
OAI_PROFILES = ("generic", "slims", "inlislite", "koha", "ojs", "eprints", "dspace")

_PARTNER_KEYS = {
    "code",
    "name",
    "kind",
    "lends",
    "loan_days",
    "lends_rare",
    "special_locations",
    "sources",
    "contact",
    "agency_id",
}
_SOURCE_KEYS = {
    "name",
    "kind",
    "path",
    "url",
    "holdings",
    "schedule",
    "profile",
    "metadata_prefix",
    "set",
    "full_every_days",
    "timeout",
    "retries",
    "auth_env",
    "token_env",
    "credentials_file",
    "enabled",
    "page_size",
    "max_response_mb",
    "response_deadline",
    "max_pages",
}
_POOL_TABLES = {"pool", "matching", "harvest", "export", "nightly", "serve", "schedule"}
_CODE = re.compile(r"^[A-Z][A-Z0-9_-]{0,15}$")
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class SourceConfig:
    """One harvestable source of a partner, as partners.toml describes it."""

    name: str
    kind: str
    partner: str
    path: str | None = None
    url: str | None = None
    holdings: str | None = None
    """852, 952 or 990; None: 852 for files, the profile's own for OAI-PMH."""
    schedule: str | None = None
    profile: str = "generic"
    metadata_prefix: str | None = None
    sets: tuple[str, ...] = ()
    full_every_days: int | None = None
    timeout: float = 60.0
    retries: int = 5
    auth_env: str | None = None
    token_env: str | None = None
    credentials_file: str | None = None
    enabled: bool = True
    max_response_mb: int = 100
    """The most one OAI-PMH response may hold, decompressed, before the run fails."""
    response_deadline: float = 600.0
    """The most seconds one response may take from request to last byte."""
    max_pages: int = 100_000
    """The most pages one list may take before it is ended with a warning."""


@dataclass(frozen=True)
class PartnerConfig:
    """A partner institution and its lending policy."""

    code: str
    name: str
    kind: str
    lends: bool = True
    loan_days: int = 21
    lends_rare: bool = False
    special_locations: tuple[str, ...] = ()
    agency_id: str | None = None
    sources: tuple[SourceConfig, ...] = ()


@dataclass(frozen=True)
class PoolConfig:
    """The whole configuration folder, checked."""

    folder: Path
    name: str
    code: str
    database: str
    partners: tuple[PartnerConfig, ...]
    ignore_isbns: frozenset[str] = frozenset()
    shrink_guard: float = 0.5
    page_size: int = 1000
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def flags_path(self) -> Path:
        return self.folder / "flags.toml"

    @property
    def sources(self) -> list[SourceConfig]:
        return [source for partner in self.partners for source in partner.sources]

    def partner(self, code: str) -> PartnerConfig:
        for partner in self.partners:
            if partner.code == code:
                return partner
        known = ", ".join(p.code for p in self.partners)
        raise ConfigError(
            _("no partner with code {code!r} in partners.toml (known: {known})").format(
                code=code, known=known
            )
        )

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(
            _("no source named {name!r} in partners.toml (known: {known})").format(
                name=name, known=known
            )
        )

    def database_url(self, override: str | None = None) -> str:
        """--db, else $POOL_DATABASE_URL, else the SQLite file named in pool.toml."""
        url = override or os.environ.get("POOL_DATABASE_URL")
        if url:
            return url
        return f"sqlite:///{(self.folder / self.database).resolve()}"


def config_folder(option: str | None) -> Path:
    """--config, else $POOL_CONFIG, else ./config."""
    return Path(option or os.environ.get("POOL_CONFIG") or "config")


def load_config(folder: Path) -> PoolConfig:
    """Read and check a configuration folder."""
    if not folder.is_dir():
        raise ConfigError(
            _(
                "configuration folder {folder!r} does not exist; "
                "give --config DIR, set POOL_CONFIG, or write one with `pool init DIR`"
            ).format(folder=str(folder))
        )
    pool_doc = _read_toml(folder / "pool.toml")
    partners_doc = _read_toml(folder / "partners.toml")
    return _build_config(folder, pool_doc, partners_doc)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            _("{path}: file not found; `pool init DIR` writes a starter one").format(path=path)
        )
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        # TOML files are UTF-8 (TOML 1.0); tomllib lets a stray byte out as a bare decode error.
        raise ConfigError(
            _("{path}: not valid TOML: {error}").format(path=path, error=error)
        ) from None


def _build_config(
    folder: Path, pool_doc: dict[str, Any], partners_doc: dict[str, Any]
) -> PoolConfig:
    where = "pool.toml"
    unknown = set(pool_doc) - _POOL_TABLES
    if unknown:
        raise ConfigError(
            f"{where}: unknown table {sorted(unknown)[0]!r} (known: {_known(_POOL_TABLES)})"
        )
    pool = _table(pool_doc, "pool", where)
    matching = _table(pool_doc, "matching", where)
    harvest = _table(pool_doc, "harvest", where)

    partners = _partners(partners_doc)
    return PoolConfig(
        folder=folder,
        name=_string(pool, "name", f"{where} [pool]", default="Resource pool"),
        code=_code(pool.get("code", "POOL"), f"{where} [pool] code"),
        database=_string(pool, "database", f"{where} [pool]", default="pool.sqlite"),
        partners=partners,
        ignore_isbns=frozenset(_strings(matching, "ignore_isbns", f"{where} [matching]")),
        shrink_guard=_fraction(harvest, "shrink_guard", f"{where} [harvest]", default=0.5),
        page_size=_positive(harvest, "page_size", f"{where} [harvest]", default=1000),
        raw=pool_doc,
    )


def _partners(doc: dict[str, Any]) -> tuple[PartnerConfig, ...]:
    entries = doc.get("partners", [])
    if not isinstance(entries, list):
        raise ConfigError(_("partners.toml: `partners` must be an array of tables ([[partners]])"))
    partners = tuple(_partner(entry, index) for index, entry in enumerate(entries))
    _check_unique([p.code for p in partners], "partners.toml: partner code")
    _check_unique([s.name for p in partners for s in p.sources], "partners.toml: source name")
    return partners


def _partner(entry: Any, index: int) -> PartnerConfig:
    where = f"partners.toml: partners[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(_("{where}: must be a table").format(where=where))
    code = _code(entry.get("code"), f"{where} code")
    where = _("partners.toml: partner {code}").format(code=code)
    _check_keys(entry, _PARTNER_KEYS, where)
    kind = _choice(entry, "kind", PARTNER_KINDS, where, default="public")
    sources_doc = entry.get("sources", [])
    if not isinstance(sources_doc, list):
        raise ConfigError(
            _("{where}: `sources` must be an array of tables ([[partners.sources]])").format(
                where=where
            )
        )
    return PartnerConfig(
        code=code,
        name=_string(entry, "name", where),
        kind=kind,
        lends=_bool(entry, "lends", where, default=True),
        loan_days=_positive(entry, "loan_days", where, default=21),
        lends_rare=_bool(entry, "lends_rare", where, default=False),
        special_locations=tuple(_strings(entry, "special_locations", where)),
        agency_id=_optional_string(entry, "agency_id", where),
        sources=tuple(_source(s, code, i) for i, s in enumerate(sources_doc)),
    )


def _source(entry: Any, partner: str, index: int) -> SourceConfig:
    where = f"partners.toml: partner {partner} sources[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(_("{where}: must be a table").format(where=where))
    name = _string(entry, "name", where)
    if not _SOURCE_NAME.match(name):
        raise ConfigError(
            _("{where} name = {name!r}: use lower-case letters, digits, '-', '_' or '.'").format(
                where=where, name=name
            )
        )
    where = _("partners.toml: source {name}").format(name=name)
    _check_keys(entry, _SOURCE_KEYS, where)
    kind = _choice(entry, "kind", SOURCE_KINDS, where)
    path, url = _optional_string(entry, "path", where), _optional_string(entry, "url", where)
    _check_location(kind, path, url, where)
    sets = entry.get("set", [])
    return SourceConfig(
        name=name,
        kind=kind,
        partner=partner,
        path=path,
        url=url,
        holdings=_choice(entry, "holdings", HOLDINGS_TAGS, where) if "holdings" in entry else None,
        schedule=_schedule(entry, where),
        profile=_choice(entry, "profile", OAI_PROFILES, where, default="generic"),
        metadata_prefix=_optional_string(entry, "metadata_prefix", where),
        sets=(sets,) if isinstance(sets, str) else tuple(_strings(entry, "set", where)),
        full_every_days=_optional_positive(entry, "full_every_days", where),
        timeout=float(_positive(entry, "timeout", where, default=60)),
        retries=_positive(entry, "retries", where, default=5, allow_zero=True),
        auth_env=_optional_string(entry, "auth_env", where),
        token_env=_optional_string(entry, "token_env", where),
        credentials_file=_optional_string(entry, "credentials_file", where),
        enabled=_bool(entry, "enabled", where, default=True),
        max_response_mb=_positive(entry, "max_response_mb", where, default=100),
        response_deadline=float(_positive(entry, "response_deadline", where, default=600)),
        max_pages=_positive(entry, "max_pages", where, default=100_000),
    )


def _check_location(kind: str, path: str | None, url: str | None, where: str) -> None:
    if kind == "oai" and not url:
        raise ConfigError(
            _('{where}: an oai source needs url = "https://.../oai"').format(where=where)
        )
    if kind != "oai" and not (path or url):
        raise ConfigError(
            _('{where}: a {kind} source needs path = "glob" or url = "https://..."').format(
                where=where, kind=kind
            )
        )
    if path and url:
        raise ConfigError(_("{where}: give either path or url, not both").format(where=where))
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(
            _("{where} url = {url!r}: must start with http:// or https://").format(
                where=where, url=url
            )
        )
    if url and "@" in url.split("/", 3)[2]:
        # The URL would carry the password into every log line and error message.
        raise ConfigError(
            _(
                "{where}: url holds a user name or password; give them through auth_env "
                "or credentials_file instead"
            ).format(where=where)
        )


def _schedule(entry: dict[str, Any], where: str) -> str | None:
    value = _optional_string(entry, "schedule", where)
    if value is None:
        return None
    if len(value.split()) != 5:
        raise ConfigError(
            _(
                "{where} schedule = {value!r}: a cron expression has five fields "
                '(minute hour day month weekday), e.g. "0 2 * * *"'
            ).format(where=where, value=value)
        )
    return value


# Small typed readers: each names the key and value it refuses.


def _known(keys: set[str]) -> str:
    return ", ".join(sorted(keys))


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(_("{where}: [{key}] must be a table").format(where=where, key=key))
    return value


def _check_keys(entry: dict[str, Any], known: set[str], where: str) -> None:
    for key in entry:
        if key not in known:
            raise ConfigError(
                _("{where}: unknown key {key!r} (known: {known})").format(
                    where=where, key=key, known=_known(known)
                )
            )


def _check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(
                _("{what} {value!r} is used twice; it must be unique").format(
                    what=what, value=value
                )
            )
        seen.add(value)


def _code(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise ConfigError(
            _(
                "{where} = {value!r}: a code is 1 to 16 upper-case letters, digits, '-' or '_', "
                "starting with a letter"
            ).format(where=where, value=value)
        )
    return value


def _string(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            _("{where}: {key} = {value!r}: must be a non-empty string").format(
                where=where, key=key, value=value
            )
        )
    return value


def _optional_string(entry: dict[str, Any], key: str, where: str) -> str | None:
    if key not in entry:
        return None
    return _string(entry, key, where)


def _strings(entry: dict[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            _("{where}: {key} = {value!r}: must be a list of strings").format(
                where=where, key=key, value=value
            )
        )
    return value


def _bool(entry: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(
            _("{where}: {key} = {value!r}: must be true or false").format(
                where=where, key=key, value=value
            )
        )
    return value


def _positive(
    entry: dict[str, Any], key: str, where: str, default: int, allow_zero: bool = False
) -> int:
    value = entry.get(key, default)
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            _("{where}: {key} = {value!r}: must be a whole number of at least {low}").format(
                where=where, key=key, value=value, low=low
            )
        )
    return value


def _optional_positive(entry: dict[str, Any], key: str, where: str) -> int | None:
    if key not in entry:
        return None
    return _positive(entry, key, where, default=1)


def _fraction(entry: dict[str, Any], key: str, where: str, default: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(
            _("{where}: {key} = {value!r}: must be a number from 0 to 1").format(
                where=where, key=key, value=value
            )
        )
    return float(value)


def _choice(
    entry: dict[str, Any],
    key: str,
    choices: tuple[str, ...],
    where: str,
    default: str | None = None,
) -> str:
    value = entry.get(key, default)
    if value not in choices:
        raise ConfigError(
            _("{where}: {key} = {value!r}: must be one of {choices}").format(
                where=where, key=key, value=value, choices=", ".join(choices)
            )
        )
    assert isinstance(value, str)
    return value
