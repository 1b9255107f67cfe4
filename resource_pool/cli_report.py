"""`pool report`: the partners' forum report, as one HTML page or as JSON."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from harvesters.errors import StepRefused
from resource_pool.cli import emit, out, state
from resource_pool.forum_report import forum_figures
from resource_pool.i18n import _
from resource_pool.report_html import render_report

REPORT_HELP: str = _(
    "Write the report for the partners' forum: one HTML page with charts.\n\n"
    "The page needs no network to open: its charts are drawn in the page itself.\n"
    "It shows the catalogue by partner and how it grew, the overlap between the\n"
    "partners' collections, rare materials and online courses, harvest health,\n"
    "and loans between partners. --since limits growth, harvests and requests to\n"
    "that day on; the catalogue is shown as it stands. With --json before the\n"
    "command, the same figures are printed as JSON (--out is then optional).\n\n"
    "Example: pool report --out forum.html\n\n"
    "Example: pool --json report --since 2026-09-01"
)


def report_command(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE.html", help=_("The HTML file to write.")),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help=_("Only activity on or after this day, YYYY-MM-DD (UTC)."),
        ),
    ] = None,
) -> None:
    if out_file is None and not state.json:
        raise typer.BadParameter(
            _("give the HTML file to write, e.g. --out forum.html"), param_hint="--out"
        )
    figures = forum_figures(state.engine, state.config.name, _since_day(since))
    if out_file is not None:
        _write(out_file, render_report(figures))
    if state.json:
        emit(figures.as_dict())
        return
    # Counts after colons, so "requests: 1" reads right without plural forms.
    written = _("wrote {path}; partners: {partners}, records: {records}, requests: {requests}")
    text = written.format(
        path=out_file,
        partners=len(figures.partners),
        records=figures.records,
        requests=figures.requests,
    )
    out.print(text, markup=False, highlight=False)


def _since_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            _("{value!r} is not a day; write it as YYYY-MM-DD").format(value=text),
            param_hint="--since",
        ) from None


def _write(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise StepRefused(
            _("cannot write the report to {path}: {reason}").format(
                path=path, reason=error.strerror or error
            )
        ) from None
