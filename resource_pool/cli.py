"""The `pool` command line: parse, call one typed function, print.

Domain errors become messages and exit codes at one place, `main()`:
0 success, 1 a source that could not be harvested, 2 bad usage or
configuration (the message names the option or the config key).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from harvesters.errors import ConfigError, PoolError, SourceError, StepRefused
from harvesters.records import Page
from resource_pool import catalog_view, db, flagging, logs, reports, search
from resource_pool.config import PoolConfig, config_folder, load_config
from resource_pool.harvest import HarvestOptions, RunSummary, harvest_source
from resource_pool.i18n import LANGUAGES, _
from resource_pool.partners import sync_partners

STARTER = Path(__file__).parent / "starter"

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help=_(
        "A pooled union catalogue and interlibrary exchange for partner libraries.\n\n"
        "Example: harvest every configured source, then look at the catalogue:\n\n"
        "    pool harvest --all && pool catalog stats\n"
    ),
)
partners_app = typer.Typer(
    no_args_is_help=True, help=_("Partner institutions.\n\nExample: pool partners list")
)
catalog_app = typer.Typer(
    no_args_is_help=True, help=_("The union catalogue.\n\nExample: pool catalog stats")
)
flags_app = typer.Typer(
    no_args_is_help=True,
    help=_("Rare and online-course flags.\n\nExample: pool flags recompute"),
)
db_app = typer.Typer(
    no_args_is_help=True, help=_("The database schema.\n\nExample: pool db upgrade")
)
app.add_typer(partners_app, name="partners")
app.add_typer(catalog_app, name="catalog")
app.add_typer(flags_app, name="flags")
app.add_typer(db_app, name="db")

err = Console(stderr=True)
# Piped output (cron mail, logs) has no terminal width; 80 columns would fold the tables.
out = Console(width=None if sys.stdout.isatty() else 160)


@dataclass
class State:
    """The global options, with the configuration and database opened on first use."""

    config_option: str | None = None
    db_option: str | None = None
    json: bool = False
    _config: PoolConfig | None = None
    _engine: Engine | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> PoolConfig:
        if self._config is None:
            self._config = load_config(config_folder(self.config_option))
        return self._config

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = db.open_pool(self.config.database_url(self.db_option))
        return self._engine


state = State()


def _check_language(language: str | None) -> str | None:
    """Refuse a --lang the pool has no catalogue for.

    The language itself was set by i18n.main() before this module loaded,
    since Typer reads the help texts at import; here it is only checked.
    """
    if language is not None and language not in LANGUAGES:
        raise typer.BadParameter(
            _("{value!r} is not a language the pool speaks; choose one of {choices}").format(
                value=language, choices=", ".join(LANGUAGES)
            ),
            param_hint="--lang",
        )
    return language


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", help=_("Configuration folder (default: $POOL_CONFIG, then ./config).")
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help=_(
                "Database URL, e.g. postgresql+psycopg://pool@host/pool "
                "(default: $POOL_DATABASE_URL, then the SQLite file in pool.toml)."
            ),
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=_("Print machine-readable JSON."))
    ] = False,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help=_("More log lines (-vv: debug)."))
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help=_("Only errors."))] = False,
    log_format: Annotated[
        str,
        typer.Option("--log-format", help=_("Log lines as text or json (one object a line).")),
    ] = "text",
    language: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="LANG",
            # Checked before --help runs, so `--lang xx --help` is refused too.
            is_eager=True,
            callback=_check_language,
            help=_(
                "Language of messages, help and reports: id (Indonesian) or en "
                "(default: from LANGUAGE, LC_ALL, LC_MESSAGES, LANG; else en)."
            ),
        ),
    ] = None,
) -> None:
    """Global options; they go before the command: pool --json catalog stats."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter(_("--log-format must be text or json"), param_hint="--log-format")
    state.config_option, state.db_option, state.json = config, database, as_json
    state._config = state._engine = None
    logs.configure(-1 if quiet else verbose, log_format)


def emit(data: Any, table: Table | None = None) -> None:
    """JSON when --json was given, else the table (or nothing when there is none)."""
    if state.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif table is not None:
        out.print(table)


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title, show_lines=False)
    labels = column_labels()
    for column in columns:
        numeric = bool(rows) and isinstance(rows[0].get(column), int | float)
        table.add_column(
            labels.get(column, column),
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=numeric,
        )
    for row in rows:
        table.add_row(*("" if row.get(c) is None else _cell(row.get(c)) for c in columns))
    return table


def _cell(value: Any) -> str:
    """A table cell as people read it: statuses and yes/no in the current language."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    text = str(value)
    return status_labels().get(text, text)


def status_labels() -> dict[str, str]:
    """Outcome words shown in tables; --json keeps the English value."""
    return {
        "ok": _("ok"),
        "failed": _("failed"),
        "refused": _("refused"),
        "interrupted": _("interrupted"),
        "running": _("running"),
        "skipped": _("skipped"),
    }


def column_labels() -> dict[str, str]:
    """Table headers people read, by the row key they show; --json keeps the keys."""
    return {
        "source": _("source"),
        "status": _("status"),
        "added": _("added"),
        "updated": _("updated"),
        "unchanged": _("unchanged"),
        "deleted": _("deleted"),
        "rejected": _("rejected"),
        "cleaned": _("cleaned"),
        "retried": _("retried"),
        "seconds": _("seconds"),
        "id": _("id"),
        "started": _("started"),
        "error": _("error"),
        "location": _("location"),
        "position": _("position"),
        "local_id": _("local_id"),
        "reason": _("reason"),
        "kind": _("kind"),
        "records": _("records"),
        "last_run": _("last_run"),
        "last_success": _("last_success"),
        "last_failure": _("last_failure"),
        "failure": _("failure"),
        "next_run": _("next_run"),
        "schedule": _("schedule"),
        "last_status": _("last_status"),
        "failed_steps": _("failed_steps"),
        "code": _("code"),
        "name": _("name"),
        "lends": _("lends"),
        "loan_days": _("loan_days"),
        "lends_rare": _("lends_rare"),
        "sources": _("sources"),
        "partner": _("partner"),
        "why": _("why"),
        "call_number": _("call_number"),
        "barcode": _("barcode"),
        "lendable": _("lendable"),
        "record": _("record"),
        "flag": _("flag"),
        "rule": _("rule"),
        "evidence": _("evidence"),
        "title": _("title"),
        "year": _("year"),
        "held_by": _("held_by"),
        "flags": _("flags"),
        "clusters": _("clusters"),
        "gained": _("gained"),
        "lost": _("lost"),
        "job": _("job"),
        "state": _("state"),
        "step": _("step"),
        "detail": _("detail"),
        "format": _("format"),
        "profile": _("profile"),
        "mark": _("mark"),
        "last_records": _("last_records"),
        "target": _("target"),
        "oversized": _("oversized"),
        "path": _("path"),
        "deletes_path": _("deletes_path"),
        "service": _("service"),
        "requester": _("requester"),
        "lender": _("lender"),
        "due": _("due"),
        "cluster": _("cluster"),
        "asked": _("asked"),
        "supplied": _("supplied"),
        "sequence": _("sequence"),
        "time": _("time"),
        "actor": _("actor"),
        "before": _("before"),
        "after": _("after"),
        "note": _("note"),
        "message": _("message"),
        "request_id": _("request_id"),
        "days_overdue": _("days_overdue"),
        "marked": _("marked"),
        "requested": _("requested"),
        "borrowed": _("borrowed"),
        "lent": _("lent"),
        "unfilled": _("unfilled"),
        "fill_rate": _("fill_rate"),
        "median_turnaround_days": _("median_turnaround_days"),
        "what": _("what"),
        "count": _("count"),
    }


# pool init


@app.command(
    help=_(
        "Write a commented starter configuration: pool.toml, partners.toml, flags.toml.\n\n"
        "Example: pool init /etc/resource-pool && pool --config /etc/resource-pool partners list"
    )
)
def init(
    folder: Annotated[Path, typer.Argument(help=_("Folder to write the configuration into."))],
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted(STARTER.glob("*.toml")):
        target = folder / template.name
        if target.exists():
            raise StepRefused(
                _("{path} exists already; refusing to overwrite it").format(path=target)
            )
        shutil.copyfile(template, target)
        written.append(str(target))
    emit({"written": written})
    if not state.json:
        err.print(
            _("Wrote {files}. Edit partners.toml, then run: pool harvest --all").format(
                files=", ".join(written)
            )
        )


# pool partners


@partners_app.command(
    "list",
    help=_(
        "List the partners, their lending policy, sources and record counts.\n\n"
        "Example: pool partners list"
    ),
)
def partners_list() -> None:
    with db.session_scope(state.engine) as session:
        sync_partners(session, state.config)
    rows = reports.partner_rows(state.engine)
    for row in rows:
        row["sources"] = ", ".join(row["sources"]) if not state.json else row["sources"]
    columns = ["code", "name", "kind", "lends", "loan_days", "lends_rare", "sources", "records"]
    emit(rows, _table(_("Partners"), rows, columns))


# pool harvest


@app.command(
    help=_(
        "Harvest sources into the catalogue, then print a summary per source.\n\n"
        "Exit code 1 when any source failed; its checkpoint stays at the last stored\n"
        "page, so running the same command again resumes it.\n\n"
        "Example: pool harvest --all      Example: pool harvest tbl-books --full\n"
        "Example: pool harvest --due"
    )
)
def harvest(
    sources: Annotated[
        list[str] | None, typer.Argument(help=_("Source names from partners.toml."))
    ] = None,
    all_sources: Annotated[
        bool, typer.Option("--all", help=_("Harvest every enabled source."))
    ] = False,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help=_("Harvest each source whose schedule fired since its last success (for cron)."),
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help=_("Ignore the incremental state and harvest everything.")),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help=_("Mark missing records deleted even when a delivery shrank a lot.")
        ),
    ] = False,
    from_date: Annotated[
        str | None, typer.Option("--from", help=_("OAI-PMH: harvest from this datestamp."))
    ] = None,
    until_date: Annotated[
        str | None, typer.Option("--until", help=_("OAI-PMH: harvest until this datestamp."))
    ] = None,
) -> None:
    options = HarvestOptions(full=full, force=force, from_date=from_date, until_date=until_date)
    if due:
        from resource_pool.cli_schedule import harvest_due

        harvest_due(sources or [], all_sources, options)
        return
    config = state.config
    chosen = _chosen_sources(config, sources or [], all_sources)
    summaries = [_harvest_one(config, name, options) for name in chosen]
    _print_summaries(summaries)
    if any(s.status != "ok" for s in summaries):
        raise typer.Exit(1)


def _chosen_sources(config: PoolConfig, names: list[str], all_sources: bool) -> list[str]:
    if names and all_sources:
        raise typer.BadParameter(_("give source names or --all, not both"), param_hint="--all")
    if all_sources:
        return [s.name for s in config.sources if s.enabled]
    if not names:
        raise typer.BadParameter(
            _("name the sources to harvest, or give --all"), param_hint="SOURCE"
        )
    for name in names:
        config.source(name)
    return names


def _harvest_one(config: PoolConfig, name: str, options: HarvestOptions) -> RunSummary:
    source = config.source(name)
    engine = state.engine
    if state.json or not err.is_terminal:
        return harvest_source(engine, config, source, options)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[source]}[/]"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("harvest", source=name, detail=_("starting"), total=None)

        def on_page(summary: RunSummary, page: Page) -> None:
            records = summary.added + summary.updated + summary.unchanged + summary.deleted
            bar.update(task, detail=_progress_text(summary, records, bar.tasks[task].elapsed))

        summary = harvest_source(engine, config, source, options, progress=on_page)
        outcome = _cell(summary.status)
        bar.update(task, detail=f"{outcome}: {_progress_text(summary, None, summary.seconds)}")
    return summary


def _progress_text(summary: RunSummary, records: int | None, elapsed: float | None) -> str:
    records = (
        records if records is not None else summary.added + summary.updated + summary.unchanged
    )
    rate = _(", {rate:,.0f} records/s").format(rate=records / elapsed) if elapsed else ""
    return _(
        "pages {pages}, records {records:,}{rate}; +{added} ~{updated} -{deleted}, "
        "rejected {rejected}"
    ).format(
        pages=summary.pages,
        records=records,
        rate=rate,
        added=summary.added,
        updated=summary.updated,
        deleted=summary.deleted,
        rejected=summary.rejected,
    )


def _print_summaries(summaries: list[RunSummary]) -> None:
    rows = [s.as_dict() for s in summaries]
    columns = [
        "source",
        "status",
        "added",
        "updated",
        "unchanged",
        "deleted",
        "rejected",
        "cleaned",
        "retried",
        "seconds",
    ]
    emit(rows, _table(_("Harvest summary"), rows, columns))
    if not state.json:
        for summary in summaries:
            if summary.error:
                err.print(f"[red]{summary.source}[/]: {summary.error}")


# pool runs, rejects, status


@app.command(
    help=_(
        "List harvest runs: when, how long, what they did, and why they failed.\n\n"
        "Example: pool runs --source tbl-books --limit 5"
    )
)
def runs(
    source: Annotated[
        str | None, typer.Option("--source", help=_("Only this source's runs."))
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help=_("How many runs, newest first."))] = 20,
) -> None:
    rows = reports.run_rows(state.engine, source, limit)
    columns = [
        "id",
        "source",
        "status",
        "started",
        "seconds",
        "added",
        "updated",
        "unchanged",
        "deleted",
        "rejected",
        "error",
    ]
    emit(rows, _table(_("Harvest runs"), rows, columns))


@app.command(
    help=_(
        "List records that could not be read, with the file, position and reason.\n\n"
        "Example: pool rejects --source tbm-koleksi"
    )
)
def rejects(
    source: Annotated[
        str | None, typer.Option("--source", help=_("Only this source's rejects."))
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help=_("At most this many."))] = 100,
) -> None:
    rows = reports.reject_rows(state.engine, source, limit)
    columns = ["id", "source", "location", "position", "local_id", "reason"]
    emit(rows, _table(_("Rejected records"), rows, columns))


@app.command(
    help=_(
        "Show each source (records, last success, last failure and why, next run) "
        "and the nightly.\n\n"
        "Example: pool status"
    )
)
def status() -> None:
    rows = reports.source_status(state.engine, state.config)
    nightly = reports.nightly_status(state.engine, state.config)
    columns = ["source", "kind", "records", "last_run", "last_success", "last_failure", "failure"]
    emit({"sources": rows, "nightly": nightly}, _table(_("Sources"), rows, [*columns, "next_run"]))
    if not state.json:
        nightly_columns = ["schedule", "next_run", "last_run", "last_status", "failed_steps"]
        out.print(_table(_("Nightly"), [nightly], nightly_columns))


# pool catalog


@catalog_app.command(
    "stats",
    help=_(
        "Count records, clusters, holdings, rejects and flags.\n\n"
        "Example: pool --json catalog stats"
    ),
)
def catalog_stats() -> None:
    stats = reports.catalog_stats(state.engine)
    table = Table(title=_("Catalogue"))
    labels = column_labels() | {"holdings": _("holdings")}
    table.add_column(labels["what"])
    table.add_column(labels["count"], justify="right")
    for key in ("records", "clusters", "holdings", "rejected"):
        table.add_row(labels[key], f"{stats[key]:,}")
    for flag, count in stats["flags"].items():
        table.add_row(_("flag {flag}").format(flag=flag), f"{count:,}")
    emit(stats, table)


@catalog_app.command(
    "show",
    help=_(
        "Show one cluster: each member and why it is there, the holdings, the flags and why.\n\n"
        "Example: pool catalog show 42      Example: pool catalog show TBL:b0123"
    ),
)
def catalog_show(
    ident: Annotated[
        str, typer.Argument(help=_("Union id, or a member's local id such as TBL:1234."))
    ],
) -> None:
    cluster = catalog_view.show_cluster(state.engine, ident)
    if state.json:
        emit(cluster)
        return
    status = " [red]" + _("(deleted: no members left)") + "[/]" if cluster["deleted"] else ""
    year = cluster["year"] or _("no year")
    out.print(f"[bold]{cluster['id']}[/] {cluster['title']} ({year}){status}")
    members = cluster["members"]
    emit(None, _table(_("Members"), members, ["partner", "local_id", "source", "why"]))
    columns = ["partner", "location", "call_number", "barcode", "lendable", "record"]
    emit(None, _table(_("Holdings"), cluster["holdings"], columns))
    if cluster["flags"]:
        emit(None, _table(_("Flags"), cluster["flags"], ["flag", "rule", "evidence"]))


@catalog_app.command(
    "search",
    help=_(
        "Find clusters by title, author, subject, publisher or ISBN.\n\n"
        'Example: pool catalog search "hikayat" --flag rare --held-by TBL'
    ),
)
def catalog_search(
    words: Annotated[
        str, typer.Argument(help=_("Words of the title, author, subject or an ISBN."))
    ],
    flag: Annotated[
        str | None, typer.Option("--flag", help=_("Only clusters with this flag."))
    ] = None,
    held_by: Annotated[
        str | None, typer.Option("--held-by", help=_("Only clusters this partner holds."))
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help=_("At most this many."))] = 50,
) -> None:
    rows = search.search(state.engine, words, flag=flag, held_by=held_by, limit=limit)
    for row in rows:
        if not state.json:
            row["held_by"], row["flags"] = ", ".join(row["held_by"]), ", ".join(row["flags"])
    title = _("Search: {words}").format(words=words)
    emit(rows, _table(title, rows, ["id", "title", "year", "held_by", "flags"]))


@flags_app.command(
    "recompute",
    help=_(
        "Apply the rules of flags.toml to every cluster, without harvesting again.\n\n"
        "Reports per flag how many clusters hold it, and how many gained or lost it.\n\n"
        "Example: pool flags recompute"
    ),
)
def flags_recompute() -> None:
    report = flagging.recompute_flags(state.engine, state.config)
    rows = [{"flag": name, **counts} for name, counts in report.items()]
    emit(report, _table(_("Flags"), rows, ["flag", "clusters", "gained", "lost"]))


# pool db


@db_app.command(
    "upgrade",
    help=_(
        "Bring the database schema to the latest revision (also done on every open).\n\n"
        "Example: pool --db postgresql+psycopg://pool@dbhost/pool db upgrade"
    ),
)
def db_upgrade() -> None:
    engine = db.create_pool_engine(state.config.database_url(state.db_option))
    before = db.current_revisions(engine)
    db.upgrade(engine)
    after = db.current_revisions(engine)
    emit({"before": list(before), "after": list(after)})
    if not state.json:
        out.print(
            _("schema {before} -> {after}").format(
                before=", ".join(before) or _("empty"), after=", ".join(after)
            )
        )


@db_app.command(
    "current",
    help=_(
        "Show the schema revision the database is at, and the latest one.\n\n"
        "Example: pool db current"
    ),
)
def db_current() -> None:
    engine = db.create_pool_engine(state.config.database_url(state.db_option))
    current, latest = db.current_revisions(engine), db.head_revisions()
    emit({"current": list(current), "latest": list(latest)})
    if not state.json:
        out.print(
            _("current {current}, latest {latest}").format(
                current=", ".join(current) or _("empty"), latest=", ".join(latest)
            )
        )


# Command groups kept in modules of their own register here, one import each.
# They import `state` and `emit` from this module, so they come after them.
from resource_pool.cli_export import (  # noqa: E402
    EXPORT_HELP,
    SERVE_HELP,
    export_command,
    serve_command,
)
from resource_pool.cli_report import REPORT_HELP, report_command  # noqa: E402
from resource_pool.cli_request import request_app  # noqa: E402
from resource_pool.cli_schedule import (  # noqa: E402
    NIGHTLY_HELP,
    SCHEDULE_HELP,
    nightly_command,
    schedule_command,
)

app.add_typer(request_app, name="request")
app.command("export", help=EXPORT_HELP)(export_command)
app.command("serve", help=SERVE_HELP)(serve_command)
app.command("schedule", help=SCHEDULE_HELP)(schedule_command)
app.command("nightly", help=NIGHTLY_HELP)(nightly_command)
app.command("report", help=REPORT_HELP)(report_command)


def main() -> None:
    """Entry point: run the app and turn the project's errors into exit codes."""
    try:
        app()
    except (ConfigError, StepRefused) as error:
        _print_error(error)
        sys.exit(2)
    except SourceError as error:
        _print_error(error)
        sys.exit(1)
    except PoolError as error:
        _print_error(error)
        sys.exit(1)


def _print_error(error: PoolError) -> None:
    label = _("error:")
    err.print(f"[red]{label}[/] {error}", highlight=False)
