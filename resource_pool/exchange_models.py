"""The tables of interlibrary exchange: requests, their rotas and their audit trail.

A request belongs to the partner that made it; its rota lists the partners
that may supply it, in the order they are asked; every change of state writes
one event, in the same transaction, with the ISO 18626 message it stands for.
Partners are named by code (stable, and what staff type after `--as`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from resource_pool.models import utcnow


class ExchangeRequest(SQLModel, table=True):
    """One request by a partner for a cluster, as a loan or a copy."""

    __tablename__ = "exchange_request"
    __table_args__ = (Index("ix_exchange_request_requester_cluster", "requester", "cluster_id"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(default="", max_length=64)
    """The requestingAgencyRequestId partners see: the pool's code and the id."""
    requester: str = Field(foreign_key="partner.code", max_length=16)
    requester_agency: str = Field(max_length=128)
    """The requester as ISO 18626 names it, "TYPE:VALUE", fixed when the request is made."""
    cluster_id: int = Field(foreign_key="cluster.id")
    title: str = ""
    isbn: str | None = Field(default=None, max_length=13)
    service: str = Field(max_length=16)
    patron_reference: str | None = Field(default=None, max_length=128)
    needed_by: date | None = None
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    state: str = Field(max_length=32, index=True)
    lender: str | None = Field(default=None, foreign_key="partner.code", max_length=16)
    due: date | None = None
    loan_condition: str | None = Field(default=None, max_length=32)
    version: int = 0
    """How many events the request has; every change adds exactly one."""
    created: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)
    closed: datetime | None = Field(default=None, index=True)


class RotaEntry(SQLModel, table=True):
    """One candidate lender of a request, with the ISO 18626 status it last reported."""

    __tablename__ = "rota_entry"
    __table_args__ = (UniqueConstraint("request_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="exchange_request.id", index=True)
    position: int
    partner: str = Field(foreign_key="partner.code", max_length=16, index=True)
    agency: str = Field(max_length=128)
    status: str | None = Field(default=None, max_length=32)
    """None until the pool asks this lender."""
    reason: str | None = Field(default=None, max_length=64)
    asked: datetime | None = None
    supplied: datetime | None = None
    """When this lender shipped the loan or delivered the copy."""


class RequestEvent(SQLModel, table=True):
    """One change of a request: who took which step, from which state to which."""

    __tablename__ = "request_event"
    __table_args__ = (UniqueConstraint("request_id", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="exchange_request.id", index=True)
    sequence: int
    time: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=16)
    """The acting institution's code; the pool's own code for the rota and overdue runs."""
    role: str = Field(max_length=16)
    step: str = Field(max_length=32)
    state_before: str = Field(default="", max_length=32)
    state_after: str = Field(max_length=32)
    via: str = Field(default="command", max_length=16)
    """How the step arrived: a command, a partner's message, or the overdue run."""
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message_kind: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The ISO 18626 message the step sends, as XML; None for the pool's own steps."""
