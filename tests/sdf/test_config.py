import pytest

from sdfrecon.pipeline.config import available_presets, preset_mapping, resolve_config
from sdfrecon.base.configtools import parse_override
from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.losses import EikonalTermConfig
from sdfrecon.sdf.schedules import Schedule


def test_defaults_resolve_and_presets_validate():
    cfg = resolve_config()
    assert cfg.train.iterations > 0
    assert "default" in available_presets()
    for name in available_presets():
        resolve_config(name)  # every bundled preset is valid


def test_unknown_key_names_dotted_path():
    with pytest.raises(ConfigError, match=r"^train: unknown key lrr; valid: .*lr"):
        resolve_config(None, [{"train": {"lrr": 1}}])


def test_wrong_type_names_dotted_path():
    with pytest.raises(ConfigError, match=r"^train.iterations: expected an integer"):
        resolve_config(None, [{"train": {"iterations": "many"}}])
    with pytest.raises(ConfigError, match=r"^field.network.activation: must be one of"):
        resolve_config(None, [{"field": {"network": {"activation": "tanh"}}}])


def test_unknown_component_lists_valid_names():
    with pytest.raises(ConfigError, match=r"field.network.name: unknown network 'nope'; valid: .*mlp"):
        resolve_config(None, [{"field": {"network": {"name": "nope"}}}])


def test_override_parsing_and_precedence():
    assert parse_override("train.lr=5e-4") == {"train": {"lr": 5e-4}}
    cfg = resolve_config("default", [parse_override("train.lr=5e-4"), parse_override("seed=7")])
    assert cfg.train.lr == 5e-4 and cfg.seed == 7
    with pytest.raises(ConfigError):
        parse_override("no-equals-sign")


def test_loss_term_keyed_by_name_and_schedule_weight():
    cfg = resolve_config(None, [{"loss": {"terms": {"eikonal": {"weight": {"knots": [[0, 10], [0.5, 0]]}}}}}])
    term = cfg.loss.terms["eikonal"]
    assert isinstance(term, EikonalTermConfig)
    assert isinstance(term.weight, Schedule) and term.weight.value_at(0.25) == pytest.approx(5.0)


def test_changing_component_name_replaces_its_options(tmp_path):
    # 'fourier' options must not leak into 'none' when a later layer switches the encoding off.
    cfg = resolve_config(None, [{"field": {"encoding": {"name": "fourier", "num_frequencies": 3}}},
                                {"field": {"encoding": {"name": "none"}}}])
    assert cfg.field.encoding.name == "none"


@pytest.mark.parametrize("bad", [{"min_period": -1}, {"anneal_until": 1.5}, {"num_frequencies": -2}])
def test_fourier_options_out_of_range_are_refused(bad):
    key = next(iter(bad))
    with pytest.raises(ConfigError, match=f"field.encoding.{key}"):
        resolve_config("default", [{"field": {"encoding": bad}}])


def test_inherit_chain(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("train: {iterations: 11, lr: 0.01}\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"inherit: {base}\ntrain: {{iterations: 22}}\n")
    mapping = preset_mapping(str(child))
    assert mapping["train"] == {"iterations": 22, "lr": 0.01}
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"inherit: {loop}\n")
    with pytest.raises(ConfigError, match="loops"):
        preset_mapping(str(loop))


def test_unknown_preset_lists_available():
    with pytest.raises(ConfigError, match="unknown preset; available: .*default"):
        resolve_config("no_such_preset")


@pytest.mark.parametrize("key", ["normals_max_spacing", "distance_max_spacing"])
def test_negative_spacing_gates_are_refused(key):
    with pytest.raises(ConfigError, match=f"^sampler.{key}: must be >= 0"):
        resolve_config("default", [{"sampler": {key: -0.1}}])


def test_sparse_clouds_get_more_steps_once():
    """train.sparse_factor multiplies the steps of clouds sparser than train.sparse_spacing,
    once: fitting the fitted settings again changes nothing."""
    from sdfrecon.sdf.training import TrainConfig

    cfg = TrainConfig(iterations=800, sparse_spacing=0.05, sparse_factor=2.0)
    assert cfg.fitted_to_spacing(0.04) == cfg  # dense: as configured
    sparse = cfg.fitted_to_spacing(0.06)
    assert sparse.iterations == 1600 and sparse.fitted_to_spacing(0.06).iterations == 1600
    assert TrainConfig(iterations=800).fitted_to_spacing(1.0).iterations == 800  # off by default


@pytest.mark.parametrize("bad", [{"sparse_spacing": -0.1}, {"sparse_factor": 0}])
def test_sparse_step_settings_out_of_range_are_refused(bad):
    with pytest.raises(ConfigError, match="^train: sparse_spacing must be >= 0 and sparse_factor > 0"):
        resolve_config("default", [{"train": bad}])


def test_the_iterations_option_is_the_exact_step_count_on_sparse_clouds():
    """``--iterations N`` (config_overrides) means N steps at any density; ``--set`` keeps the factor."""
    from sdfrecon.pipeline.config import config_overrides

    exact = resolve_config("default", config_overrides(iterations=5)).train
    assert exact.fitted_to_spacing(1.0).iterations == 5
    scaled = resolve_config("default", config_overrides(sets=["train.iterations=5"])).train
    assert scaled.fitted_to_spacing(1.0).iterations == round(5 * scaled.sparse_factor) > 5


@pytest.mark.parametrize("override, message", [
    ("train.betas=[1.5,0.9]", r"^train.betas: two values in \[0, 1\), got \[1.5, 0.9\]"),
    ("train.betas=[0.9,1.0]", r"^train.betas: two values in \[0, 1\)"),
    ("train.weight_decay=-1", r"^train.weight_decay: must be >= 0, got -1"),
])
def test_optimiser_settings_out_of_range_are_refused(override, message):
    # Refused with the key's name when the config is resolved, before any training (they
    # used to surface as a traceback from the optimiser's constructor).
    with pytest.raises(ConfigError, match=message):
        resolve_config("default", [parse_override(override)])
