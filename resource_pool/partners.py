"""Bring the partner and source tables in line with partners.toml."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from resource_pool.config import PartnerConfig, PoolConfig, SourceConfig
from resource_pool.models import Partner, Source

Row = TypeVar("Row", Partner, Source)


def sync_partners(session: Session, config: PoolConfig) -> dict[str, Source]:
    """Add or update a row per configured partner and source; return sources by name.

    Rows of partners or sources no longer configured stay: their records and
    loan history still belong to the catalogue until someone removes them.
    """
    sources: dict[str, Source] = {}
    for partner_config in config.partners:
        partner = _partner_row(session, partner_config)
        for source_config in partner_config.sources:
            sources[source_config.name] = _source_row(session, source_config, partner)
    session.flush()
    return sources


def _partner_row(session: Session, wanted: PartnerConfig) -> Partner:
    partner = _find_or_add(
        session, Partner, Partner.code == wanted.code,  # type: ignore[arg-type]
        Partner(code=wanted.code, name=wanted.name, kind=wanted.kind),
    )
    partner.name, partner.kind = wanted.name, wanted.kind
    partner.lends, partner.loan_days = wanted.lends, wanted.loan_days
    partner.lends_rare = wanted.lends_rare
    session.add(partner)
    return partner


def _source_row(session: Session, wanted: SourceConfig, partner: Partner) -> Source:
    assert partner.id is not None
    source = _find_or_add(
        session, Source, Source.name == wanted.name,  # type: ignore[arg-type]
        Source(name=wanted.name, partner_id=partner.id, kind=wanted.kind),
    )
    source.partner_id, source.kind = partner.id, wanted.kind
    session.add(source)
    return source


def _find_or_add(session: Session, model: type[Row], where: object, new: Row) -> Row:
    """The existing row, or `new` inserted; safe when another process inserts it first.

    Two first harvests starting together on a fresh database both find no
    row; the insert runs in a savepoint, so the loser reads the winner's row
    instead of failing on the unique constraint.
    """
    found = session.exec(select(model).where(where)).first()  # type: ignore[arg-type]
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(new)
            session.flush()
        return new
    except IntegrityError:
        return session.exec(select(model).where(where)).one()  # type: ignore[arg-type]


def partner_ids(session: Session) -> dict[str, int]:
    """Partner code to row id."""
    return {p.code: p.id for p in session.exec(select(Partner)).all() if p.id is not None}


__all__ = ["partner_ids", "sync_partners"]
