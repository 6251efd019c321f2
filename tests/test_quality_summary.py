"""The quality suite's summary: ratios to Poisson by the sample and by the surface Chamfer."""

from bench.quality_suite import summarize


def _row(shape: str, method: str, sample_rel: float, surface_rel: float | None) -> dict[str, str]:
    row = {"shape": shape, "method": method, "status": "ok", "seconds": "10", "chamfer_l1_rel": str(sample_rel),
           "normal_consistency": "0.99", "mesh": ""}
    if surface_rel is not None:  # rows made before the surface Chamfer existed have no column
        row["chamfer_l1_surface_rel"] = str(surface_rel)
    return row


def test_summary_reports_both_chamfers_per_condition():
    rows = [
        _row("a@oriented", "default", 0.00150, 0.00010), _row("a@oriented", "poisson", 0.00150, 0.00020),
        _row("b@oriented", "default", 0.00160, 0.00030), _row("b@oriented", "poisson", 0.00150, 0.00010),
        _row("a@noisy", "default", 0.004, None), _row("a@noisy", "poisson", 0.005, None),
    ]
    text = summarize(rows, ["default", "poisson"], {})
    oriented = next(line for line in text.splitlines() if line.startswith("| default | oriented |"))
    cells = [c.strip() for c in oriented.split("|")[1:-1]]
    # sample ratios 1.00 and 1.07; surface ratios 0.50 and 3.00
    assert cells[3:7] == ["1.03", "1.03", "1.07", "1/2"]
    assert cells[7] == "1.75 / 3.00 / 1/2"
    noisy = next(line for line in text.splitlines() if line.startswith("| default | noisy |"))
    assert [c.strip() for c in noisy.split("|")[1:-1]][7] == "-"
    per_shape = next(line for line in text.splitlines() if line.startswith("| b | oriented | default |"))
    assert "| 0.0300 | 0.0100 | 3.00 |" in per_shape
