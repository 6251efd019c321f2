"""Occupancy loss terms: BCE on labels from a logit head or from the SDF, and the logit-gradient hinge."""

import pytest
import torch

from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossSet


class TwoHeads(torch.nn.Module):
    """Channel 0: sphere SDF (radius 0.5); channel 1: logit ``slope * (0.5 - |x|)``."""

    def __init__(self, slope=10.0, channels=2):
        super().__init__()
        self.slope, self.channels = slope, channels

    def forward(self, x):
        r = x.norm(dim=1)
        out = [r - 0.5, self.slope * (0.5 - r)]
        return torch.stack(out[: self.channels], dim=1)


def _batch(n=1000, seed=0, flip=False):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, 3, generator=g) * 2 - 1
    inside = (pts.norm(dim=1) < 0.5).float()
    return SampleBatch(points={"plane": pts, "uniform": pts.clone()},
                       labels={"plane": 1 - inside if flip else inside})


def _value(terms, field, batch):
    base = {"surface": {"weight": 0}, "offsurface": {"weight": 0}, "eikonal": {"weight": 0}, "normal": {"weight": 0}}
    cfg = resolve_config(None, [{"loss": {"terms": {**base, **terms}}}])
    values = LossSet(cfg.loss, total_steps=10)(FieldProbe(field, batch, differentiable_inputs=True), step=0)
    return {k: v.item() for k, v in values.unweighted.items()}


def test_bce_on_the_logit_head_matches_the_formula():
    batch, field = _batch(), TwoHeads(slope=10.0)
    got = _value({"occupancy": {"source": "logit", "groups": ["plane"]}}, field, batch)["occupancy"]
    logit = field(batch.points["plane"])[:, 1]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logit, batch.labels["plane"])
    assert got == pytest.approx(expected.item(), rel=1e-6)


def test_bce_rewards_right_labels_on_logit_and_on_sdf():
    field = TwoHeads(slope=200.0)
    for source in ("logit", "sdf"):
        term = {"occupancy": {"source": source, "temperature": 0.005, "groups": ["plane"]}}
        right = _value(term, field, _batch())["occupancy"]
        wrong = _value(term, field, _batch(flip=True))["occupancy"]
        assert right < 0.1 and wrong > 100 * right, source


def test_auto_source_falls_back_to_the_sdf_on_one_channel_fields():
    batch = _batch()
    one = TwoHeads(channels=1)
    auto = _value({"occupancy": {"source": "auto", "temperature": 0.05, "groups": ["plane"]}}, one, batch)
    sdf = _value({"occupancy": {"source": "sdf", "temperature": 0.05, "groups": ["plane"]}}, one, batch)
    assert auto["occupancy"] == pytest.approx(sdf["occupancy"])
    with pytest.raises(ConfigError, match="field.outputs"):
        _value({"occupancy": {"source": "logit", "groups": ["plane"]}}, one, batch)


def test_unlabelled_groups_are_skipped():
    batch = _batch()
    values = _value({"occupancy": {"groups": ["uniform"]}, "eikonal": {"weight": 1, "groups": ["uniform"]}},
                    TwoHeads(), batch)
    assert "occupancy" not in values


def test_logit_gradient_hinge():
    batch = _batch()
    steep = _value({"logit_gradient": {"max_slope": 100.0, "groups": ["uniform"]}}, TwoHeads(slope=250.0), batch)
    assert steep["logit_gradient"] == pytest.approx(150.0, rel=1e-4)
    gentle = _value({"logit_gradient": {"max_slope": 100.0, "groups": ["uniform"]}}, TwoHeads(slope=50.0), batch)
    assert gentle["logit_gradient"] == pytest.approx(0.0, abs=1e-6)
    # from the SDF: |grad(-f/T)| = 1/T = 200 for an exact SDF
    sdf = _value({"logit_gradient": {"source": "sdf", "temperature": 0.005, "max_slope": 100.0,
                                     "groups": ["uniform"]}}, TwoHeads(channels=1), batch)
    assert sdf["logit_gradient"] == pytest.approx(100.0, rel=1e-4)


def test_probe_channel_gradient_is_per_channel_and_cached():
    batch = _batch(n=50)
    probe = FieldProbe(TwoHeads(slope=3.0), batch, differentiable_inputs=True)
    g0, g1 = probe.channel_gradient(0, ["plane"]), probe.channel_gradient(1, ["plane"])
    torch.testing.assert_close(g1, -3.0 * g0)
    assert probe.channel_gradient(1, ["plane"]).data_ptr() == g1.data_ptr() or torch.equal(
        probe.channel_gradient(1, ["plane"]), g1)
    assert 1 in probe._channel_grads
