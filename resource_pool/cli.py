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
from resource_pool.partners import sync_partners

STARTER = Path(__file__).parent / "starter"

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="""A pooled union catalogue and interlibrary exchange for partner libraries.

Example: harvest every configured source, then look at the catalogue:

    pool harvest --all && pool catalog stats
""",
)
partners_app = typer.Typer(
    no_args_is_help=True, help="Partner institutions.\n\nExample: pool partners list"
)
catalog_app = typer.Typer(
    no_args_is_help=True, help="The union catalogue.\n\nExample: pool catalog stats"
)
flags_app = typer.Typer(
    no_args_is_help=True, help="Rare and online-course flags.\n\nExample: pool flags recompute"
)
db_app = typer.Typer(no_args_is_help=True, help="The database schema.\n\nExample: pool db upgrade")
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


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", help="Configuration folder (default: $POOL_CONFIG, then ./config)."
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL, e.g. postgresql+psycopg://pool@host/pool "
            "(default: $POOL_DATABASE_URL, then the SQLite file in pool.toml).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="More log lines (-vv: debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines as text or json (one object a line).")
    ] = "text",
) -> None:
    """Global options; they go before the command: pool --json catalog stats."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("--log-format must be text or json", param_hint="--log-format")
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
    for column in columns:
        numeric = bool(rows) and isinstance(rows[0].get(column), int | float)
        table.add_column(
            column, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric
        )
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


# pool init


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder to write the configuration into.")],
) -> None:
    """Write a commented starter configuration: pool.toml, partners.toml, flags.toml.

    Example: pool init /etc/resource-pool && pool --config /etc/resource-pool partners list
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted(STARTER.glob("*.toml")):
        target = folder / template.name
        if target.exists():
            raise StepRefused(f"{target} exists already; refusing to overwrite it")
        shutil.copyfile(template, target)
        written.append(str(target))
    emit({"written": written})
    if not state.json:
        err.print(f"Wrote {', '.join(written)}. Edit partners.toml, then run: pool harvest --all")


# pool partners


@partners_app.command("list")
def partners_list() -> None:
    """List the partners, their lending policy, sources and record counts.

    Example: pool partners list
    """
    with db.session_scope(state.engine) as session:
        sync_partners(session, state.config)
    rows = reports.partner_rows(state.engine)
    for row in rows:
        row["sources"] = ", ".join(row["sources"]) if not state.json else row["sources"]
    columns = ["code", "name", "kind", "lends", "loan_days", "lends_rare", "sources", "records"]
    emit(rows, _table("Partners", rows, columns))


# pool harvest


@app.command()
def harvest(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Source names from partners.toml.")
    ] = None,
    all_sources: Annotated[
        bool, typer.Option("--all", help="Harvest every enabled source.")
    ] = False,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="Harvest each source whose schedule fired since its last success (for cron).",
        ),
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the incremental state and harvest everything.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Mark missing records deleted even when a delivery shrank a lot."
        ),
    ] = False,
    from_date: Annotated[
        str | None, typer.Option("--from", help="OAI-PMH: harvest from this datestamp.")
    ] = None,
    until_date: Annotated[
        str | None, typer.Option("--until", help="OAI-PMH: harvest until this datestamp.")
    ] = None,
) -> None:
    """Harvest sources into the catalogue, then print a summary per source.

    Exit code 1 when any source failed; its checkpoint stays at the last stored
    page, so running the same command again resumes it.

    Example: pool harvest --all      Example: pool harvest tbl-books --full
    Example: pool harvest --due
    """
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
        raise typer.BadParameter("give source names or --all, not both", param_hint="--all")
    if all_sources:
        return [s.name for s in config.sources if s.enabled]
    if not names:
        raise typer.BadParameter("name the sources to harvest, or give --all", param_hint="SOURCE")
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
        task = bar.add_task("harvest", source=name, detail="starting", total=None)

        def on_page(summary: RunSummary, page: Page) -> None:
            records = summary.added + summary.updated + summary.unchanged + summary.deleted
            bar.update(task, detail=_progress_text(summary, records, bar.tasks[task].elapsed))

        summary = harvest_source(engine, config, source, options, progress=on_page)
        bar.update(
            task, detail=f"{summary.status}: {_progress_text(summary, None, summary.seconds)}"
        )
    return summary


def _progress_text(summary: RunSummary, records: int | None, elapsed: float | None) -> str:
    records = (
        records if records is not None else summary.added + summary.updated + summary.unchanged
    )
    rate = f", {records / elapsed:,.0f} records/s" if elapsed else ""
    return (
        f"pages {summary.pages}, records {records:,}{rate}; +{summary.added} ~{summary.updated} "
        f"-{summary.deleted}, rejected {summary.rejected}"
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
    emit(rows, _table("Harvest summary", rows, columns))
    if not state.json:
        for summary in summaries:
            if summary.error:
                err.print(f"[red]{summary.source}[/]: {summary.error}")


# pool runs, rejects, status


@app.command()
def runs(
    source: Annotated[str | None, typer.Option("--source", help="Only this source's runs.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many runs, newest first.")] = 20,
) -> None:
    """List harvest runs: when, how long, what they did, and why they failed.

    Example: pool runs --source tbl-books --limit 5
    """
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
    emit(rows, _table("Harvest runs", rows, columns))


@app.command()
def rejects(
    source: Annotated[
        str | None, typer.Option("--source", help="Only this source's rejects.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
) -> None:
    """List records that could not be read, with the file, position and reason.

    Example: pool rejects --source tbm-koleksi
    """
    rows = reports.reject_rows(state.engine, source, limit)
    columns = ["id", "source", "location", "position", "local_id", "reason"]
    emit(rows, _table("Rejected records", rows, columns))


@app.command()
def status() -> None:
    """Show each source (records, last success, last failure and why, next run) and the nightly.

    Example: pool status
    """
    rows = reports.source_status(state.engine, state.config)
    nightly = reports.nightly_status(state.engine, state.config)
    columns = ["source", "kind", "records", "last_run", "last_success", "last_failure", "failure"]
    emit({"sources": rows, "nightly": nightly}, _table("Sources", rows, [*columns, "next_run"]))
    if not state.json:
        nightly_columns = ["schedule", "next_run", "last_run", "last_status", "failed_steps"]
        out.print(_table("Nightly", [nightly], nightly_columns))


# pool catalog


@catalog_app.command("stats")
def catalog_stats() -> None:
    """Count records, clusters, holdings, rejects and flags.

    Example: pool --json catalog stats
    """
    stats = reports.catalog_stats(state.engine)
    table = Table(title="Catalogue")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("records", "clusters", "holdings", "rejected"):
        table.add_row(key, f"{stats[key]:,}")
    for flag, count in stats["flags"].items():
        table.add_row(f"flag {flag}", f"{count:,}")
    emit(stats, table)


@catalog_app.command("show")
def catalog_show(
    ident: Annotated[
        str, typer.Argument(help="Union id, or a member's local id such as TBL:1234.")
    ],
) -> None:
    """Show one cluster: each member and why it is there, the holdings, the flags and why.

    Example: pool catalog show 42      Example: pool catalog show TBL:b0123
    """
    cluster = catalog_view.show_cluster(state.engine, ident)
    if state.json:
        emit(cluster)
        return
    status = " [red](deleted: no members left)[/]" if cluster["deleted"] else ""
    out.print(
        f"[bold]{cluster['id']}[/] {cluster['title']} ({cluster['year'] or 'no year'}){status}"
    )
    emit(None, _table("Members", cluster["members"], ["partner", "local_id", "source", "why"]))
    columns = ["partner", "location", "call_number", "barcode", "lendable", "record"]
    emit(None, _table("Holdings", cluster["holdings"], columns))
    if cluster["flags"]:
        emit(None, _table("Flags", cluster["flags"], ["flag", "rule", "evidence"]))


@catalog_app.command("search")
def catalog_search(
    words: Annotated[str, typer.Argument(help="Words of the title, author, subject or an ISBN.")],
    flag: Annotated[
        str | None, typer.Option("--flag", help="Only clusters with this flag.")
    ] = None,
    held_by: Annotated[
        str | None, typer.Option("--held-by", help="Only clusters this partner holds.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
) -> None:
    """Find clusters by title, author, subject, publisher or ISBN.

    Example: pool catalog search "hikayat" --flag rare --held-by TBL
    """
    rows = search.search(state.engine, words, flag=flag, held_by=held_by, limit=limit)
    for row in rows:
        if not state.json:
            row["held_by"], row["flags"] = ", ".join(row["held_by"]), ", ".join(row["flags"])
    emit(rows, _table(f"Search: {words}", rows, ["id", "title", "year", "held_by", "flags"]))


@flags_app.command("recompute")
def flags_recompute() -> None:
    """Apply the rules of flags.toml to every cluster, without harvesting again.

    Reports per flag how many clusters hold it, and how many gained or lost it.

    Example: pool flags recompute
    """
    report = flagging.recompute_flags(state.engine, state.config)
    rows = [{"flag": name, **counts} for name, counts in report.items()]
    emit(report, _table("Flags", rows, ["flag", "clusters", "gained", "lost"]))


# pool db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the latest revision (also done on every open).

    Example: pool --db postgresql+psycopg://pool@dbhost/pool db upgrade
    """
    engine = db.create_pool_engine(state.config.database_url(state.db_option))
    before = db.current_revisions(engine)
    db.upgrade(engine)
    after = db.current_revisions(engine)
    emit({"before": list(before), "after": list(after)})
    if not state.json:
        out.print(f"schema {', '.join(before) or 'empty'} -> {', '.join(after)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision the database is at, and the latest one.

    Example: pool db current
    """
    engine = db.create_pool_engine(state.config.database_url(state.db_option))
    current, latest = db.current_revisions(engine), db.head_revisions()
    emit({"current": list(current), "latest": list(latest)})
    if not state.json:
        out.print(f"current {', '.join(current) or 'empty'}, latest {', '.join(latest)}")


# Command groups kept in modules of their own register here, one import each.
# They import `state` and `emit` from this module, so they come after them.
from resource_pool.cli_export import export_command, serve_command  # noqa: E402
from resource_pool.cli_request import request_app  # noqa: E402
from resource_pool.cli_schedule import nightly_command, schedule_command  # noqa: E402

app.add_typer(request_app, name="request")
app.command("export")(export_command)
app.command("serve")(serve_command)
app.command("schedule")(schedule_command)
app.command("nightly")(nightly_command)


def main() -> None:
    """Entry point: run the app and turn the project's errors into exit codes."""
    try:
        app()
    except (ConfigError, StepRefused) as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(2)
    except SourceError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except PoolError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(1)
