"""Bring the partner and source tables in line with partners.toml."""

from __future__ import annotations

from sqlmodel import Session, select

from resource_pool.config import PoolConfig
from resource_pool.models import Partner, Source


def sync_partners(session: Session, config: PoolConfig) -> dict[str, Source]:
    """Add or update a row per configured partner and source; return sources by name.

    Rows of partners or sources no longer configured stay: their records and
    loan history still belong to the catalogue until someone removes them.
    """
    partners = {p.code: p for p in session.exec(select(Partner)).all()}
    sources = {s.name: s for s in session.exec(select(Source)).all()}
    for partner_config in config.partners:
        partner = partners.get(partner_config.code) or Partner(
            code=partner_config.code, name=partner_config.name, kind=partner_config.kind
        )
        partner.name = partner_config.name
        partner.kind = partner_config.kind
        partner.lends = partner_config.lends
        partner.loan_days = partner_config.loan_days
        partner.lends_rare = partner_config.lends_rare
        session.add(partner)
        session.flush()
        partners[partner.code] = partner
        for source_config in partner_config.sources:
            source = sources.get(source_config.name) or Source(
                name=source_config.name, partner_id=partner.id or 0, kind=source_config.kind
            )
            source.partner_id = partner.id or 0
            source.kind = source_config.kind
            session.add(source)
            sources[source.name] = source
    session.flush()
    return sources


def partner_ids(session: Session) -> dict[str, int]:
    """Partner code to row id."""
    return {p.code: p.id for p in session.exec(select(Partner)).all() if p.id is not None}
