import json
import os
import re

import pytest

from utils.config import SCHEMA, build_config, load_config, markdown_table
from utils.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seed_readme_config():
    """The sample config printed in the seed README, copied byte for byte into a fixture (it has a space
    before some colons and trailing spaces)."""
    with open(os.path.join(ROOT, "tests", "fixtures", "reference_sample_config.json"), encoding="utf-8") as f:
        return json.load(f)


SEED_SAMPLE = {
    "id": "IIAE_MNIST", "model": "IIAE", "dataset": "MNIST-CDCB", "path_to_data": "./MNIST-CDCB", "train": 1,
    "resolution": 256,
    "training": {"max_iters": 50000, "resume_iters": 0, "restored_model_path": "", "batch_size": 16,
                 "lr": 0.00002, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999, "milestones": [10000, 30000],
                 "scheduler_gamma": 0.5, "rec_weight": 100.02, "X_kld_weight": 5.02, "S_kld_weight": 0.02,
                 "inter_kld_weight": 5, "print_freq": 100, "sample_freq": 2000, "model_save_freq": 5000},
    "test": {"test_iters": 50000, "batch_size": 16, "test_path": "./2021-08-06_22-14_IIAE_MNIST"},
}


def test_reference_sample_config_loads_unchanged():
    sample = seed_readme_config()
    assert sample == SEED_SAMPLE
    cfg = build_config(sample)
    assert cfg.model.name == "IIAE"
    assert cfg.training.lr == 0.00002 and cfg.training.milestones == [10000, 30000]
    assert isinstance(cfg.training.inter_kld_weight, float)
    assert cfg.test.test_path == "./2021-08-06_22-14_IIAE_MNIST"
    assert cfg.model.exclusive_dim == 8 and cfg.model.shared_dim == 128  # the seed network by default


def test_shipped_configs_load():
    for name in os.listdir(os.path.join(ROOT, "configs")):
        load_config(os.path.join(ROOT, "configs", name))


def test_kl_defaults_are_the_demos_objective_at_any_size():
    """A config that names no KL setting gets the plain KL and the demo's weights: the reference port's 5.02 and
    0.02 and the demo's 10 times its batch over its training pairs, 16 / 4,500."""
    cfg = build_config({"dataset": "paired", "path_to_data": "data"})
    assert cfg.model.kl_scaling == "none"
    factor = 16 / 4500
    assert cfg.training.X_kld_weight == pytest.approx(5.02 * factor, rel=1e-12)
    assert cfg.training.S_kld_weight == pytest.approx(0.02 * factor, rel=1e-12)
    assert cfg.training.inter_kld_weight == pytest.approx(10 * factor, rel=1e-12)
    demo = load_config(os.path.join(ROOT, "configs", "demo.json"))
    assert demo.model.kl_scaling == "none" and demo.training.batch_size == 16
    for key, port_weight in (("X_kld_weight", 5.02), ("S_kld_weight", 0.02), ("inter_kld_weight", 10)):
        assert demo.training[key] == pytest.approx(port_weight * factor, rel=1e-12), key


def test_reference_port_configs_keep_its_kl_scaling():
    # The verbatim sample config gets the schema's default, and the run is told (model.defaulted names it);
    # the shipped copies name the reference port's scaling.
    sample = build_config(seed_readme_config())
    assert sample.model.kl_scaling == "none" and "kl_scaling" in sample.model.defaulted
    assert "kl_scaling" not in load_config(os.path.join(ROOT, "configs", "demo.json")).model.defaulted
    for name in ("config_MNIST.json", "config_Cars.json", "config_AFHQ.json"):
        cfg = load_config(os.path.join(ROOT, "configs", name))
        assert cfg.model.kl_scaling == "batch_over_dataset", name
        assert (cfg.training.X_kld_weight, cfg.training.S_kld_weight, cfg.training.inter_kld_weight) == \
            (5.02, 0.02, 5.0), name


def test_unknown_key_suggests_nearest():
    with pytest.raises(UserError, match=r"unknown key 'training.max_iter'; did you mean 'training.max_iters'"):
        build_config({**SEED_SAMPLE, "training": {**SEED_SAMPLE["training"], "max_iter": 3}})


def test_missing_required_key():
    sample = dict(SEED_SAMPLE)
    del sample["path_to_data"]
    with pytest.raises(UserError, match="missing required key 'path_to_data'"):
        build_config(sample)


@pytest.mark.parametrize("path,value,message", [
    (("training", "batch_size"), "16", "'training.batch_size' must be an integer"),
    (("training", "lr"), True, "'training.lr' must be a number"),
    (("training", "milestones"), [1.5], "'training.milestones' must be a list of integers"),
    (("resolution",), 100, "'resolution' is 100; choose one of"),
    (("device",), "gpu", "'device' is \"gpu\""),
])
def test_bad_values_name_the_key(path, value, message):
    raw = json.loads(json.dumps(SEED_SAMPLE))
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(UserError, match=re.escape(message)):
        build_config(raw)


@pytest.mark.parametrize("override,message", [
    ("training.lr=-1e-4", "'training.lr' is -0.0001; it must be in [0, 3.4e38]"),
    ("training.beta1=1", "'training.beta1' is 1.0; it must be in [0, 1)"),
    ("training.beta2=-0.1", "'training.beta2' is -0.1; it must be in [0, 1)"),
    ("training.weight_decay=-1", "'training.weight_decay' is -1.0; it must be in [0, 3.4e38]"),
    ("model.dropout=1", "'model.dropout' is 1.0; it must be in [0, 1)"),
    ("training.num_workers=-1", "'training.num_workers' is -1; it must be in [0, 256]"),
    ("seed=18446744073709551616", "'seed' is 18446744073709551616; it must be in [0, 2^64)"),
    ("seed=-1", "'seed' is -1; it must be in [0, 2^64)"),
    ("training.eval_freq=-1", "'training.eval_freq' is -1; it must be in [0, 2^63)"),
    ("training.keep_last=-2", "'training.keep_last' is -2; it must be in [0, 2^63)"),
    ("training.eval_pairs=-5", "'training.eval_pairs' is -5; it must be in [0, 2^63)"),
    ("test.num_results=-1", "'test.num_results' is -1; it must be in [0, 2^63)"),
    ("training.max_iters=0", "'training.max_iters' is 0; it must be in [1, 2^63)"),
])
def test_out_of_range_values_name_the_key_and_the_range(override, message):
    with pytest.raises(UserError, match=re.escape(message)):
        build_config(SEED_SAMPLE, [override])


def test_range_bounds_are_valid_values():
    cfg = build_config(SEED_SAMPLE, ["seed=18446744073709551615", "training.beta1=0", "model.dropout=0",
                                     "training.lr=0", "training.resume_iters=latest",
                                     "training.restored_model_path=x"])
    assert cfg.seed == 2 ** 64 - 1 and cfg.training.beta1 == 0.0


def test_overrides_are_typed_by_the_schema():
    cfg = build_config(SEED_SAMPLE, ["training.max_iters=200", "resolution=64", "training.lr=1e-4",
                                     "training.channels_last=true", "training.milestones=[5, 9]",
                                     "model.kl_scaling=none", "id=run 1", "training.resume_iters=latest",
                                     "training.restored_model_path=x"])
    assert cfg.training.max_iters == 200 and cfg.resolution == 64 and cfg.training.lr == 1e-4
    assert cfg.training.channels_last is True and cfg.training.milestones == [5, 9]
    assert cfg.model.kl_scaling == "none" and cfg.id == "run 1" and cfg.training.resume_iters == "latest"
    assert json.loads(json.dumps(cfg.to_dict()))["training"]["max_iters"] == 200


@pytest.mark.parametrize("override,message", [
    ("training.max_iter=5", "did you mean 'training.max_iters'"),
    ("trainig.lr=5", "unknown key 'trainig'; did you mean 'training'"),
    ("training.lr=fast", "cannot read 'fast' as a number"),
    ("training", "expected KEY=VALUE"),
])
def test_bad_overrides(override, message):
    with pytest.raises(UserError, match=re.escape(message)):
        build_config(SEED_SAMPLE, [override])


def test_readme_documents_every_key_as_the_schema_does():
    # The generated table of every key lives in docs/config.md (the README links to it).
    with open(os.path.join(ROOT, "docs", "config.md"), encoding="utf-8") as f:
        reference = f.read()
    assert markdown_table() in reference, \
        "regenerate the table in docs/config.md with: python -m utils.config"
    assert len(SCHEMA) > 5


@pytest.mark.parametrize("value", ["../../escape", "a/b", "a\\b", "..", "runs/../x", "x" * 201])
def test_an_id_is_a_name_not_a_path(value):
    with pytest.raises(UserError, match=re.escape("config: 'id' is ") + ".*" +
                       re.escape("; it names the run directory: no path separators, no '..', at most 200 characters")):
        build_config(SEED_SAMPLE, [f"id={value}"])
    assert build_config(SEED_SAMPLE, ["id=run 1.2_b-c"]).id == "run 1.2_b-c"


@pytest.mark.parametrize("override,message", [
    ("training.batch_size=1000000000000000000000000000000",
     "'training.batch_size' is 1000000000000000000000000000000; it must be in [2, 2^16]"),
    (f"training.batch_size={2 ** 40}", f"'training.batch_size' is {2 ** 40}; it must be in [2, 2^16]"),
    ("training.batch_size=1", "'training.batch_size' is 1; it must be in [2, 2^16]"),  # BatchNorm1d needs 2
    (f"test.batch_size={2 ** 17}", f"'test.batch_size' is {2 ** 17}; it must be in [1, 2^16]"),
    ("model.shared_dim=1000000000000", "'model.shared_dim' is 1000000000000; it must be in [1, 2^14]"),
    ("model.exclusive_dim=100000", "'model.exclusive_dim' is 100000; it must be in [1, 2^14]"),
    ("model.shared_hidden=0", "'model.shared_hidden' is 0; it must be in [1, 2^14]"),
    ("model.encoder_channels=[32, 64, 128, 1000000000]",
     "'model.encoder_channels' holds 1000000000; each must be in [1, 2^14]"),
    ("model.decoder_channels=[0, 8, 8, 8]", "'model.decoder_channels' holds 0; each must be in [1, 2^14]"),
    ("training.num_workers=100000", "'training.num_workers' is 100000; it must be in [0, 256]"),
])
def test_sizes_have_an_upper_bound(override, message):
    with pytest.raises(UserError, match=re.escape(message)):
        build_config(SEED_SAMPLE, [override])


def test_the_largest_sizes_are_valid_values():
    cfg = build_config(SEED_SAMPLE, [f"training.batch_size={2 ** 16}", f"model.shared_dim={2 ** 14}",
                                     f"model.encoder_channels=[1, 1, 1, {2 ** 14}]", "training.num_workers=256"])
    assert cfg.training.batch_size == 2 ** 16 and cfg.model.encoder_channels[-1] == 2 ** 14


def write(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    return str(path)


def test_parser_limits_are_one_line(tmp_path):
    """json raises ValueError for an integer of more than 4,300 digits and RecursionError for deep nesting."""
    digits = "1" * 5000
    with pytest.raises(UserError, match=re.escape("config file ") + ".*" +
                       re.escape("is not valid JSON: it holds an integer of more than 4300 digits")):
        load_config(write(tmp_path, '{"dataset": "MNIST-CDCB", "path_to_data": "x", "seed": %s}' % digits))
    with pytest.raises(UserError, match=re.escape("is not valid JSON: it nests brackets too deeply")):
        load_config(write(tmp_path, '{"dataset": "MNIST-CDCB", "path_to_data": "x", "seed": %s}'
                          % ("[" * 100000 + "]" * 100000)))
    with pytest.raises(UserError, match=re.escape("--set 'seed': cannot read '11111111111111111111...' as an "
                                                  "integer (it holds an integer of more than 4300 digits)")):
        build_config(SEED_SAMPLE, [f"seed={digits}"])
    with pytest.raises(UserError, match=re.escape("--set 'training.milestones': cannot read '[[[[[[[[[[[[[[[[[[[[...'"
                                                  " as a list of integers (it nests brackets too deeply)")):
        build_config(SEED_SAMPLE, ["training.milestones=" + "[" * 100000 + "]" * 100000])


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(UserError) as refused:
        build_config(SEED_SAMPLE, ["training.batch_size=" + "9" * 4000])
    assert str(refused.value) == ("config: 'training.batch_size' is 99999999999999999999... (4000 digits); "
                                  "it must be in [2, 2^16]")


@pytest.mark.parametrize("text,key", [("NaN", "model.leaky_slope"), ("Infinity", "model.leaky_slope"),
                                      ("-Infinity", "training.lr"), ("1e999", "training.rec_weight")])
def test_numbers_must_be_finite(tmp_path, text, key):
    section, name = key.split(".")
    config = '{"dataset": "MNIST-CDCB", "path_to_data": "x", "%s": {"%s": %s}}' % (section, name, text)
    with pytest.raises(UserError, match=re.escape(f"config: '{key}' is ") + ".*" + re.escape("; numbers must be finite")):
        load_config(write(tmp_path, config))
    with pytest.raises(UserError, match=re.escape(f"config: '{key}' is ") + ".*" + re.escape("; numbers must be finite")):
        build_config(SEED_SAMPLE, [f"{key}={text}"])


def test_an_integer_too_large_for_a_float_key_is_one_line():
    with pytest.raises(UserError, match=re.escape("config: 'training.lr' is 10000000000000000000... (401 digits); "
                                                  "numbers must be finite")):
        build_config(SEED_SAMPLE, [f"training.lr={10 ** 400}"])


def test_a_key_given_twice_is_named(tmp_path):
    """json keeps the last of two equal keys without a word; a config that says two things is refused."""
    path = write(tmp_path, '{"dataset": "MNIST-CDCB", "path_to_data": "x",\n'
                           ' "training": {"lr": 0.1, "batch_size": 4,\n "lr": 0.2}}')
    with pytest.raises(UserError) as refused:
        load_config(path)
    assert str(refused.value) == f"config file {path}: key 'training.lr' appears twice; keep one"
    with pytest.raises(UserError, match=re.escape("key 'id' appears twice")):
        load_config(write(tmp_path, '{"id": "a", "dataset": "MNIST-CDCB", "path_to_data": "x", "id": "b"}'))
