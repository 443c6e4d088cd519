"""The status report as one self-contained HTML page: inventory table and a key-expiry timeline (inline
CSS and SVG, no scripts, nothing fetched), so it opens anywhere, offline, and can be mailed around."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from shared.reasons import Problem
from shared.render import cell
from shared.status import RegistryStatus, StatusReport

ROW_H, LABEL_W, CHART_W, PAD = 26, 180, 640, 12
EXPIRED, NEAR, OK, NONE = "#c62828", "#ef8f00", "#2e7d32", "#9e9e9e"
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f3f3f3}td.p{color:#c62828}code{font-size:12px}
.legend span{display:inline-block;margin-right:14px}.sw{width:10px;height:10px;display:inline-block;margin-right:4px}
"""


def _colour(row: RegistryStatus) -> str:
    if row.days_until_expiry is None:
        return NONE
    if Problem.KEY_VERSION_EXPIRED in row.problems or row.days_until_expiry <= 0:
        return EXPIRED
    if Problem.KEY_VERSION_NEAR_EXPIRY in row.problems:
        return NEAR
    return OK


def timeline_svg(rows: Sequence[RegistryStatus]) -> str:
    """One bar per registry from today to the expiry of its version in use; expired ones reach left of today."""
    days = [r.days_until_expiry for r in rows if r.days_until_expiry is not None]
    low = min([0.0, *days])
    high = max([30.0, *days]) * 1.05
    scale = CHART_W / (high - low)

    def x(d: float) -> float:
        return LABEL_W + (d - low) * scale

    height = PAD * 2 + ROW_H * max(1, len(rows)) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + CHART_W + 90}" height="{height}" '
             'role="img" aria-label="Key expiry per registry">']
    for i, row in enumerate(rows):
        y = PAD + i * ROW_H
        parts.append(f'<text x="0" y="{y + 16}" font-size="13">{escape(row.registry.name)}</text>')
        d = row.days_until_expiry
        if d is None:
            parts.append(f'<text x="{x(0) + 4:.1f}" y="{y + 16}" font-size="12" fill="{NONE}">no expiry set</text>')
            continue
        left, right = sorted((x(0), x(d)))
        expires = row.expires_on.isoformat() if row.expires_on else "-"
        title = f"{row.registry.name}: version {cell(row.registry.version_in_use)} expires {expires}"
        parts.append(f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 2):.1f}" height="{ROW_H - 10}" '
                     f'fill="{_colour(row)}"><title>{escape(title)}</title></rect>')
        parts.append(f'<text x="{right + 4:.1f}" y="{y + 16}" font-size="12">{d:g} d</text>')
    axis_y = PAD + ROW_H * max(1, len(rows))
    parts.append(f'<line x1="{x(0):.1f}" y1="{PAD}" x2="{x(0):.1f}" y2="{axis_y}" stroke="#222" '
                 'stroke-dasharray="3,3"/>')
    parts.append(f'<text x="{x(0):.1f}" y="{axis_y + 14}" font-size="11" text-anchor="middle">today</text>')
    for mark in (30, 90, 180, 365):
        if low < mark < high:
            parts.append(f'<line x1="{x(mark):.1f}" y1="{PAD}" x2="{x(mark):.1f}" y2="{axis_y}" stroke="#ccc"/>')
            parts.append(f'<text x="{x(mark):.1f}" y="{axis_y + 14}" font-size="11" '
                         f'text-anchor="middle">+{mark} d</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h, _ in columns)
    body = []
    for row in rows:
        cells = []
        for _, k in columns:
            css = ' class="p"' if k == "problems" and row.get(k) else ""
            cells.append(f"<td{css}>{escape(cell(row.get(k)))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_status_html(report: StatusReport) -> str:
    registries = sorted(report.registries, key=lambda r: (r.days_until_expiry is None, r.days_until_expiry or 0))
    legend = "".join(f'<span><i class="sw" style="background:{c}"></i>{escape(t)}</span>' for c, t in (
        (EXPIRED, "expired"), (NEAR, "near expiry"), (OK, "fine"), (NONE, "no expiry")))
    problems = [p.to_dict() for p in report.problems]
    return "".join([
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>ACR CMK rotation: status</title>", f"<style>{CSS}</style></head><body>",
        "<h1>ACR customer-managed keys: status</h1>",
        f"<p>Generated {escape(report.generated_at.isoformat())}; {len(registries)} CMK registries in scope.</p>",
        "<h2>Key expiry per registry (version in use)</h2>", f'<p class="legend">{legend}</p>',
        timeline_svg(registries),
        "<h2>Registries</h2>",
        _table([r.to_dict() for r in registries], [
            ("Registry", "name"), ("Resource group", "resourceGroup"), ("Mode", "mode"), ("Opted out", "optedOut"),
            ("Key", "key"), ("In use", "versionInUse"), ("Newest usable", "newestUsableVersion"),
            ("Expires", "expiresOn"), ("Days left", "daysUntilExpiry"), ("Problems", "problems")]),
        "<h2>Keys</h2>",
        _table([k.to_dict() for k in report.keys], [("Key", "key"), ("Newest usable", "newestUsableVersion"),
                                        ("In use", "versionsInUse"), ("Candidates to disable", "candidatesToDisable"),
                                        ("Error", "error")]),
        ("<h2>Problems outside any registry</h2>"
         + _table(problems, [("Scope", "scope"), ("Reason", "reason"), ("Detail", "detail")])) if problems else "",
        "</body></html>\n",
    ])
