"""Benchmark result rows: CSV in and out, the Markdown report, plain-text tables.

A row is a flat ``dict[str, str]`` (one per shape x method), exactly what
``results.csv`` holds; :data:`COLUMNS` fixes its columns and their order.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Iterable, Mapping

from sdfrecon.base.atomic import atomic_write_text

COLUMNS: tuple[str, ...] = (
    "shape", "method", "status", "seconds",
    "chamfer_l1", "chamfer_l1_rel", "chamfer_l1_surface", "chamfer_l1_surface_rel", "chamfer_l2", "hausdorff", "accuracy", "completeness",
    "scan_chamfer", "scan_hausdorff", "normal_consistency", "fscore", "precision", "recall",
    "fscore_threshold", "iou", "iou_note", "watertight", "vertices", "faces", "gt_diagonal",
    "eval_seconds", "category", "mesh", "error", "attempts",
)
"""Columns of ``results.csv``."""

STATUS_OK = "ok"
STATUS_FAILED = "failed"

# (column, header) of the Markdown tables, in order.
REPORTED: tuple[tuple[str, str], ...] = (
    ("chamfer_l1", "CD-L1"),
    ("chamfer_l1_rel", "CD-L1/diag"),
    ("chamfer_l1_surface_rel", "CDs/diag"),
    ("chamfer_l2", "CD-L2²"),
    ("hausdorff", "HD"),
    ("scan_chamfer", "d_C→"),
    ("scan_hausdorff", "d_H→"),
    ("normal_consistency", "NC"),
    ("fscore", "F"),
    ("iou", "IoU"),
    ("seconds", "s"),
)

LEGEND = (
    "Distances are in each shape's own units. CD-L1: SRB d_C, the mean of the two one-sided mean "
    "distances; CD-L1/diag: the same over the ground truth's bounding-box diagonal; CDs/diag: the same "
    "with distances to the other surface's triangles instead of its samples (no sampling floor); CD-L2²: ShapeNet "
    "squared Chamfer (the two squared means summed); HD: Hausdorff; d_C→ / d_H→: mean / max distance "
    "from the input scan to the reconstruction; NC: normal consistency; F: F-score at the threshold "
    "in results.csv; IoU: volumetric IoU (blank unless both meshes are watertight or the suite has "
    "occupancy labels); s: reconstruction seconds."
)


def format_value(value: object) -> str:
    """CSV text of one value: floats with 9 significant digits, NaN as ``nan``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.9g}"
    return "" if value is None else str(value)


def to_row(values: Mapping[str, object]) -> dict[str, str]:
    """A CSV row (every column, as text) from a mapping of some of :data:`COLUMNS`."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(f"not result columns: {', '.join(sorted(unknown))}")
    return {c: format_value(values.get(c)) for c in COLUMNS}


def number(row: Mapping[str, str], column: str) -> float:
    """The value of ``column`` as a float (NaN when empty or not a number)."""
    try:
        return float(row.get(column, "") or "nan")
    except ValueError:
        return math.nan


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of an existing ``results.csv`` (empty list if there is none).

    Columns missing from an older file come back empty; extra ones are dropped.
    """
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [{c: (r.get(c) or "") for c in COLUMNS} for r in csv.DictReader(fh)]


def write_rows(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write ``rows`` as ``results.csv``, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return atomic_write_text(path, buffer.getvalue())


def _cell(value: float, column: str) -> str:
    if math.isnan(value):
        return ""
    if column == "seconds":
        return f"{value:.1f}"
    return f"{value:.4g}"


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_report(rows: list[Mapping[str, str]], *, title: str = "Benchmark results",
                    notes: Iterable[str] = ()) -> str:
    """The Markdown report: a per-shape table and a mean row per method.

    Parameters
    ----------
    rows : list of mapping
        Result rows in display order (shape-major).
    title : str
        Top heading.
    notes : iterable of str
        Lines printed under the heading (suite, settings).

    Returns
    -------
    str
    """
    header = "| " + " | ".join(h for _, h in REPORTED) + " |"
    rule = "|" + "---|" * (len(REPORTED) + 2)
    out = [f"# {title}", ""]
    out += [f"{n}  " for n in notes]
    out += ["", LEGEND, "", "## Per shape", "", "| shape | method " + header, rule]
    for r in rows:
        if r.get("status") == STATUS_OK:
            cells = [_cell(number(r, c), c) for c, _ in REPORTED]
        else:
            error = _escape(r.get("error", "") or "not run")
            cells = [f"failed: {error[:120]}"] + [""] * (len(REPORTED) - 1)
        out.append(f"| {r['shape']} | {r['method']} | " + " | ".join(cells) + " |")
    out += ["", "## Mean per method", "",
            "Means over the shapes each method finished (`ok`); blanks are metrics that did not apply.", "",
            "| method | ok " + header, rule]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        done = [r for r in mine if r.get("status") == STATUS_OK]
        cells = []
        for column, _ in REPORTED:
            values = [v for v in (number(r, column) for r in done) if not math.isnan(v)]
            cells.append(_cell(sum(values) / len(values), column) if values else "")
        out.append(f"| {m} | {len(done)}/{len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def text_table(rows: list[tuple[str, str, str]], headers: tuple[str, str, str] = ("metric", "value", "note")) -> str:
    """A plain-text table of three-column rows (aligned, for terminals)."""
    table = [headers, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)
