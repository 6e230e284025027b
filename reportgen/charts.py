"""Chart specs (plotly figures as JSON): written next to each page, drawn by docs/javascripts/charts.js.

A chart is never inlined as HTML: the page holds `<div class="rg-chart"
data-src="NAME.json">` and a download link to the same file, so the data
behind every chart can be taken away, and plotly.js is loaded once per site.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path

import plotly.graph_objects as go

from .measuring.native import POOL_NAMES
from .units import f_bytes, f_ops, f_size, f_spct

_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), height=380,
               font=dict(family="Roboto, Helvetica, Arial, sans-serif", size=13))


# a value axis whose values span this factor or more is drawn on a log scale (a step of many times
# would flatten every other point against the axis)
LOG_SCALE_SPAN = 16
# the colours of a decided step (the verdict's direction), as the pages' status colours
STEP_COLOURS = {"slower": "#d32f2f", "faster": "#388e3c"}


def _fig(title: str, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **{**_LAYOUT, **layout})
    return fig


def throughput(bench: dict, title: str) -> go.Figure | None:
    """Median with its 95% CI (error bar) per allocator, and every run as a point."""
    rows = [r for r in bench.get("results") or [] if r.get("samples")]
    if not rows:
        return None
    fig = _fig(title, yaxis_title="M ops/s (higher is faster)", showlegend=True,
               legend=dict(orientation="h", y=-0.18))
    names = [r["variant"] for r in rows]
    med = [r["median"] / 1e6 for r in rows]
    lo = [(r["median"] - r["ci95"][0]) / 1e6 if r.get("ci95") else 0 for r in rows]
    hi = [(r["ci95"][1] - r["median"]) / 1e6 if r.get("ci95") else 0 for r in rows]
    fig.add_trace(go.Bar(x=names, y=med, name="median, 95% CI",
                         error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo),
                         marker_color="rgba(63, 81, 181, 0.55)"))
    xs, ys, text = [], [], []
    for r in rows:
        for i, s in enumerate(r["samples"]):
            xs.append(r["variant"])
            ys.append(s / 1e6)
            text.append(f"run {i + 1}")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="every run", text=text,
                             marker=dict(color="#e91e63", size=7, line=dict(width=1, color="white"))))
    return fig


def time_memory(bench: dict, title: str) -> go.Figure | None:
    """Each allocator one point: its peak RSS growth (x, median over sessions with its 95% CI) against its
    throughput (y, median with its 95% CI), as allocator papers plot the trade."""
    rows = [r for r in bench.get("results") or []
            if r.get("samples") and (r.get("memory") or {}).get("peak_rss_bytes") is not None]
    if not rows:
        return None
    fig = _fig(title, xaxis_title="peak RSS added (MiB; lower uses less)", yaxis_title="M ops/s (higher is faster)")
    for r in rows:
        m, mib = r["memory"], 2 ** 20
        x, y = m["peak_rss_bytes"] / mib, r["median"] / 1e6
        xci, yci = m.get("peak_rss_ci95_bytes"), r.get("ci95")
        fig.add_trace(go.Scatter(
            x=[x], y=[y], mode="markers+text", text=[r["variant"]], textposition="top center", name=r["variant"],
            error_x=dict(type="data", symmetric=False, array=[xci[1] / mib - x if xci else 0],
                         arrayminus=[x - xci[0] / mib if xci else 0]),
            error_y=dict(type="data", symmetric=False, array=[yci[1] / 1e6 - y if yci else 0],
                         arrayminus=[y - yci[0] / 1e6 if yci else 0]),
            marker=dict(size=10)))
    return fig


def rss_over_loops(bench: dict, title: str) -> go.Figure | None:
    """RSS added after each timed loop of a session (median over sessions), per allocator: a leak or a
    retention rises, memory that is returned stays flat."""
    rows = [r for r in bench.get("results") or [] if len((r.get("memory") or {}).get("rss_by_round") or []) >= 2]
    if not rows:
        return None
    fig = _fig(title, xaxis_title="timed loop of the session", yaxis_title="RSS added (MiB)",
               legend=dict(orientation="h", y=-0.18))
    for r in rows:
        ys = [v / 2 ** 20 for v in r["memory"]["rss_by_round"]]
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines+markers", name=r["variant"]))
    return fig


def sweep(rows: dict, title: str) -> go.Figure | None:
    """A sweep's speed-up of the candidate against the parameter, with each point's 95% CI; the claim,
    when the phase makes one, as a band (kinds.sweep.page_rows gives `rows`)."""
    pts = [p for p in rows.get("points") or [] if p.get("speedup") is not None and p.get("ci95")]
    if not pts:
        return None
    xs = [p["value"] for p in pts]
    log = max(xs) / max(min(xs), 1) >= LOG_SCALE_SPAN
    fig = _fig(title, xaxis_title=rows["param"] + (" (log scale)" if log else ""),
               yaxis_title=f"speed-up of {rows['candidate']} over {rows['baseline']}", yaxis_tickformat="+.0%",
               xaxis_type="log" if log else "linear", legend=dict(orientation="h", y=-0.2))
    if rows.get("claim"):
        lo, hi = rows["claim"]
        fig.add_hrect(y0=lo, y1=hi, fillcolor="rgba(233, 30, 99, 0.12)", line_width=0,
                      annotation_text="claimed", annotation_position="top left")
    fig.add_hline(y=0, line_color="#999", line_width=1)
    ys = [p["speedup"] for p in pts]
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="lines+markers", name=f"{rows['candidate']} against {rows['baseline']}, 95% CI",
        text=[p.get("verdict") or "" for p in pts],
        error_y=dict(type="data", symmetric=False, array=[p["ci95"][1] - y for p, y in zip(pts, ys)],
                     arrayminus=[y - p["ci95"][0] for p, y in zip(pts, ys)]),
        marker=dict(size=9)))
    mem = [p for p in pts if p.get("peak_rss") is not None and p.get("peak_rss_ci95")]
    if mem:       # memory against the same parameter: the candidate's peak RSS over the baseline's
        fig.update_layout(yaxis2=dict(title="peak RSS ratio", overlaying="y", side="right", showgrid=False))
        fig.add_trace(go.Scatter(
            x=[p["value"] for p in mem], y=[p["peak_rss"] for p in mem], yaxis="y2", mode="lines+markers",
            name="peak RSS ratio, 95% CI", line=dict(dash="dot"),
            error_y=dict(type="data", symmetric=False, array=[p["peak_rss_ci95"][1] - p["peak_rss"] for p in mem],
                         arrayminus=[p["peak_rss"] - p["peak_rss_ci95"][0] for p in mem])))
    return fig


def routing(route: dict, title: str) -> go.Figure | None:
    """Each pool's share of the workload by count, by bytes and by time."""
    pools = route.get("pools") or {}
    if not pools:
        return None
    fig = _fig(title, barmode="group", yaxis_title="share", yaxis_tickformat=".0%",
               legend=dict(orientation="h", y=-0.18))
    names = [p for p in POOL_NAMES if p in pools] + [p for p in pools if p not in POOL_NAMES]
    for field, label in (("count_share", "by count"), ("byte_share", "by bytes"), ("time_share", "by time")):
        ys = [pools[p].get(field) for p in names]
        if any(y is not None for y in ys):          # a withheld time share draws no bar at all
            fig.add_trace(go.Bar(x=names, y=ys, name=label))
    return fig


def header_cost(hc: dict, title: str) -> go.Figure | None:
    """ns per free with and without the header load against the working set; caches marked.

    Solid lines: the dependent chain (the load's latency, nothing overlaps);
    dashed: independent frees (loads may overlap, as they often do in a program).
    """
    rows = [r for r in hc.get("time") or [] if r.get("ns_with_header") is not None]
    if not rows:
        return None
    fig = _fig(title, xaxis_type="log", xaxis_title="working set (bytes, log scale)",
               yaxis_title="ns per free", legend=dict(orientation="h", y=-0.22), height=420)
    ws = [r["working_set_bytes"] for r in rows]
    series = [("with the header read (dependent)", [r["ns_with_header"] for r in rows], "#3f51b5", "solid"),
              ("without (dependent)", [r["ns_without_header"] for r in rows], "#ff5722", "solid")]
    if all(r.get("independent") for r in rows):
        series += [("with the header read (independent)", [r["independent"]["with"] for r in rows], "#3f51b5",
                    "dash"),
                   ("without (independent)", [r["independent"]["without"] for r in rows], "#ff5722", "dash")]
    for name, ys, color, dash in series:
        fig.add_trace(go.Scatter(x=ws, y=ys, mode="lines+markers", name=name,
                                 line=dict(color=color, dash=dash)))
    for name, size in (hc.get("caches") or {}).items():
        if name.endswith("i") or not size:
            continue  # the instruction cache says nothing about data working sets
        # A vertical line in data coordinates; its label is placed by hand because an
        # annotation on a log axis takes log10(x) (add_vline's own label lands off-chart).
        fig.add_shape(type="line", x0=size, x1=size, yref="paper", y0=0, y1=1,
                      line=dict(dash="dot", color="#888"))
        fig.add_annotation(x=math.log10(size), yref="paper", y=1.0, yanchor="bottom", showarrow=False,
                           text=f"{name} {f_bytes(size)}", font=dict(size=11, color="#666"))
    return fig


def history(points: list[dict], title: str) -> go.Figure | None:
    """Each phase's headline allocator on its headline workload, oldest phase first."""
    pts = [p for p in points if p.get("median") is not None]
    if not pts:
        return None
    fig = _fig(title, yaxis_title="M ops/s (median, 95% CI)", xaxis_title="phase",
               legend=dict(orientation="h", y=-0.25))
    series: dict[str, list[dict]] = {}
    for p in pts:
        series.setdefault(p["series"], []).append(p)
    for name, ps in series.items():
        fig.add_trace(go.Scatter(
            x=[p["phase"] for p in ps], y=[p["median"] / 1e6 for p in ps], mode="lines+markers", name=name,
            text=[p.get("label", "") for p in ps],
            error_y=dict(type="data", symmetric=False,
                         array=[(p["ci95"][1] - p["median"]) / 1e6 if p.get("ci95") else 0 for p in ps],
                         arrayminus=[(p["median"] - p["ci95"][0]) / 1e6 if p.get("ci95") else 0 for p in ps])))
    return fig


def commit_history(rows: list[dict], steps: list[dict], title: str) -> go.Figure | None:
    """A variant's figure against the commits of a range, oldest first (reportgen.history.page
    gives `rows`: each commit's short id, subject, median with its 95% CI, peak RSS added with its
    CI, or why it did not build): the median with its interval per commit, peak RSS on a second
    axis when measured, each commit that did not build marked where it sits, and each decided step
    a vertical line between the two measured commits that decide it, red when slower, green when
    faster, labelled with its size."""
    measured = [r for r in rows if r.get("median")]
    if not measured:
        return None
    order = [r["short"] for r in rows]
    medians = [r["median"] for r in measured]
    log = max(medians) / min(medians) >= LOG_SCALE_SPAN
    fig = _fig(html.escape(title, quote=False), xaxis_title="commit (oldest first; hover for its subject)",
               yaxis_title="M ops/s (median, 95% CI" + ("; log scale)" if log else ")"),
               yaxis_type="log" if log else "linear", legend=dict(orientation="h", y=-0.42),
               margin=dict(l=60, r=60, t=80, b=130), height=460)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=order, tickangle=-45)

    def hover(r: dict, figure: str) -> str:
        # plotly draws a little HTML in hover text: the subject (user text) is escaped to stay text
        return f"<b>{r['short']}</b> {html.escape(r.get('subject') or '', quote=False)}<br>{figure}"

    fig.add_trace(go.Scatter(
        x=[r["short"] for r in measured], y=[m / 1e6 for m in medians], mode="lines+markers",
        name="median ops/s, 95% CI", marker=dict(size=9, color="#3f51b5"),
        text=[hover(r, f_ops(r["median"])) for r in measured], hovertemplate="%{text}<extra></extra>",
        error_y=dict(type="data", symmetric=False,
                     array=[(r["ci95"][1] - r["median"]) / 1e6 if r.get("ci95") else 0 for r in measured],
                     arrayminus=[(r["median"] - r["ci95"][0]) / 1e6 if r.get("ci95") else 0 for r in measured])))
    mem = [r for r in measured if r.get("peak_rss") is not None]
    if mem:       # memory beside time: the same processes' peak RSS added
        mib = 2 ** 20
        fig.update_layout(yaxis2=dict(title="peak RSS added (MiB)", overlaying="y", side="right", showgrid=False,
                                      rangemode="tozero"))
        fig.add_trace(go.Scatter(
            x=[r["short"] for r in mem], y=[r["peak_rss"] / mib for r in mem], yaxis="y2", mode="lines+markers",
            name="peak RSS added, 95% CI", line=dict(dash="dot", color="#ff9800"), marker=dict(symbol="square"),
            text=[hover(r, f_size(r["peak_rss"])) for r in mem], hovertemplate="%{text}<extra></extra>",
            error_y=dict(type="data", symmetric=False,
                         array=[(r["peak_rss_ci95"][1] - r["peak_rss"]) / mib if r.get("peak_rss_ci95") else 0
                                for r in mem],
                         arrayminus=[(r["peak_rss"] - r["peak_rss_ci95"][0]) / mib if r.get("peak_rss_ci95") else 0
                                     for r in mem])))
    where = {r["commit"]: i for i, r in enumerate(rows)}
    for r in rows:
        if r.get("skipped"):
            fig.add_shape(type="line", x0=r["short"], x1=r["short"], yref="paper", y0=0, y1=1,
                          line=dict(dash="dot", color="#9e9e9e", width=1))
            fig.add_annotation(x=r["short"], yref="paper", y=0.02, text="did not build", showarrow=False,
                               textangle=-90, xanchor="left", font=dict(size=11, color="#757575"))
    for s in steps:
        if s.get("commit") not in where or s.get("parent") not in where:
            continue
        # between the two measured commits that decide it (a commit that did not build may sit between)
        x = (where[s["parent"]] + where[s["commit"]]) / 2
        colour = STEP_COLOURS.get(s.get("verdict"), "#616161")
        fig.add_shape(type="line", x0=x, x1=x, yref="paper", y0=0, y1=1, line=dict(color=colour, width=2))
        fig.add_annotation(x=x, yref="paper", y=1.0, yanchor="bottom", showarrow=False,
                           text=f"step at {rows[where[s['commit']]]['short']}: {s.get('verdict')} "
                                f"{f_spct(s.get('size'))}", font=dict(size=12, color=colour))
    return fig


def write(fig: go.Figure, path: Path) -> None:
    """The figure's JSON spec (data + layout), as Plotly.newPlot takes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = json.loads(fig.to_json())
    path.write_text(json.dumps(spec, separators=(",", ":")) + "\n", encoding="utf-8")


def rss_over_phases(bench: dict, title: str) -> go.Figure | None:
    """The retention driver's RSS over time: RSS added after each phase of each loop (grow, thin, regrow,
    release; median over sessions), per allocator, loop 0 being the sessions' discarded warm-up loop (a
    fresh process's first cycle).  Memory an allocator gives back falls after thin or release; memory it
    keeps, or cannot reuse for the regrowth's sizes, stays or rises."""
    rows = [r for r in bench.get("results") or [] if (r.get("memory") or {}).get("rss_by_phase")]
    if not rows:
        return None

    def label(p: dict) -> str:
        return f"{'warm-up' if p.get('warmup') else 'loop ' + str(p['loop'])} {p['phase']}"

    order: list[str] = []          # every allocator's points on one axis, in time order
    for r in rows:
        for p in r["memory"]["rss_by_phase"]:
            if label(p) not in order:
                order.append(label(p))
    fig = _fig(title, xaxis_title="phase of each loop (warm-up: the session's discarded first loop)",
               yaxis_title="RSS added (MiB)", yaxis_rangemode="tozero", height=480,
               legend=dict(orientation="h", y=-0.62), margin=dict(l=60, r=20, t=50, b=170))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=order, tickangle=-60)
    for r in rows:
        pts = [p for p in r["memory"]["rss_by_phase"] if p.get("rss_bytes") is not None]
        fig.add_trace(go.Scatter(x=[label(p) for p in pts], y=[p["rss_bytes"] / 2 ** 20 for p in pts],
                                 mode="lines+markers", name=r["variant"],
                                 hovertemplate="%{x}: %{y:.1f} MiB<extra>" + r["variant"] + "</extra>"))
    return fig
