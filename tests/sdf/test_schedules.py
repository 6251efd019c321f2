import pytest

from sdfrecon.pipeline.config import resolve_config
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.schedules import Schedule, is_always_zero, weight_at


def test_piecewise_linear_values():
    s = Schedule([(0.0, 100.0), (0.2, 100.0), (0.4, 0.0)])
    assert s.value_at(0.0) == 100.0
    assert s.value_at(0.1) == 100.0
    assert s.value_at(0.3) == pytest.approx(50.0)
    assert s.value_at(0.4) == 0.0
    assert s.value_at(1.0) == 0.0
    assert weight_at(s, 30, 100) == pytest.approx(50.0)
    assert weight_at(2.5, 30, 100) == 2.5


def test_zero_detection():
    assert is_always_zero(0.0)
    assert is_always_zero(Schedule([(0.0, 0.0), (1.0, 0.0)]))
    assert not is_always_zero(Schedule([(0.0, 1.0), (1.0, 0.0)]))


def test_bad_knots_rejected():
    with pytest.raises(ConfigError, match="fractions must not decrease"):
        resolve_config(None, [{"train": {"lr_schedule": {"knots": [[0.5, 1], [0.2, 1]]}}}])
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        resolve_config(None, [{"train": {"lr_schedule": {"knots": [[0, 1], [2, 1]]}}}])
