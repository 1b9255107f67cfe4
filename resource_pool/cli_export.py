"""`pool export` and `pool serve`: the catalogue out to OPACs, as files or over OAI-PMH."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from resource_pool.cli import _table, emit, err, state
from resource_pool.export import (
    FORMATS,
    PROFILES,
    ExportSummary,
    export_catalogue,
    export_target,
    target_rows,
)
from resource_pool.i18n import _

EXPORT_HELP = _(
    "Export the union catalogue as MARC 21, MARCXML or JSON lines: in full, or for a target.\n\n"
    "Every live cluster is one merged record: 001 the union id, 035 the members,\n"
    "852 (or 952) the holdings, 987 the flags. A target writes only the clusters\n"
    "changed since its last successful run, and a .delete file of removed ids.\n\n"
    "Example: pool export --format marc --out /tmp/pool.mrc      "
    "Example: pool export --target vufind"
)
SERVE_HELP = _(
    "Serve the catalogue over OAI-PMH 2.0 (marc21, oai_dc) until stopped, with waitress.\n\n"
    "OPACs such as VuFind and Koha, and Indonesia OneSearch, harvest it at\n"
    "http://HOST:PORT/oai. Deleted clusters stay visible as deleted records.\n\n"
    "Example: pool serve --host 0.0.0.0 --port 8080"
)


def export_command(
    format_name: Annotated[
        str | None,
        typer.Option("--format", help=_("marc (ISO 2709, UTF-8), marcxml or jsonl.")),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help=_("File to write, or - for standard output."))
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help=_(
                "A target named in pool.toml (export.targets): what changed since its last "
                "run, plus a file of deleted union ids."
            ),
        ),
    ] = None,
    flag: Annotated[
        str | None, typer.Option("--flag", help=_("Only clusters with this flag, e.g. rare."))
    ] = None,
    profile: Annotated[
        str,
        typer.Option("--profile", help=_("Holdings as 852 (vufind, generic) or 952 (koha).")),
    ] = "generic",
    full: Annotated[
        bool,
        typer.Option("--full", help=_("With --target: everything again, as on its first run.")),
    ] = False,
    list_targets: Annotated[
        bool, typer.Option("--list-targets", help=_("List the targets and their last runs."))
    ] = False,
) -> None:
    """`pool export`; its help is EXPORT_HELP, registered in cli.py."""
    if list_targets:
        rows = target_rows(state.engine, state.config)
        columns = ["name", "format", "profile", "flag", "last_status", "mark", "last_records"]
        emit(rows, _table(_("Export targets"), rows, columns))
        return
    if target is not None:
        _refuse_with_target(format_name, out, flag, profile)
        with _progress_bar(_("export {name}").format(name=target)) as progress:
            summary = export_target(
                state.engine, state.config, target, full=full, progress=progress
            )
        _report(summary)
        return
    _export_file(format_name, out, flag, profile, full)


def _refuse_with_target(
    format_name: str | None, out: str | None, flag: str | None, profile: str
) -> None:
    given = {"--format": format_name, "--out": out, "--flag": flag}
    if profile != "generic":
        given["--profile"] = profile
    for option, value in given.items():
        if value is not None:
            raise typer.BadParameter(
                _("{option} {value!r}: a target takes its settings from pool.toml").format(
                    option=option, value=value
                ),
                param_hint=option,
            )


def _export_file(
    format_name: str | None, out: str | None, flag: str | None, profile: str, full: bool
) -> None:
    if full:
        raise typer.BadParameter(_("--full goes with --target NAME"), param_hint="--full")
    if format_name not in FORMATS:
        raise typer.BadParameter(
            _("{value!r}: give one of {choices}").format(
                value=format_name, choices=", ".join(FORMATS)
            ),
            param_hint="--format",
        )
    if out is None:
        raise typer.BadParameter(
            _("give a file to write, or - for standard output"), param_hint="--out"
        )
    if profile not in PROFILES:
        raise typer.BadParameter(
            _("{value!r}: give one of {choices}").format(
                value=profile, choices=", ".join(PROFILES)
            ),
            param_hint="--profile",
        )

    destination = sys.stdout.buffer if out == "-" else Path(out)
    with _progress_bar(_("export {name}").format(name=format_name)) as progress:
        summary = export_catalogue(
            state.engine,
            state.config,
            format_name,
            destination,
            flag=flag,
            profile=profile,
            progress=progress,
        )
    _report(summary, to_stderr=out == "-")


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing when the output is piped or JSON."""
    if state.json or not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("clusters")),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _report(summary: ExportSummary, to_stderr: bool = False) -> None:
    if to_stderr:
        err.print(
            _(
                "{records:,} records written, {oversized} over the format's limits, "
                "in {seconds:.1f}s"
            ).format(
                records=summary.records,
                oversized=len(summary.oversized),
                seconds=summary.seconds,
            )
        )
    else:
        row = {**summary.as_dict(), "oversized": len(summary.oversized)}
        columns = ["records", "oversized", "path", "seconds"]
        if summary.target:
            columns = ["target", "records", "deleted", "oversized", "path", "deletes_path"]
        emit(summary.as_dict(), _table(_("Export"), [row], columns))
    if summary.finished_interrupted and not state.json:
        err.print(
            _(
                "This run finished the delivery an interrupted run had left half done; "
                "run the export again for what changed since."
            )
        )
    if summary.problems and not state.json:
        err.print(
            _(
                "[yellow]{count} records were not written[/]: ISO 2709 cannot hold them; "
                "export with --format marcxml or jsonl to include them."
            ).format(count=len(summary.problems))
        )
        for problem in summary.problems:
            err.print(f"  {problem}", highlight=False)


def serve_command(
    host: Annotated[
        str | None,
        typer.Option("--host", help=_("Address to listen on [default: pool.toml [serve] host].")),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help=_("Port to listen on; 0 picks a free one [default: 8080].")),
    ] = None,
) -> None:
    """`pool serve`; its help is SERVE_HELP, registered in cli.py."""
    from resource_pool.oai_provider import serve

    def announce(url: str) -> None:
        err.print(_("serving OAI-PMH at {url}").format(url=url), highlight=False)

    serve(state.engine, state.config, host=host, port=port, announce=announce)
