"""`pool schedule`, `pool nightly` and `pool harvest --due`: harvests that run unattended."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape

from harvesters.errors import ConfigError
from resource_pool import db, nightly, schedule
from resource_pool.cli import _harvest_one, _print_summaries, _table, emit, err, state
from resource_pool.harvest import HarvestOptions, RunSummary, stop_requested
from resource_pool.i18n import _

SCHEDULE_HELP = _(
    "Run the scheduled harvests and the nightly pipeline in the foreground.\n\n"
    "Jobs are kept in the pool's database; at start they are brought in line\n"
    "with partners.toml and pool.toml. A job missed while the service was down\n"
    "runs once at start, if it is no later than misfire_grace_time (pool.toml).\n"
    "SIGTERM or Ctrl-C lets each running harvest store its page and\n"
    "checkpoint, then exits 0. --list changes nothing and starts nothing.\n\n"
    "Example: pool -v --log-format json schedule      Example: pool schedule --list"
)
NIGHTLY_HELP = _(
    "Run the nightly pipeline once: harvest, flags, overdue loans, exports.\n\n"
    "Harvests the sources that are due (as --due does), recomputes flags for\n"
    "clusters changed since the last nightly, marks overdue loans, and writes\n"
    "each export target of pool.toml. Every step reports ok, failed, skipped\n"
    "(saying why) or interrupted; a failing source or step does not stop the\n"
    "rest. Exit code 1 when anything failed or was interrupted.\n\n"
    "Example: pool nightly      Example: pool --json nightly"
)


def schedule_command(
    list_only: Annotated[
        bool,
        typer.Option(
            "--list",
            help=_("Show each job, its schedule and next run, then exit without running."),
        ),
    ] = False,
    every: Annotated[
        float | None,
        typer.Option(
            "--every",
            hidden=True,
            help=_("Run each source every SECONDS instead of by its cron."),
        ),
    ] = None,
) -> None:
    """`pool schedule`; its help is SCHEDULE_HELP, registered in cli.py."""
    config = state.config
    url = config.database_url(state.db_option)
    settings = schedule.schedule_settings(config)
    wanted = schedule.wanted_jobs(config, url, settings, every)
    # Opening the pool checks the URL and applies migrations before any job runs.
    db.open_pool(url).dispose()
    if list_only:
        _show_jobs(schedule.plan_jobs(url, settings, wanted), settings)
        return

    if not wanted:
        raise ConfigError(
            _(
                "nothing to schedule: no enabled source in partners.toml has a schedule, and "
                'pool.toml [nightly] enabled = false; add schedule = "0 2 * * *" to a source'
            )
        )
    _show_jobs(schedule.sync_jobs(url, settings, wanted), settings)
    schedule.Service(url, settings, wanted).run()


def _show_jobs(jobs: list[schedule.JobState], settings: schedule.ScheduleSettings) -> None:
    rows = [job.as_row(settings.timezone) for job in jobs]
    title = _("Scheduled jobs (times in {timezone})").format(timezone=settings.timezone.key)
    emit(rows, _table(title, rows, ["job", "schedule", "state", "next_run"]))


def nightly_command() -> None:
    """`pool nightly`; its help is NIGHTLY_HELP, registered in cli.py."""
    config, engine = state.config, state.engine
    settings = schedule.schedule_settings(config)
    with schedule.stopping_on_signals():
        report = nightly.run_nightly(engine, config, settings)

    # Details quote config keys such as [nightly], which rich would read as markup.
    rows = [{**asdict(step), "detail": escape(step.detail)} for step in report.steps]
    columns = ["step", "status", "seconds", "detail"]
    title = _("Nightly run {run}").format(run=report.run_id)
    emit(report.as_dict(), _table(title, rows, columns))
    if not state.json and report.harvests:
        _print_summaries(report.harvests)
    if report.status != "ok":
        raise typer.Exit(1)


def harvest_due(sources: list[str], all_sources: bool, options: HarvestOptions) -> None:
    """`pool harvest --due`: each source whose schedule fired since its last success."""
    if sources or all_sources:
        raise typer.BadParameter(
            _("--due chooses the sources itself; give no source names and no --all"),
            param_hint="--due",
        )
    config, engine = state.config, state.engine
    names = schedule.due_sources(engine, config, schedule.schedule_settings(config))
    if not names:
        emit([])
        # Said on a terminal only: from cron, every line would become a mail.
        if not state.json and err.is_terminal:
            err.print(_("Nothing is due."))
        return

    summaries: list[RunSummary] = []
    with schedule.stopping_on_signals():
        for name in names:
            if stop_requested.is_set():
                break
            summary = _harvest_one(config, name, options)
            schedule.log_outcome(config, config.source(name), summary)
            summaries.append(summary)

    _print_summaries(summaries)
    # A refusal means another process is harvesting that source right now,
    # which is no failure of this run (an earlier cron run may still be going).
    failed = [s for s in summaries if s.status not in ("ok", "refused")]
    if failed or len(summaries) < len(names):
        raise typer.Exit(1)
