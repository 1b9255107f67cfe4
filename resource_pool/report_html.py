"""The forum report as one self-contained HTML page, its charts drawn as inline SVG.

The page loads nothing: no scripts, no style sheets, no fonts, no images from
elsewhere, so it opens from a USB stick or a mail attachment. Every value from
the database (pool, partner and source names) is escaped; every label goes
through `_()` at render time, so the page speaks the language chosen then.
Numbers are written plainly (1234, not 1,234 or 1.234) and days as
YYYY-MM-DD, which read the same in English and Indonesian.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from resource_pool.forum_report import ForumFigures, GrowthSeries, HealthDay, PartnerLoans
from resource_pool.i18n import _, current_language

# Muted, distinguishable hues; partners keep the same colour in every chart.
PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)
INK, MUTED, GRID = "#22303c", "#5b6b78", "#e3e8ec"
OK, WARN, BAD, EMPTY = "#cfe8d5", "#f6dfa8", "#f1b9b5", "#f4f6f8"
WIDTH = 560
HEALTH_COLUMNS = 30
"""The harvest grid shows the latest days with activity, at most this many."""


@dataclass(frozen=True)
class Series:
    """One set of bars or one line: its legend label, colour and values."""

    label: str
    colour: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Line:
    """One line of a line chart: its legend label, colour and (day, value) points."""

    label: str
    colour: str
    points: Sequence[tuple[str, int]]


def esc(value: object) -> str:
    """Text safe inside HTML and SVG, quotes included."""
    return html.escape(str(value), quote=True)


def plain(value: float | None) -> str:
    """A count without thousands separators; a dash for no value."""
    return "–" if value is None else str(round(value))


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def render_report(figures: ForumFigures) -> str:
    """The whole page for `figures`."""
    sections = [
        _catalogue_section(figures),
        _growth_section(figures),
        _overlap_section(figures),
        _flags_section(figures),
        _health_section(figures),
        _loans_section(figures),
    ]
    title = _("{pool}: report for the partners' forum").format(pool=figures.pool_name)
    return (
        f'<!DOCTYPE html>\n<html lang="{esc(current_language())}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{_header(figures)}\n<main>\n{''.join(sections)}</main>\n{_footer(figures)}\n"
        "</body>\n</html>\n"
    )


def _header(figures: ForumFigures) -> str:
    if figures.since:
        period = _("Activity since {day}; the catalogue as it stands.").format(day=figures.since)
    else:
        period = _("All activity recorded; the catalogue as it stands.")
    tiles = [
        (_("Partners"), len(figures.partners)),
        (_("Records"), figures.records),
        (_("Clusters"), figures.clusters),
        (_("Requests"), figures.requests),
    ]
    tile_html = "".join(
        f'<div class="tile"><span class="number">{plain(value)}</span>'
        f'<span class="label">{esc(label)}</span></div>'
        for label, value in tiles
    )
    # Messages outside the f-strings: the extractor does not look inside them.
    kicker = _("Report for the partners forum")
    made = _("Made on {time}.").format(time=figures.generated)
    return (
        f'<header>\n<p class="kicker">{esc(kicker)}</p>\n'
        f"<h1>{esc(figures.pool_name)}</h1>\n"
        f'<p class="period">{esc(period)} {esc(made)}</p>\n'
        f'<div class="tiles">{tile_html}</div>\n</header>'
    )


def _footer(figures: ForumFigures) -> str:
    command = "pool report --out FILE.html" + (f" --since {figures.since}" if figures.since else "")
    made = _("Made with {command}. Times are UTC.").format(command=command)
    return f"<footer>{esc(made)}</footer>"


def _section(anchor: str, title: str, intro: str, *parts: str) -> str:
    return (
        f'<section id="{anchor}">\n<h2>{esc(title)}</h2>\n<p class="intro">{esc(intro)}</p>\n'
        f'<div class="grid">{"".join(parts)}</div>\n</section>\n'
    )


def _card(content: str, wide: bool = False) -> str:
    return f'<div class="card{" wide" if wide else ""}">{content}</div>'


def _colours(codes: Sequence[str]) -> dict[str, str]:
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(codes)}


# Sections


def _catalogue_section(figures: ForumFigures) -> str:
    partners = figures.partners
    chart = bar_chart(
        _("Records and clusters by partner"),
        [p.code for p in partners],
        [
            Series(_("Records"), PALETTE[0], [p.records for p in partners]),
            Series(_("Clusters held"), PALETTE[9], [p.clusters for p in partners]),
        ],
        _("Number of records or clusters"),
    )
    table = data_table(
        [_("Partner"), _("Name"), _("Records"), _("Clusters held"), _("Only here")],
        [
            [p.code, p.name, plain(p.records), plain(p.clusters), plain(p.unique_clusters)]
            for p in partners
        ],
    )
    return _section(
        "catalogue",
        _("The catalogue by partner"),
        _(
            "A record is one partner's description of an item; a cluster is one edition "
            "in the union catalogue, gathering the records that describe it."
        ),
        _card(chart),
        _card(table),
    )


def _growth_section(figures: ForumFigures) -> str:
    colours = _colours([p.code for p in figures.partners])
    records = line_chart(
        _("Records by partner over time"),
        [_line(series, colours[series.name]) for series in figures.growth],
        _("Records (running total)"),
    )
    clusters = line_chart(
        _("Clusters in the union catalogue over time"),
        [_line(figures.cluster_growth, PALETTE[9], _("Clusters"))],
        _("Clusters (running total)"),
    )
    return _section(
        "growth",
        _("How the catalogue grew"),
        _(
            "Records still in the catalogue, counted on the day the pool first saw them; "
            "clusters on the day they were made."
        ),
        _card(records),
        _card(clusters),
    )


def _line(series: GrowthSeries, colour: str, label: str | None = None) -> Line:
    return Line(label or series.name, colour, series.points)


def _overlap_section(figures: ForumFigures) -> str:
    overlap = figures.overlap
    matrix = heatmap(
        _("Clusters shared by each pair of partners"),
        overlap.partners,
        overlap.shared,
    )
    unique = bar_chart(
        _("Titles only one partner holds"),
        [p.code for p in figures.partners],
        [
            Series(
                _("Clusters held by this partner alone"),
                PALETTE[1],
                [p.unique_clusters for p in figures.partners],
            )
        ],
        _("Number of clusters"),
    )
    return _section(
        "overlap",
        _("Overlap between the partners' collections"),
        _(
            "Each cell counts the clusters both partners hold; the diagonal, in grey, is "
            "what each partner holds in all. The darker the cell, the larger the overlap."
        ),
        _card(matrix),
        _card(unique),
    )


def _flags_section(figures: ForumFigures) -> str:
    partners = figures.partners
    chart = bar_chart(
        _("Rare materials and online courses by partner"),
        [p.code for p in partners],
        [
            Series(_("Rare materials"), PALETTE[3], [p.rare for p in partners]),
            Series(_("Online courses"), PALETTE[2], [p.online_courses for p in partners]),
        ],
        _("Number of clusters"),
    )
    table = data_table(
        [_("Partner"), _("Rare materials"), _("Online courses")],
        [[p.code, plain(p.rare), plain(p.online_courses)] for p in partners],
    )
    return _section(
        "flags",
        _("Rare materials and online courses"),
        _(
            "Clusters each partner holds that the flag rules mark as rare (manuscripts, old "
            "prints, special collections) or as an online course."
        ),
        _card(chart),
        _card(table),
    )


def _health_section(figures: ForumFigures) -> str:
    sources = figures.sources
    bars = bar_chart(
        _("Harvest runs and rejected records by source"),
        [s.source for s in sources],
        [
            Series(_("Runs"), PALETTE[0], [s.runs for s in sources]),
            Series(_("Failed runs"), PALETTE[3], [s.failed_runs for s in sources]),
            Series(_("Rejected records"), PALETTE[8], [s.rejected_records for s in sources]),
        ],
        _("Number of runs or records"),
    )
    grid = health_grid(_("Harvests by source and day"), [s.source for s in sources], figures.health)
    table = data_table(
        [_("Source"), _("Partner"), _("Runs"), _("Failed"), _("Rejected"), _("Last run")],
        [
            [
                s.source,
                s.partner,
                plain(s.runs),
                plain(s.failed_runs),
                plain(s.rejected_records),
                _last_run(s.last_run, s.last_status),
            ]
            for s in sources
        ],
    )
    return _section(
        "harvest",
        _("Harvest health"),
        _(
            "Every harvest run per source, the runs that failed, and the records that could "
            "not be read (see pool rejects)."
        ),
        _card(bars),
        _card(table),
        _card(grid, wide=True),
    )


def _loans_section(figures: ForumFigures) -> str:
    loans = figures.loans
    codes = [row.code for row in loans]
    exchange = bar_chart(
        _("Lent and borrowed by partner"),
        codes,
        [
            Series(_("Lent"), PALETTE[0], [row.lent for row in loans]),
            Series(_("Borrowed"), PALETTE[1], [row.borrowed for row in loans]),
        ],
        _("Loans and copies supplied"),
    )
    fill = bar_chart(
        _("Fill rate by partner"),
        codes,
        [Series(_("Supplied when asked"), PALETTE[2], [row.fill_rate for row in loans])],
        _("Share of requests supplied when asked"),
        value_text=percent,
        maximum=1.0,
    )
    turnaround = bar_chart(
        _("Median turnaround by partner"),
        codes,
        [Series(_("Hours from asked to supplied"), PALETTE[4], [_hours(row) for row in loans])],
        _("Hours"),
    )
    table = data_table(
        [
            _("Partner"),
            _("Requested"),
            _("Borrowed"),
            _("Asked"),
            _("Lent"),
            _("Unfilled"),
            _("Fill rate"),
            _("Median hours"),
        ],
        [
            [
                row.code,
                plain(row.requested),
                plain(row.borrowed),
                plain(row.asked),
                plain(row.lent),
                plain(row.unfilled),
                percent(row.fill_rate),
                plain(_hours(row)),
            ]
            for row in loans
        ],
    )
    return _section(
        "loans",
        _("Loans between partners"),
        _(
            "Loans shipped and copies delivered. The fill rate is what a partner supplied out "
            "of the times the pool asked it; the turnaround runs from the pool asking to the "
            "lender shipping or delivering."
        ),
        _card(exchange),
        _card(fill),
        _card(turnaround),
        _card(table),
    )


def _last_run(when: str | None, status: str | None) -> str:
    if when is None:
        return "–"
    # The statuses ("ok", "failed") are marked for the catalogue in cli.status_labels;
    # gettext("") would give the catalogue's header, so no status means none shown.
    return f"{when} ({_(status)})" if status else when


def _hours(row: PartnerLoans) -> float | None:
    days = row.median_turnaround_days
    return None if days is None else days * 24


# Charts


def _svg(width: int, height: int, title: str, description: str, body: str) -> str:
    """An SVG image with its title and description, which screen readers announce."""
    ident = f"chart-{abs(hash((title, description))) % 10**8}"
    return (
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" role="img" aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{esc(title)}</title>'
        f'<desc id="{ident}-d">{esc(description)}</desc>{body}</svg>'
        f"<figcaption>{esc(title)}</figcaption></figure>"
    )


def _legend(series: Sequence[Series | Line], x: float, y: float) -> str:
    parts, left = [], x
    for item in series:
        parts.append(
            f'<rect x="{left}" y="{y - 9}" width="12" height="12" rx="2" fill="{item.colour}"/>'
            f'<text x="{left + 17}" y="{y + 1}" class="legend">{esc(item.label)}</text>'
        )
        left += 30 + 7 * len(item.label)
    return "".join(parts)


def axis_ticks(value: float, whole: bool = True) -> list[float]:
    """Ticks from 0 to at least `value`, about five, spaced 1, 2 or 5 times a power of ten.

    Counts get whole-number steps only, so an axis never shows half a record.
    """
    if value <= 0:
        return [0.0, 1.0]
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if rough <= m * power)
    if whole:
        step = max(1, math.ceil(step))
    count = math.ceil(value / step - 1e-9)
    return [step * i for i in range(count + 1)]


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    axis_label: str,
    value_text: Callable[[float | None], str] = plain,
    maximum: float | None = None,
) -> str:
    """Horizontal bars, one group per category, one bar per series."""
    bar, gap, left, top = 14, 12, 118, 34
    group = bar * len(series) + gap
    height = top + group * max(len(categories), 1) + 44
    plot = WIDTH - left - 54
    values = [v for item in series for v in item.values if v is not None]
    ticks = axis_ticks(maximum or max(values, default=0), whole=maximum is None)
    scale = plot / ticks[-1]

    parts = [_legend(series, left, 16), _x_ticks(left, top, plot, ticks, height - 40, value_text)]
    for row, category in enumerate(categories):
        y = top + row * group + gap / 2
        parts.append(
            f'<text x="{left - 8}" y="{y + group / 2 - gap / 2 + 4}" text-anchor="end" '
            f'class="category">{esc(_shorten(category, 16))}<title>{esc(category)}</title></text>'
        )
        for index, item in enumerate(series):
            value = item.values[row]
            length = 0 if value is None else max(value * scale, 0)
            bar_y = y + index * bar
            tooltip = f"{category}, {item.label}: {value_text(value)}"
            # A zero needs no label beside a bar that is not there; the table has it.
            label = "" if value == 0 else esc(value_text(value))
            parts.append(
                f'<rect x="{left}" y="{bar_y}" width="{length:.1f}" height="{bar - 2}" '
                f'fill="{item.colour}" rx="2"><title>{esc(tooltip)}</title></rect>'
                f'<text x="{left + length + 4:.1f}" y="{bar_y + bar - 4}" class="value">'
                f"{label}</text>"
            )
    parts.append(
        f'<text x="{left + plot / 2}" y="{height - 8}" text-anchor="middle" class="axis">'
        f"{esc(axis_label)}</text>"
    )
    description = "; ".join(
        f"{category}: "
        + ", ".join(f"{item.label} {value_text(item.values[row])}" for item in series)
        for row, category in enumerate(categories)
    )
    return _svg(WIDTH, height, title, description, "".join(parts))


def _x_ticks(
    left: float,
    top: float,
    plot: float,
    ticks: Sequence[float],
    bottom: float,
    value_text: Callable[[float | None], str],
) -> str:
    parts = []
    for value in ticks:
        x = left + plot * value / ticks[-1]
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" class="tick">'
            f"{esc(value_text(value))}</text>"
        )
    return "".join(parts)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def line_chart(title: str, lines: Sequence[Line], axis_label: str) -> str:
    """Running totals as steps over a true time scale, one line per series."""
    left, top, bottom = 62, 34, 52
    plot_width, plot_height = WIDTH - left - 44, 200
    height = top + plot_height + bottom
    days = sorted({day for line in lines for day, _total in line.points})
    if not days:
        nothing = _("Nothing yet.")
        empty = f'<text x="{left}" y="{top + 20}" class="axis">{esc(nothing)}</text>'
        return _svg(WIDTH, height, title, nothing, empty)

    first, last = _ordinal(days[0]), _ordinal(days[-1])
    if first == last:
        first, last = first - 1, last + 1
    ticks = axis_ticks(max(total for line in lines for _day, total in line.points))
    end = ticks[-1]

    def x_of(day: str) -> float:
        return left + plot_width * (_ordinal(day) - first) / (last - first)

    def y_of(value: float) -> float:
        return top + plot_height * (1 - value / end)

    day_label = _("Day (UTC)")
    parts = [_legend(lines, left, 16), _y_ticks(left, plot_width, ticks, y_of)]
    parts.append(_day_ticks(first, last, left, plot_width, top + plot_height))
    for line in lines:
        parts.append(_step_path(line, days[0], days[-1], x_of, y_of))
    parts.append(
        f'<text transform="translate(14,{top + plot_height / 2}) rotate(-90)" '
        f'text-anchor="middle" class="axis">{esc(axis_label)}</text>'
        f'<text x="{left + plot_width / 2}" y="{height - 8}" text-anchor="middle" class="axis">'
        f"{esc(day_label)}</text>"
    )
    description = "; ".join(
        f"{line.label}: " + ", ".join(f"{day} {plain(total)}" for day, total in line.points[-6:])
        for line in lines
    )
    return _svg(WIDTH, height, title, description, "".join(parts))


def _y_ticks(
    left: float, plot_width: float, ticks: Sequence[float], y_of: Callable[[float], float]
) -> str:
    parts = []
    for value in ticks:
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="tick">{plain(value)}</text>'
        )
    return "".join(parts)


def _day_ticks(first: int, last: int, left: float, plot_width: float, base: float) -> str:
    ordinals = sorted({round(first + (last - first) * step / 4) for step in range(5)})
    parts = [
        f'<line x1="{left}" y1="{base}" x2="{left + plot_width}" y2="{base}" stroke="{MUTED}"/>'
    ]
    for ordinal in ordinals:
        x = left + plot_width * (ordinal - first) / (last - first)
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{base + 18}" text-anchor="middle" class="tick">'
            f"{date.fromordinal(ordinal).isoformat()}</text>"
        )
    return "".join(parts)


def _step_path(
    line: Line,
    first_day: str,
    last_day: str,
    x_of: Callable[[str], float],
    y_of: Callable[[float], float],
) -> str:
    """A running total holds until the next day it changes: a step, not a slope.

    A series that starts later than the others starts from zero, and every
    series carries its last total on to the last day shown.
    """
    points = list(line.points)
    if not points:
        return ""
    if points[0][0] > first_day:
        points.insert(0, (first_day, 0))
    path = f"M{x_of(points[0][0]):.1f},{y_of(points[0][1]):.1f}"
    for day, total in points[1:]:
        path += f" H{x_of(day):.1f} V{y_of(total):.1f}"
    path += f" H{x_of(last_day):.1f}"
    markers = "".join(
        f'<circle cx="{x_of(day):.1f}" cy="{y_of(total):.1f}" r="3" fill="{line.colour}">'
        f"<title>{esc(f'{line.label}, {day}: {plain(total)}')}</title></circle>"
        for day, total in line.points
    )
    return (
        f'<path d="{path}" fill="none" stroke="{line.colour}" stroke-width="2.2" '
        f'stroke-linejoin="round"/>{markers}'
    )


def heatmap(title: str, partners: Sequence[str], shared: Sequence[Sequence[int]]) -> str:
    """The partner-by-partner matrix; shade grows with the share, the diagonal in grey."""
    cell, left, top = 58, 70, 40
    size = max(len(partners), 1)
    width = left + cell * size + 20
    height = top + cell * size + 20
    off_diagonal = [
        shared[i][j] for i in range(len(partners)) for j in range(len(partners)) if i != j
    ]
    strongest = max(off_diagonal, default=0) or 1

    parts = []
    for j, code in enumerate(partners):
        parts.append(
            f'<text x="{left + cell * j + cell / 2}" y="{top - 10}" text-anchor="middle" '
            f'class="category">{esc(_shorten(code, 8))}<title>{esc(code)}</title></text>'
        )
    for i, row_code in enumerate(partners):
        y = top + cell * i
        parts.append(
            f'<text x="{left - 8}" y="{y + cell / 2 + 4}" text-anchor="end" class="category">'
            f"{esc(_shorten(row_code, 8))}<title>{esc(row_code)}</title></text>"
        )
        for j, column_code in enumerate(partners):
            value = shared[i][j]
            fill, ink = _shade(value / strongest) if i != j else (EMPTY, "cell")
            if i == j:
                tooltip = _("{partner} holds {count} clusters").format(
                    partner=row_code, count=value
                )
            else:
                tooltip = _("{one} and {other} share {count} clusters").format(
                    one=row_code, other=column_code, count=value
                )
            parts.append(
                f'<rect x="{left + cell * j}" y="{y}" width="{cell - 3}" height="{cell - 3}" '
                f'rx="3" fill="{fill}"><title>{esc(tooltip)}</title></rect>'
                f'<text x="{left + cell * j + (cell - 3) / 2}" y="{y + cell / 2 + 3}" '
                f'text-anchor="middle" class="{ink}">{plain(value)}</text>'
            )
    description = "; ".join(
        f"{partners[i]}–{partners[j]}: {shared[i][j]}"
        for i in range(len(partners))
        for j in range(i + 1, len(partners))
    )
    return _svg(width, height, title, description, "".join(parts))


def _shade(share: float) -> tuple[str, str]:
    """A blue from pale to deep for a share of 0 to 1, and the text class that reads on it."""
    pale, deep = (232, 240, 248), (37, 82, 140)
    rgb = tuple(round(p + (d - p) * share) for p, d in zip(pale, deep, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb), "cell light" if share > 0.55 else "cell"


def health_grid(title: str, sources: Sequence[str], days: Sequence[HealthDay]) -> str:
    """Sources by day: green when every run went well, amber with rejects, red on failure."""
    columns = sorted({day.day for day in days})[-HEALTH_COLUMNS:]
    cells = {(day.source, day.day): day for day in days}
    # Room above the grid for a legend of two rows and the slanted day labels.
    left, top = 130, 112
    cell_width = min(56, (1160 - left - 20) / max(len(columns), 1))
    width = max(WIDTH, round(left + cell_width * len(columns) + 20))
    cell_height = 26
    height = top + cell_height * max(len(sources), 1) + 40

    parts = [_health_legend(12, width - 12)]
    for j, day in enumerate(columns):
        x = left + cell_width * j + cell_width / 2
        parts.append(
            f'<text transform="translate({x:.1f},{top - 8}) rotate(-50)" class="tick">'
            f"{esc(day)}</text>"
        )
    for i, source in enumerate(sources):
        y = top + cell_height * i
        parts.append(
            f'<text x="{left - 8}" y="{y + cell_height / 2 + 4}" text-anchor="end" '
            f'class="category">{esc(_shorten(source, 18))}<title>{esc(source)}</title></text>'
        )
        for j, day in enumerate(columns):
            parts.append(
                _health_cell(
                    cells.get((source, day)),
                    left + cell_width * j,
                    y,
                    cell_width,
                    cell_height,
                    source,
                    day,
                )
            )
    if not columns:
        nothing = _("No harvests in this period.")
        parts.append(f'<text x="{left}" y="{top + 16}" class="axis">{esc(nothing)}</text>')
    description = "; ".join(
        f"{d.source} {d.day}: "
        + _("runs {runs}, failed {failed}, rejected {rejected}").format(
            runs=d.runs, failed=d.failed_runs, rejected=d.rejected_records
        )
        for d in days
        if d.day in columns
    )
    return _svg(width, height, title, description, "".join(parts))


def _health_legend(left: float, right: float) -> str:
    """The four colours of the grid, wrapping to a second row rather than past `right`."""
    keys = [
        (OK, _("All runs ended well")),
        (WARN, _("Records rejected")),
        (BAD, _("A run failed")),
        (EMPTY, _("No run")),
    ]
    parts, x, y = [], left, 7
    for fill, label in keys:
        needed = 34 + 7 * len(label)
        if x > left and x + needed > right:
            x, y = left, y + 22
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" rx="2" fill="{fill}" stroke="{GRID}"/>'
            f'<text x="{x + 17}" y="{y + 10}" class="legend">{esc(label)}</text>'
        )
        x += needed
    return "".join(parts)


def _health_cell(
    day: HealthDay | None, x: float, y: float, width: float, height: float, source: str, when: str
) -> str:
    if day is None:
        fill, text = EMPTY, ""
    elif day.failed_runs:
        fill, text = BAD, str(day.runs)
    elif day.rejected_records:
        fill, text = WARN, str(day.runs)
    else:
        fill, text = OK, str(day.runs)
    runs, failed, rejected = (day.runs, day.failed_runs, day.rejected_records) if day else (0, 0, 0)
    tooltip = f"{source} {when}: " + _("runs {runs}, failed {failed}, rejected {rejected}").format(
        runs=runs, failed=failed, rejected=rejected
    )
    label = (
        f'<text x="{x + (width - 3) / 2:.1f}" y="{y + height / 2 + 3}" text-anchor="middle" '
        f'class="cell">{text}</text>'
        if width >= 18
        else ""
    )
    return (
        f'<rect x="{x:.1f}" y="{y}" width="{width - 3:.1f}" height="{height - 3}" rx="2" '
        f'fill="{fill}"><title>{esc(tooltip)}</title></rect>{label}'
    )


# Tables


def data_table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The figures behind a chart, for print and for screen readers."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headings)
    body = "".join("<tr>" + "".join(_table_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _table_cell(value: str) -> str:
    numeric = value.replace("%", "").isdigit() or value == "–"
    return f'<td class="num">{esc(value)}</td>' if numeric else f"<td>{esc(value)}</td>"


def _ordinal(day: str) -> int:
    return date.fromisoformat(day).toordinal()


STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7f9; color: #22303c;
  font: 15px/1.5 system-ui, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
.kicker { margin: 0; color: #5b6b78; text-transform: uppercase; letter-spacing: .06em;
  font-size: 13px; }
h1 { margin: 4px 0 2px; font-size: 28px; font-weight: 650; }
.period { margin: 0 0 18px; color: #5b6b78; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; }
.tile { background: #fff; border: 1px solid #e3e8ec; border-radius: 8px; padding: 12px 16px; }
.tile .number { display: block; font-size: 26px; font-weight: 650;
  font-variant-numeric: tabular-nums; }
.tile .label { color: #5b6b78; font-size: 13px; }
section { margin-top: 30px; }
h2 { font-size: 20px; font-weight: 650; margin: 0 0 2px; }
.intro { margin: 0 0 12px; color: #5b6b78; max-width: 80ch; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; align-items: start; }
.card { background: #fff; border: 1px solid #e3e8ec; border-radius: 8px; padding: 14px 16px; }
.card.wide { grid-column: 1 / -1; }
figure { margin: 0; }
figcaption { position: absolute; left: -9999px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { fill: #22303c; font-size: 12px; font-family: inherit; }
svg .legend { font-size: 12.5px; }
svg .tick, svg .value { fill: #5b6b78; font-size: 11px; font-variant-numeric: tabular-nums; }
svg .axis { fill: #5b6b78; font-size: 12px; }
svg .category { font-size: 12.5px; font-weight: 600; }
svg .cell { font-size: 12.5px; font-weight: 600; font-variant-numeric: tabular-nums; }
svg .cell.light { fill: #fff; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th { text-align: left; color: #5b6b78; font-weight: 600; border-bottom: 2px solid #e3e8ec;
  padding: 5px 8px; }
td { border-bottom: 1px solid #eef1f4; padding: 5px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { color: #5b6b78; font-size: 13px; padding-top: 24px; padding-bottom: 32px; }
@media (max-width: 900px) { .grid, .tiles { grid-template-columns: 1fr 1fr; }
  .grid { grid-template-columns: 1fr; } }
@media print {
  @page { size: A4; margin: 14mm; }
  body { background: #fff; font-size: 11pt; }
  header, main, footer { max-width: none; padding: 0; }
  .card, .tile { border-color: #ccd3d9; break-inside: avoid; }
  section { break-inside: avoid-page; }
  .grid { grid-template-columns: 1fr 1fr; }
}
"""
