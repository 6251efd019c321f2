import numpy as np
import pytest
import torch

from sdfrecon.datasets.sampling import SampleBatch
from sdfrecon.pipeline.config import resolve_config
from sdfrecon.sdf.field_probe import FieldProbe
from sdfrecon.sdf.losses import LossSet


class SphereSDF(torch.nn.Module):
    """Exact SDF of a sphere, as a field module: (N, 3) -> (N, 1)."""

    def __init__(self, radius: float = 0.5):
        super().__init__()
        self.radius = radius

    def forward(self, x):
        return (x.norm(dim=1) - self.radius)[:, None]


class ScaledSphere(SphereSDF):
    """2 x the sphere SDF: right zero set, gradient norm 2."""

    def forward(self, x):
        return 2.0 * super().forward(x)


def _batch(n=2000, seed=0, radius=0.5):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    uniform = torch.rand(n, 3, generator=g) * 2.2 - 1.1
    return SampleBatch(points={"surface": dirs * radius, "uniform": uniform,
                               "near": dirs * radius + 0.01 * torch.randn(n, 3, generator=g)},
                       normals={"surface": dirs})


class Constant(torch.nn.Module):
    """A field equal to ``value`` everywhere."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return x[:, :1] * 0.0 + self.value  # tied to x, so terms that differentiate it can


def _losses(terms):
    cfg = resolve_config(None, [{"loss": {"terms": terms}}])
    return LossSet(cfg.loss, total_steps=100)


def test_exact_sdf_has_zero_surface_eikonal_and_normal_loss():
    batch = _batch()
    losses = _losses({"offsurface": {"weight": 0}})
    values = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0)
    for key in ("surface", "eikonal", "normal"):
        assert values.unweighted[key].item() == pytest.approx(0.0, abs=1e-5), key


def test_eikonal_detects_wrong_gradient_norm():
    batch = _batch()
    losses = _losses({"eikonal": {"norm": "l2"}, "offsurface": {"weight": 0}})
    values = losses(FieldProbe(ScaledSphere(), batch, differentiable_inputs=True), step=0)
    assert values.unweighted["eikonal"].item() == pytest.approx(1.0, rel=1e-4)  # (2 - 1)^2


def test_offsurface_term_value():
    batch = _batch()
    losses = _losses({"offsurface": {"alpha": 10.0, "weight": 1.0}})
    values = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0)
    d = (batch.points["uniform"].norm(dim=1) - 0.5).abs()
    assert values.unweighted["offsurface"].item() == pytest.approx(torch.exp(-10 * d).mean().item(), rel=1e-5)


def test_normal_term_modes():
    batch = _batch()
    batch.normals["surface"] = -batch.normals["surface"]  # flipped normals
    oriented = _losses({"normal": {"mode": "oriented"}})(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), 0)
    unoriented = _losses({"normal": {"mode": "unoriented"}})(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), 0)
    assert oriented.unweighted["normal"].item() == pytest.approx(2.0, abs=1e-5)
    assert unoriented.unweighted["normal"].item() == pytest.approx(0.0, abs=1e-5)


def test_normal_term_skipped_without_normals():
    batch = _batch()
    batch.normals.clear()
    values = _losses({})(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), 0)
    assert "normal" not in values.unweighted and "surface" in values.unweighted


def test_scheduled_weight_and_zero_weight_skip():
    losses = _losses({"eikonal": {"weight": {"knots": [[0, 10], [0.5, 0]]}}})
    assert losses.weights_at(0)["eikonal"] == 10
    assert losses.weights_at(25)["eikonal"] == pytest.approx(5)
    values = losses(FieldProbe(ScaledSphere(), _batch(), differentiable_inputs=True), step=60)
    assert "eikonal" not in values.unweighted
    off = _losses({"eikonal": {"weight": 0}, "normal": {"weight": 0}})
    assert not off.needs_gradient


class _NegatedSphere(SphereSDF):
    """The sphere's SDF with the wrong sign everywhere."""

    def forward(self, x):
        return -super().forward(x)


def _batch_with_sphere_distances():
    """``_batch()`` whose near/uniform samples carry the exact sphere SDF as distance targets."""
    batch = _batch()
    for group in ("near", "uniform"):
        batch.distances[group] = batch.points[group].norm(dim=1) - 0.5
    return batch


def test_distance_term_signed_and_unsigned():
    # Targets are the exact sphere SDF at near/uniform points: the exact field scores 0,
    # its negation scores 2|d| when signs are trusted and 0 when they are not (and the
    # unsigned fit is asked for); without it, unoriented batches skip the term.
    batch = _batch_with_sphere_distances()
    signed = _losses({"distance": {"weight": 1.0, "clamp": 10.0}, "offsurface": {"weight": 0}})
    exact = signed(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0).unweighted["distance"]
    flipped = signed(FieldProbe(_NegatedSphere(), batch, differentiable_inputs=True), step=0).unweighted["distance"]
    d = torch.cat([batch.distances["near"], batch.distances["uniform"]])
    assert exact.item() == pytest.approx(0.0, abs=1e-6)
    assert flipped.item() == pytest.approx(2 * d.abs().mean().item(), rel=1e-5)
    batch.oriented = False
    for g in batch.distances:
        batch.distances[g] = batch.distances[g].abs()
    unsigned = _losses({"distance": {"weight": 1.0, "clamp": 10.0, "unsigned": True}, "offsurface": {"weight": 0}})
    assert unsigned(FieldProbe(_NegatedSphere(), batch, differentiable_inputs=True), step=0).unweighted["distance"].item() \
        == pytest.approx(0.0, abs=1e-6)
    assert "distance" not in signed(FieldProbe(_NegatedSphere(), batch, differentiable_inputs=True), step=0).unweighted


def test_distance_term_clamp_is_a_bound_beyond_it():
    batch = _batch()
    batch.distances["uniform"] = torch.full((len(batch.points["uniform"]),), 0.5)  # far outside
    terms = {"distance": {"weight": 1.0, "clamp": 0.1, "groups": ["uniform"]}, "offsurface": {"weight": 0},
             "eikonal": {"weight": 0}, "normal": {"weight": 0}}

    losses = _losses(terms)
    value = lambda v: losses(FieldProbe(Constant(v), batch, differentiable_inputs=True), step=0).unweighted["distance"]
    assert value(0.3).item() == 0.0  # beyond the bound on the right side: free
    assert value(0.05).item() == pytest.approx(0.05)  # inside the bound: pulled to 0.1
    assert value(-0.3).item() == pytest.approx(0.4)  # wrong side: pulled all the way


def test_clearance_wants_known_outside_samples_positive():
    """|f| >= c for unlabelled samples; f >= c where the sampler knows the sample is outside."""
    points = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]])  # inside the 0.5-sphere: f = -0.5, -0.4
    batch = SampleBatch(points={"surface": torch.zeros(0, 3), "uniform": points},
                        distances={"uniform": torch.tensor([0.3, 0.3])}, spacing={"uniform": torch.tensor([0.0, 0.0])})
    losses = _losses({"clearance": {"weight": 1.0, "groups": ["uniform"]}, "offsurface": {"weight": 0}})
    plain = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0).unweighted["clearance"]
    assert plain.item() == pytest.approx(0.0)  # |f| = 0.5, 0.4 >= 0.3
    batch.outside["uniform"] = torch.tensor([True, False])
    signed = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0).unweighted["clearance"]
    assert signed.item() == pytest.approx((0.3 + 0.5) / 2)  # relu(0.3 - (-0.5)) on the labelled sample only


def test_clearance_wants_known_inside_samples_negative_by_their_depth():
    """Samples labelled inside at least ``depth`` want f <= -max(c, depth); unlabelled ones |f| >= c."""
    points = torch.tensor([[0.0, 0.0, 0.0], [0.45, 0.0, 0.0], [0.0, 0.0, 0.0]])  # f = -0.5, -0.05, -0.5
    batch = SampleBatch(points={"surface": torch.zeros(0, 3), "uniform": points},
                        distances={"uniform": torch.tensor([0.0, 0.0, 0.0])},
                        spacing={"uniform": torch.tensor([0.0, 0.0, 0.0])})
    batch.inside["uniform"] = torch.tensor([0.2, 0.2, 0.0])
    losses = _losses({"clearance": {"weight": 1.0, "groups": ["uniform"]}, "offsurface": {"weight": 0}})
    value = losses(FieldProbe(SphereSDF(), batch, differentiable_inputs=True), step=0).unweighted["clearance"]
    assert value.item() == pytest.approx((0.2 - 0.05) / 3)  # only the labelled sample less deep than its bound
    flipped = losses(FieldProbe(Constant(0.1), batch, differentiable_inputs=True), step=0).unweighted["clearance"]
    assert flipped.item() == pytest.approx((0.3 + 0.3) / 3)  # positive inside: relu(0.2 + 0.1) on both labelled


def test_distance_term_skips_signed_targets_the_sampler_does_not_trust():
    """``signed_distances`` False (trusted normals on a sparse cloud): no signed fit; with
    ``unsigned`` the term compares |f| with |d|, so a flipped field scores 0."""
    batch = _batch_with_sphere_distances()
    batch.signed_distances = False
    signed = _losses({"distance": {"weight": 1.0, "clamp": 10.0}, "offsurface": {"weight": 0}})
    assert "distance" not in signed(FieldProbe(_NegatedSphere(), batch, differentiable_inputs=True), step=0).unweighted
    unsigned = _losses({"distance": {"weight": 1.0, "clamp": 10.0, "unsigned": True}, "offsurface": {"weight": 0}})
    assert unsigned(FieldProbe(_NegatedSphere(), batch, differentiable_inputs=True), step=0).unweighted["distance"].item() \
        == pytest.approx(0.0, abs=1e-6)


def test_offsurface_pushes_labelled_samples_away_from_zero_on_their_side_only():
    """Unlabelled: exp(-alpha |f|). Labelled outside (or inside): the same on that side, and
    on the wrong side the term's maximum with no gradient, so that clearance can pull the
    sample across zero instead of the barrier holding it (a window box's cavity stayed solid)."""
    from sdfrecon.sdf.losses import OffSurfaceTermConfig, offsurface_term

    # samples unknown, outside, outside, inside, with field values -0.03, +0.03, -0.03, +0.03
    batch = SampleBatch(points={"surface": torch.zeros(0, 3), "uniform": torch.zeros(4, 3)},
                        distances={"uniform": torch.zeros(4)}, spacing={"uniform": torch.zeros(4)})
    batch.outside["uniform"] = torch.tensor([False, True, True, False])
    batch.inside["uniform"] = torch.tensor([0.0, 0.0, 0.0, 0.1])

    class Probe:  # the term reads only the batch and the field's values
        def __init__(self):
            self.batch = batch
            self.values = torch.tensor([-0.03, 0.03, -0.03, 0.03], requires_grad=True)

        def sdf(self, groups):
            return self.values

    def term(known_sign: bool) -> tuple[float, torch.Tensor]:
        probe = Probe()
        value = offsurface_term(OffSurfaceTermConfig(alpha=100.0, known_sign=known_sign), probe)
        (grad,) = torch.autograd.grad(value, probe.values)
        return value.item(), grad

    barrier = float(np.exp(-3.0))
    value, grad = term(True)
    assert value == pytest.approx((barrier + barrier + 1.0 + 1.0) / 4, rel=1e-5)
    assert grad[2].item() == 0.0 and grad[3].item() == 0.0  # wrong side: nothing holds them
    assert grad[0].item() > 0 and grad[1].item() < 0  # descent moves them away from zero
    plain, plain_grad = term(False)
    assert plain == pytest.approx(barrier, rel=1e-5) and plain_grad[2].item() > 0  # the barrier held it below zero
