"""The reports' charts, rendered on the server as SVG (pygal): no JavaScript at all."""

from __future__ import annotations

from collections.abc import Callable

import pygal
from pygal.style import Style

from services.reports import Report

STYLE = Style(background="white", plot_background="white", foreground="#222", foreground_strong="#111",
              foreground_subtle="#888", colors=("#2b6cb0", "#c05621", "#2f855a", "#6b46c1"), font_family="sans-serif")
CHARTS = ("volume", "sla", "ratings")


def _config(title: str) -> dict[str, object]:
    # js=[]: pygal would otherwise link its tooltip script from the internet.
    return {"title": title, "style": STYLE, "js": [], "width": 640, "height": 320, "show_legend": True,
            "disable_xml_declaration": False, "explicit_size": True, "print_values": False,
            "truncate_label": -1, "x_label_rotation": 20}


def render(name: str, report: Report, _: Callable[[str], str]) -> bytes:
    """Chart `name` (one of CHARTS) of the report, as SVG bytes; titles in the reader's language."""
    if name == "volume":
        chart = pygal.Bar(**_config(_("Tickets per week")))
        chart.x_labels = [week for week, _n in report.weekly_volume]
        chart.add(_("tickets"), [n for _w, n in report.weekly_volume])
    elif name == "sla":
        chart = pygal.Bar(range=(0, 100), **_config(_("Promises kept per SLA class (%)")))
        chart.x_labels = [cls for cls, _f, _o in report.sla_share]
        chart.add(_("first response"), [f for _c, f, _o in report.sla_share])
        chart.add(_("on site"), [o for _c, _f, o in report.sla_share])
    elif name == "ratings":
        chart = pygal.HorizontalBar(range=(0, 5), **_config(_("Average rating per plan (1-5)")))
        chart.x_labels = [plan for plan, _r in report.ratings]
        chart.add(_("average rating"), [r for _p, r in report.ratings])
    else:
        raise KeyError(name)
    svg: bytes = chart.render()
    return svg
