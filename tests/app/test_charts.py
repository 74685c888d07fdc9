"""The reports' SVG charts, read back as XML: labelled, described, the bars' heights in
proportion to the values, names escaped, an empty chart saying so."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from app.charts import render
from core.reports.model import Chart, Series

NS = {"svg": "http://www.w3.org/2000/svg"}


def _svg(chart: Chart) -> ET.Element:
    return ET.fromstring(str(render(chart)))


def test_bars_are_labelled_described_and_in_proportion() -> None:
    chart = Chart(
        "money",
        "Выручка",
        "Столбцы по месяцам.",
        ["янв 27", "фев 27"],
        [Series("выручка, ₽", [Decimal("10000"), Decimal("2500.5")])],
        unit="money",
    )
    svg = _svg(chart)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "money-title"
    assert svg.get("aria-describedby") == "money-desc"
    assert svg.find("svg:title", NS).text == "Выручка"  # type: ignore[union-attr]
    assert svg.find("svg:desc", NS).text == "Столбцы по месяцам."  # type: ignore[union-attr]
    bars = svg.findall("svg:rect[@class='bar']", NS)
    assert [b.find("svg:title", NS).text for b in bars] == [  # type: ignore[union-attr]
        "янв 27: выручка, ₽ — 10\u202f000\u00a0₽",
        "фев 27: выручка, ₽ — 2\u202f500,50\u00a0₽",
    ]
    high, low = (float(b.get("height", "0")) for b in bars)
    assert abs(low / high - 2500.5 / 10000) < 0.01
    ticks = [t.text for t in svg.findall("svg:text", NS)]
    assert "10\u202f000" in ticks and "0" in ticks


def test_stacked_bars_sum_and_negative_values_go_below_zero() -> None:
    stacked = _svg(
        Chart("s", "S", "d", ["a"], [Series("x", [3]), Series("y", [1])], style="stacked")
    )
    x, y = stacked.findall("svg:rect[@class='bar']", NS)
    assert abs(float(x.get("height", "0")) / float(y.get("height", "0")) - 3) < 0.01
    # y sits on top of x
    assert abs(float(y.get("y", "0")) + float(y.get("height", "0")) - float(x.get("y", "0"))) < 0.2
    signed = _svg(Chart("n", "NPS", "d", ["a", "b"], [Series("NPS", [Decimal(25), Decimal(-40)])]))
    up, down = signed.findall("svg:rect[@class='bar']", NS)
    assert float(up.get("y", "0")) + float(up.get("height", "0")) == float(down.get("y", "0"))
    assert "\u221240" in [t.text for t in signed.findall("svg:text", NS)]  # a real minus


def test_a_line_breaks_where_there_is_nothing_and_names_are_escaped() -> None:
    chart = Chart(
        "l",
        "<b>NPS</b>",
        "d",
        ["1", "2", "3", "4"],
        [Series("<script>alert(1)</script>", [Decimal(10), Decimal(20), None, Decimal(5)])],
        style="line",
        unit="decimal",
    )
    text = str(render(chart))
    assert "<script>" not in text and "&lt;script&gt;" in text
    svg = ET.fromstring(text)
    assert len(svg.findall("svg:circle", NS)) == 3
    assert len(svg.findall("svg:polyline", NS)) == 1  # 1-2 joined; 4 stands alone


def test_an_empty_chart_says_there_is_nothing() -> None:
    for series in ([Series("x", [None, None])], []):
        svg = _svg(Chart("e", "E", "d", ["a", "b"], series))
        assert svg.find("svg:text[@class='no-data']", NS) is not None
        assert svg.findall("svg:rect[@class='bar']", NS) == []
