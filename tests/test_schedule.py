"""Unattended harvests: cron triggers, `pool harvest --due`, `pool schedule` and `pool nightly`."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from harvesters.errors import ConfigError
from resource_pool.config import load_config
from resource_pool.db import open_pool
from resource_pool.harvest import harvest_source
from resource_pool.nightly import optional_callable
from resource_pool.reports import nightly_status
from resource_pool.schedule import (
    cron_trigger,
    is_due,
    paused_scheduler,
    plan_jobs,
    schedule_settings,
    sync_jobs,
    wanted_jobs,
)
from tests.oaiserver import OaiServer, SyntheticRepository
from tests.runpool import ROOT, database_for, pool, pool_json, write_config
from tests.scheduling import (
    JAKARTA,
    Child,
    GatedRepository,
    catalogue,
    far_cron,
    oai_partners,
    pool_toml,
    query,
    quiet_config,
    runs_of,
)

SUNDAY = datetime(2026, 12, 6, tzinfo=JAKARTA)


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with OaiServer() as running:
        yield running


def fires(expression: str, count: int, after: datetime = SUNDAY) -> list[datetime]:
    trigger = cron_trigger(expression, JAKARTA, "test")
    times: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
        times.append(moment)
    return times


# Cron expressions and what is due.


def test_cron_weekdays_count_from_sunday_as_crontab_does() -> None:
    """Weekday 1 is Monday and 0 and 7 are Sunday, as in crontab, not APScheduler's own count."""
    assert SUNDAY.isoweekday() == 7
    assert [t.isoweekday() for t in fires("0 3 * * 1", 2)] == [1, 1]
    assert {t.isoweekday() for t in fires("0 3 * * 0", 3)} == {7}
    assert {t.isoweekday() for t in fires("0 3 * * 7", 3)} == {7}
    assert [t.isoweekday() for t in fires("0 3 * * 5-7", 3)] == [7, 5, 6]
    assert [t.isoweekday() for t in fires("0 3 * * mon-wed,sat", 4)] == [1, 2, 3, 6]
    assert [t.isoweekday() for t in fires("0 3 * * */3", 3)] == [7, 3, 6]
    assert fires("30 2 * * *", 1)[0] == datetime(2026, 12, 6, 2, 30, tzinfo=JAKARTA)


def test_day_of_month_and_weekday_together_fire_on_either() -> None:
    """ "0 5 1 * 1" fires on the first of the month and on every Monday, as cron does."""
    times = fires("0 5 1 * 1", 6, after=datetime(2026, 12, 20, tzinfo=JAKARTA))
    assert [(t.month, t.day) for t in times] == [
        (12, 21),
        (12, 28),
        (1, 1),
        (1, 4),
        (1, 11),
        (1, 18),
    ]


def test_bad_cron_names_the_place_and_the_value() -> None:
    """A cron the trigger cannot read fails with the key, the expression and the reason."""
    with pytest.raises(ConfigError, match=r"partners.toml: source x schedule = '0 25 \* \* \*'"):
        cron_trigger("0 25 * * *", JAKARTA, "partners.toml: source x schedule")
    with pytest.raises(ConfigError, match="weekday 'sunday' is not 0-7"):
        cron_trigger("0 1 * * sunday", JAKARTA, "here")
    with pytest.raises(ConfigError, match="weekday range '5-1' runs backwards"):
        cron_trigger("0 1 * * 5-1", JAKARTA, "here")


def test_a_source_is_due_when_its_schedule_fired_since_its_last_success() -> None:
    """Due: never harvested, or a fire time falls after the last success and by now."""
    trigger = cron_trigger("0 2 * * *", JAKARTA, "test")
    now = datetime(2026, 12, 6, 9, 0, tzinfo=JAKARTA)
    assert is_due(trigger, None, now)
    assert is_due(trigger, datetime(2026, 12, 5, 2, 10, tzinfo=JAKARTA), now)
    assert not is_due(trigger, datetime(2026, 12, 6, 2, 10, tzinfo=JAKARTA), now)
    assert not is_due(trigger, datetime(2026, 12, 6, 2, 0, tzinfo=JAKARTA), now)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[schedule]\ntimezone = "Asia/Jakata"\n',
            "pool.toml [schedule] timezone = 'Asia/Jakata': not a known time zone",
        ),
        (
            "[schedule]\nmisfire_grace_time = 0\n",
            "pool.toml [schedule] misfire_grace_time = 0: must be a whole number of seconds",
        ),
        ("[schedule]\ngrace = 5\n", "pool.toml [schedule]: unknown key 'grace'"),
        (
            '[nightly]\nschedule = "1 * *"\n',
            "pool.toml [nightly] schedule = '1 * *': a cron expression has five fields",
        ),
        (
            '[nightly]\nexport_targets = "vufind"\n',
            "pool.toml [nightly] export_targets = 'vufind': must be a list",
        ),
    ],
)
def test_bad_schedule_settings_name_the_key_and_value(
    tmp_path: Path, extra: str, message: str
) -> None:
    """Each bad [schedule] or [nightly] value is refused naming pool.toml, the key and value."""
    config = write_config(tmp_path, oai_partners(), pool_toml(extra))
    with pytest.raises(ConfigError) as refused:
        schedule_settings(load_config(config))
    assert message in str(refused.value)


def test_settings_default_to_jakarta_an_hour_of_grace_and_a_nightly_at_one(tmp_path: Path) -> None:
    """Without [schedule] or [nightly], times are Jakarta's, grace 3600 s, nightly 01:00."""
    settings = schedule_settings(load_config(write_config(tmp_path, oai_partners())))
    assert (settings.timezone.key, settings.misfire_grace_time) == ("Asia/Jakarta", 3600)
    assert (settings.nightly, settings.nightly_enabled, settings.export_targets) == (
        "0 1 * * *",
        True,
        None,
    )


# Cron mode: pool harvest --due.


@pytest.mark.database
def test_harvest_due_takes_what_is_due_and_exits_1_when_one_fails(
    tmp_path: Path, server: OaiServer
) -> None:
    """--due harvests scheduled sources never harvested; next time only the failed one again."""
    url = server.add("plain", SyntheticRepository(records=20, page_size=10))
    schedule = far_cron()
    partners = oai_partners(
        ("tbl-oai", url, schedule),
        ("tbl-down", "http://127.0.0.1:9/oai", schedule),
        ("tbl-manual", url, None),
    )
    config = write_config(tmp_path, partners)

    first = pool("--json", "harvest", "--due", config=config)
    assert first.returncode == 1, first.stderr
    assert {s["source"]: s["status"] for s in json.loads(first.stdout)} == {
        "tbl-oai": "ok",
        "tbl-down": "failed",
    }

    second = pool("--json", "harvest", "--due", config=config)
    assert second.returncode == 1
    assert [s["source"] for s in json.loads(second.stdout)] == ["tbl-down"]
    assert "source=tbl-down url=http://127.0.0.1:9/oai run=" in second.stderr

    status = {row["source"]: row for row in pool_json("status", config=config)["sources"]}
    assert (status["tbl-oai"]["due"], status["tbl-down"]["due"]) == (False, True)
    assert status["tbl-oai"]["next_run"].endswith("+07:00")
    assert status["tbl-manual"]["next_run"] is None and status["tbl-manual"]["records"] == 0


def test_harvest_due_refuses_source_names_and_all(tmp_path: Path) -> None:
    """--due picks the sources itself: with --all it is a usage error, exit 2."""
    config = write_config(tmp_path, oai_partners())
    refused = pool("harvest", "--due", "--all", config=config)
    assert refused.returncode == 2
    assert "--due chooses the sources itself" in refused.stderr


# The service: pool schedule.


@pytest.mark.database
def test_schedule_list_shows_the_plan_and_start_brings_jobs_in_line(
    tmp_path: Path,
) -> None:
    """--list shows new, rescheduled, changed and removed jobs; a start applies exactly that."""
    db = database_for(tmp_path)
    folder = write_config(
        tmp_path / "config",
        oai_partners(
            ("una-oai", "http://127.0.0.1:9/a", "0 2 * * *"),
            ("sma1-oai", "http://127.0.0.1:9/b", "30 2 * * *"),
        ),
    )
    config = load_config(folder)
    settings = schedule_settings(config)
    listed = pool_json("schedule", "--list", config=folder, db=db)
    assert [(j["job"], j["state"]) for j in listed] == [
        ("source:una-oai", "new"),
        ("source:sma1-oai", "new"),
        ("nightly", "new"),
    ]
    assert listed[0]["next_run"].endswith("02:00:00+07:00")

    sync_jobs(db, settings, wanted_jobs(config, db, settings))
    write_config(
        folder,
        oai_partners(
            ("una-oai", "http://127.0.0.1:9/a", "0 3 * * *"),
            ("tbm-oai", "http://127.0.0.1:9/c", "0 4 * * *"),
        ),
        pool_toml("[schedule]\nmisfire_grace_time = 600\n"),
    )
    replanned = {
        j["job"]: j["state"] for j in pool_json("schedule", "--list", config=folder, db=db)
    }
    assert replanned == {
        "source:una-oai": "rescheduled",
        "source:tbm-oai": "new",
        "nightly": "changed",
        "source:sma1-oai": "removed",
    }

    config = load_config(folder)
    settings = schedule_settings(config)
    sync_jobs(db, settings, wanted_jobs(config, db, settings))
    with paused_scheduler(db, settings) as scheduler:
        stored = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(stored) == ["nightly", "source:tbm-oai", "source:una-oai"]
    assert stored["nightly"].misfire_grace_time == 600 and stored["nightly"].coalesce is True
    assert stored["source:una-oai"].next_run_time.hour == 3


@pytest.mark.database
def test_the_service_harvests_on_short_intervals_and_records_each_run(
    tmp_path: Path, server: OaiServer
) -> None:
    """`pool schedule --every 1` harvests two OAI-PMH sources again and again, logging JSON."""
    url = server.add("plain", SyntheticRepository(records=20, page_size=10))
    folder = quiet_config(
        tmp_path, oai_partners(("tbl-oai", url, "0 2 * * *"), ("una-oai", url, "0 3 * * *"))
    )
    db = database_for(tmp_path)

    def ran_twice() -> bool:
        return all(
            [s for s, _ in runs_of(db, name)].count("ok") >= 2 for name in ("tbl-oai", "una-oai")
        )

    with Child(
        "-v", "--log-format", "json", "schedule", "--every", "1", config=folder, db=db
    ) as service:
        service.wait_until(ran_twice, "two successful runs of each source")
        service.signal(signal.SIGTERM)
        assert service.finish() == 0

    events = service.events()
    loggers = {event["logger"] for event in events}
    assert {"resource_pool.schedule", "resource_pool.harvest"} <= loggers
    assert any(name.startswith("apscheduler") for name in loggers)
    assert any(e["message"].startswith("job source:tbl-oai done; next run") for e in events)
    assert any(
        e["message"] == "SIGTERM received: stopping after the page in flight" for e in events
    )
    for name in ("tbl-oai", "una-oai"):
        assert {status for status, _ in runs_of(db, name)} <= {"ok", "interrupted"}
    assert query(db, "SELECT count(*) FROM source_record")[0][0] == 40


@pytest.mark.database
def test_a_job_missed_while_the_service_was_down_runs_once_on_restart(
    tmp_path: Path, server: OaiServer
) -> None:
    """Three fire times missed while down: the restarted service harvests once (coalesced)."""
    url = server.add("plain", SyntheticRepository(records=20, page_size=10))
    now = datetime.now(JAKARTA).replace(second=0, microsecond=0)
    missed = [now - timedelta(minutes=n) for n in (3, 2, 1)]
    # Fires at those three minutes of every hour: the next time is nearly an hour away.
    schedule = ",".join(str(t.minute) for t in missed) + " * * * *"
    folder = quiet_config(tmp_path, oai_partners(("tbl-oai", url, schedule)))
    db = database_for(tmp_path)

    # The service ran before the first of those minutes, stored its job, and went down.
    config = load_config(folder)
    settings = schedule_settings(config)
    sync_jobs(db, settings, wanted_jobs(config, db, settings))
    with paused_scheduler(db, settings) as scheduler:
        scheduler.modify_job("source:tbl-oai", next_run_time=missed[0])

    with Child("-v", "--log-format", "json", "schedule", config=folder, db=db) as service:
        service.wait_until(lambda: service.logged("job source:tbl-oai done"), "the missed run")
        service.signal(signal.SIGTERM)
        assert service.finish() == 0

    assert runs_of(db, "tbl-oai") == [("ok", 2)]
    assert not service.logged("was missed by")
    [job] = plan_jobs(db, settings, wanted_jobs(config, db, settings))
    assert job.state == "scheduled"
    assert job.next_run is not None and job.next_run > datetime.now(JAKARTA)


@pytest.mark.database
def test_sigterm_during_a_scheduled_harvest_keeps_a_consistent_checkpoint(
    tmp_path: Path, server: OaiServer
) -> None:
    """SIGTERM mid-harvest: the page in flight is stored with its checkpoint, exit 0, and a
    rerun ends with the same catalogue as an uninterrupted harvest."""
    repository = SyntheticRepository(records=100, page_size=10)
    gate = GatedRepository(repository)
    reference = write_config(
        tmp_path / "reference", oai_partners(("tbl-oai", server.add("plain", repository), None))
    )
    reference_config = load_config(reference)
    engine = open_pool(database_for(reference))
    harvested = harvest_source(engine, reference_config, reference_config.source("tbl-oai"))
    engine.dispose()
    expected = catalogue(database_for(reference))
    assert harvested.status == "ok" and len(expected) == 100

    folder = quiet_config(
        tmp_path / "service", oai_partners(("tbl-oai", server.add("gated", gate), "0 2 * * *"))
    )
    db = database_for(folder)
    with Child("-v", "schedule", "--every", "1", config=folder, db=db) as service:
        gate.release(2)
        service.wait_until(lambda: any(p >= 2 for _, p in runs_of(db, "tbl-oai")), "two pages")
        service.signal(signal.SIGTERM)
        service.wait_until(lambda: service.logged("SIGTERM received"), "the signal's log line")
        gate.open()
        assert service.finish() == 0

    [(status, pages)] = runs_of(db, "tbl-oai")
    assert status == "interrupted" and 2 <= pages < 10
    checkpoint = json.loads(query(db, "SELECT checkpoint FROM source")[0][0])
    assert checkpoint, "the interrupted run left no checkpoint"
    assert len(catalogue(db)) == pages * 10

    rerun = pool_json("harvest", "tbl-oai", config=folder, db=db)[0]
    assert rerun["status"] == "ok" and rerun["added"] == 100 - pages * 10
    assert catalogue(db) == expected


# The nightly pipeline.


@pytest.mark.database
def test_nightly_runs_every_step_reports_each_and_fails_on_a_failed_source(
    tmp_path: Path, server: OaiServer
) -> None:
    """The nightly harvests what is due, recomputes flags and reports every step; a failing
    source fails the run (exit 1) without stopping the rest, and status shows it."""
    url = server.add("plain", SyntheticRepository(records=20, page_size=10))
    schedule = far_cron()
    folder = write_config(
        tmp_path,
        oai_partners(("tbl-oai", url, schedule), ("tbl-down", "http://127.0.0.1:9/oai", schedule)),
    )
    shutil.copyfile(ROOT / "config" / "flags.toml", folder / "flags.toml")

    first = pool("--json", "nightly", config=folder)
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    steps = {step["step"]: step for step in report["steps"]}
    assert list(steps) == ["harvest", "flags", "overdue", "export"]
    assert steps["harvest"]["status"] == "failed"
    assert "tbl-oai ok" in steps["harvest"]["detail"]
    assert "tbl-down failed" in steps["harvest"]["detail"]
    assert steps["flags"]["status"] == "ok"
    assert "flags recomputed for all 20 clusters" in steps["flags"]["detail"]
    assert steps["overdue"]["status"] in ("ok", "skipped")
    assert steps["export"]["status"] == "skipped"
    assert steps["export"]["detail"] == "no export targets: pool.toml has no [[export.targets]]"

    engine = open_pool(database_for(folder))
    nightly = nightly_status(engine, load_config(folder))
    engine.dispose()
    assert (nightly["last_status"], nightly["failed_steps"]) == ("failed", "harvest")
    assert nightly["next_run"].endswith("01:00:00+07:00")

    write_config(folder, oai_partners(("tbl-oai", url, schedule)))
    again = pool_json("nightly", config=folder)
    assert again["status"] == "ok"
    assert again["steps"][0]["detail"] == "nothing due"
    assert "flags recomputed for 0 clusters changed since" in again["steps"][1]["detail"]


@pytest.mark.database
def test_nightly_writes_each_export_target_and_one_failing_stops_no_other(
    tmp_path: Path, server: OaiServer
) -> None:
    """The export step writes every listed target; an unknown one fails alone, exit 1."""
    pytest.importorskip("resource_pool.export")
    url = server.add("plain", SyntheticRepository(records=20, page_size=10))
    exports = (
        '[[export.targets]]\nname = "vufind"\nformat = "marc"\nprofile = "vufind"\n'
        'path = "out/vufind.mrc"\n[nightly]\nexport_targets = ["nosuch", "vufind"]\n'
    )
    folder = write_config(tmp_path, oai_partners(("tbl-oai", url, far_cron())), pool_toml(exports))

    result = pool("--json", "nightly", config=folder)
    assert result.returncode == 1, result.stderr
    export = json.loads(result.stdout)["steps"][3]
    assert export["status"] == "failed"
    assert "nosuch failed: no export target named 'nosuch'" in export["detail"]
    assert "vufind: " in export["detail"] and "records 20" in export["detail"]
    assert (folder / "out" / "vufind.mrc").stat().st_size > 0


def test_a_missing_optional_part_is_reported_absent_and_a_broken_one_is_not_hidden() -> None:
    """A module or function that is not installed gives None; an import error inside raises."""
    assert optional_callable("resource_pool.no_such_part", "run") is None
    assert optional_callable("resource_pool.harvest", "no_such_function") is None
    assert optional_callable("resource_pool.harvest", "harvest_source") is not None
    with pytest.raises(ModuleNotFoundError):
        optional_callable("tests.no_such_package.part", "run")
