"""The config schema: every key's default, type and meaning, defined once.

A config is the reference port's README's JSON (which loads unchanged) plus optional keys. Loading
checks it against SCHEMA: unknown keys (with the nearest valid key suggested), missing
required keys, keys given twice, wrong types, numbers that are not finite or outside their
range raise UserError naming the dotted key. `--set a.b=v` overrides are typed by the same schema. `python -m utils.config` prints the Markdown
table docs/config.md carries.
"""
import difflib
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from utils.errors import UserError
from utils.rundir import run_path_problem

REQUIRED = object()
# The demo's batch over its training pairs: the reference port's per-pair KL scale at the demo's size.
DEMO_KL_SCALE = 16 / 4500


@dataclass(frozen=True)
class Key:
    default: Any
    type: str  # "int", "float", "bool", "str", "int_list", "int_or_latest"
    doc: str
    choices: tuple = ()
    # The valid interval of a number (of each of an int_list), e.g. "[0, 1)"; "2^N" may be a bound. Every
    # number is bounded: an integer by what the code counts in (2^63, torch's int64), a float by what
    # float32, the networks' type, holds (3.4e38); a larger one overflows inside the run, not here.
    range: str = ""


SCHEMA = dict(
    id=Key("IIAE", "str", "Run name; the run directory is `<output_root>/<YYYY-MM-DD_HH-MM>_<id>`, so it is a "
           "name: no path separators, no `..`, at most 200 characters and 234 bytes of UTF-8."),
    dataset=Key(REQUIRED, "str", "Dataset name: one that a module of `dataloader/datasets/` registers, as the "
                "table of datasets lists them (`python -m dataloader.registry` prints it)."),
    path_to_data=Key(REQUIRED, "str", "Dataset root (relative paths are taken from the working directory)."),
    train=Key(1, "int", "1 trains, 0 tests the checkpoint named in `test`.", (0, 1)),
    resolution=Key(256, "int", "Image side in pixels; a power of two from 32 to 512.",
                   (32, 64, 128, 256, 512)),
    seed=Key(0, "int", "Seed for parameters, data order, dropout and sampling.", range="[0, 2^64)"),
    device=Key("auto", "str", "`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`."),
    output_root=Key(".", "str", "Folder in which run directories are created; a UTF-8 path (TensorBoard's)."),
    model=dict(
        name=Key("IIAE", "str", "Model name; `\"model\": \"IIAE\"` (the reference port's form) sets only this.", ("IIAE",)),
        exclusive_dim=Key(8, "int", "Size of each exclusive code z^x, z^y.", range="[1, 2^14]"),
        shared_dim=Key(128, "int", "Size of the shared code z^s.", range="[1, 2^14]"),
        shared_hidden=Key(256, "int", "Width of the hidden linear layer of R_x, R_y and Q.", range="[1, 2^14]"),
        encoder_channels=Key([32, 64, 128, 256], "int_list",
                             "Channels of the four stride-2 convolutions of E_x, E_y and F.", range="[1, 2^14]"),
        decoder_channels=Key([512, 256, 128, 64], "int_list",
                             "Channels of the four transposed convolutions of D_x, D_y (the first is also the reference port's).",
                             range="[1, 2^14]"),
        dropout=Key(0.5, "float", "Dropout after the first two decoder blocks.", range="[0, 1)"),
        leaky_slope=Key(0.02, "float", "LeakyReLU slope (the reference port's 0.02; the official TF code uses 0.2).",
                        range="[-3.4e38, 3.4e38]"),
        logvar_clamp=Key(9.21, "float", "Log-variances are clamped to [-c, c], as in the official code (variance <= 1e4).", range="(0, 3.4e38]"),
        kl_anneal_iters=Key(25000, "int", "KL annealing a(t) = 1 - exp(-t / this); 0 turns annealing off (a = 1).", range="[0, 2^63)"),
        kl_scaling=Key("none", "str",
                       "`none` uses the plain KL of the paper, so a config means the same objective on any "
                       "number of training pairs. `batch_over_dataset` multiplies every KL term by the global "
                       "batch (batch_size x processes) / number of training pairs, the reference port's choice: "
                       "its objective changes with the dataset's size (16/100 on 100 pairs, 16/60,000 on full "
                       "MNIST-CDCB), and the run's first lines warn with the factor. A config that names neither (as the "
                       "reference port's own do not) trains the plain KL, and its run's first lines say so, with the "
                       "factor by which that differs from the reference port's objective on its data.",
                       ("none", "batch_over_dataset")),
        feature_norm=Key("instance", "str",
                         "Normalization in the shared feature extractor F, whose convolutions serve both domains: "
                         "`instance` (per-domain InstanceNorm: each image's own statistics), `domain` (per-domain "
                         "BatchNorm), `shared` (the reference port's one BatchNorm for both domains; its running averages fit "
                         "neither domain, so evaluate it with `eval_batchnorm: batch`). See docs/measurements.md.",
                         ("instance", "domain", "shared")),
        init=Key("pytorch", "str",
                 "Initial weights: `pytorch` is PyTorch's default layer initialisation; `kaiming_normal` the reference port's "
                 "(Kaiming-normal Conv/Linear weights, zero biases), which starts disentangling much later "
                 "(docs/measurements.md).", ("pytorch", "kaiming_normal")),
        decoder=Key("film", "str",
                    "Decoders D_x, D_y: `film` conditions every decoder block on the exclusive code (per-channel "
                    "scale and shift from a small MLP of it), so translations take the reference's style; "
                    "`reference` is the reference port's decoder, which sees the exclusive code only in its first "
                    "linear layer (docs/measurements.md).", ("film", "reference")),
        decoder_output=Key("tanh", "str",
                           "The decoders' last activation: `tanh` (the reference port's) or `clamp` (values "
                           "clipped to [-1, 1], the gradient passed straight through). On mostly white images "
                           "(thin dark lines) tanh saturated and the decoder drew blank white; clamp does not "
                           "saturate (docs/measurements.md).", ("tanh", "clamp")),
        eval_batchnorm=Key("running", "str",
                           "BatchNorm statistics for codes, samples and results: `running` the running averages "
                           "(evaluation mode: an image's output does not depend on its batch), `batch` each "
                           "evaluated batch's own statistics (what the reference port does).",
                           ("running", "batch")),
    ),
    data=dict(
        x_half=Key("left", "str", "`paired` dataset: which half of each side-by-side image is domain X.",
                   ("left", "right")),
        skip_bad_files=Key(False, "bool", "Skip undecodable images with a warning instead of stopping."),
        cache=Key("none", "str", "Decode-and-resize cache: `none`, `memory` (uint8 in RAM) or `disk` "
                  "(uint8 file in `<output_root>/.cache`).", ("none", "memory", "disk")),
    ),
    training=dict(
        max_iters=Key(50000, "int", "Training iterations.", range="[1, 2^63)"),
        resume_iters=Key(0, "int_or_latest", "Resume from this checkpoint iteration of `restored_model_path`; "
                         "`\"latest\"` takes its newest good checkpoint; 0 starts fresh.", range="[0, 2^63)"),
        restored_model_path=Key("", "str", "Run directory to resume from (its `models/` folder is read)."),
        batch_size=Key(16, "int", "Pairs per step, per process under torchrun (BatchNorm needs two).",
                       range="[2, 2^16]"),
        lr=Key(0.00002, "float", "Adam learning rate of all three optimizers.", range="[0, 3.4e38]"),
        weight_decay=Key(0.0, "float", "Adam weight decay.", range="[0, 3.4e38]"),
        beta1=Key(0.9, "float", "Adam beta1.", range="[0, 1)"),
        beta2=Key(0.999, "float", "Adam beta2.", range="[0, 1)"),
        milestones=Key([10000, 30000], "int_list", "Iterations at which the learning rate is multiplied by scheduler_gamma.",
                       range="[0, 2^63)"),
        scheduler_gamma=Key(0.5, "float", "Learning-rate decay factor at each milestone.", range="(0, 3.4e38]"),
        rec_weight=Key(100.02, "float", "Weight of the reconstruction terms.", range="[0, 3.4e38]"),
        rec_loss=Key("l1", "str", "Distance of the reconstruction and cross terms, per pixel: `l1` (the reference "
                     "port's) or `l2` (squared error). Where the source's detail is uncertain L1 draws the "
                     "median, blank on thin lines, and L2 the mean, a blur that shows it (docs/measurements.md, "
                     "Your own paired data).", ("l1", "l2")),
        X_kld_weight=Key(5.02 * DEMO_KL_SCALE, "float",
                         "Weight of KL(q(z^x|x)||N(0,I)) + KL(q(z^y|y)||N(0,I)) (annealed). The three KL weights "
                         "default to the demo's: the reference port's 5.02 and 0.02 and the demo's 10, each times "
                         "16/4,500 (the demo's batch over its 4,500 training pairs). The reference port's weights "
                         "(its sample config sets them) weigh the KL terms training pairs / batch times more under "
                         "`none` than in the reference port (281 times on 4,500 pairs); "
                         "`\"kl_scaling\": \"batch_over_dataset\"` in `model` restores its objective.", range="[0, 3.4e38]"),
        S_kld_weight=Key(0.02 * DEMO_KL_SCALE, "float", "Weight of KL(q(z^s|x,y)||N(0,I)) (annealed).",
                         range="[0, 3.4e38]"),
        inter_kld_weight=Key(10 * DEMO_KL_SCALE, "float",
                             "Weight of KL(q(z^s|x,y)||r^x(z^s|x)) + KL(q(z^s|x,y)||r^y(z^s|y)).", range="[0, 3.4e38]"),
        cross_rec_weight=Key(0.0, "float", "Weight of d(D_x(z^x, z^s ~ r^y(y)), x) + d(D_y(z^y, z^s ~ r^x(x)), y) (d: rec_loss): "
                             "reconstruction through the other domain's single-domain shared code, the path "
                             "translation takes at test time; 0 leaves it out (and its cost).", range="[0, 3.4e38]"),
        marginal_kld_weight=Key(0.0, "float", "Weight of KL(N(m, S)||N(0,I)) for z^x and for z^y, where m and S are "
                                "the mean and covariance of the batch's aggregate exclusive posterior: it spreads "
                                "the exclusive codes like the prior, so random styles drawn from N(0,I) fall "
                                "among the styles the decoders learnt; 0 leaves it out.", range="[0, 3.4e38]"),
        print_freq=Key(100, "int", "Iterations between TensorBoard scalars and progress-line updates.", range="[1, 2^63)"),
        sample_freq=Key(2000, "int", "Iterations between sample grids (`samples/<iter>/`).", range="[1, 2^63)"),
        model_save_freq=Key(5000, "int", "Iterations between checkpoints (one is always written at the end).", range="[1, 2^63)"),
        eval_freq=Key(0, "int", "Iterations between evaluations of every measure on the test split, logged to TensorBoard; 0 is off.", range="[0, 2^63)"),
        eval_pairs=Key(0, "int", "Test pairs used by the in-training evaluations before the last iteration (the one at the last iteration uses them all); 0 uses them all.", range="[0, 2^63)"),
        keep_last=Key(0, "int", "Keep only this many newest checkpoints; 0 keeps all.", range="[0, 2^63)"),
        num_workers=Key(2, "int", "DataLoader worker processes.", range="[0, 256]"),
        precision=Key("fp32", "str", "`fp32`, `bf16` or `fp16` (autocast; fp16 adds a gradient scaler).",
                      ("fp32", "bf16", "fp16")),
        channels_last=Key(False, "bool", "Use the channels-last memory format for images and convolutions."),
        compile=Key(False, "bool", "Wrap the networks in torch.compile."),
        sync_bn=Key(False, "bool", "Under torchrun, synchronise BatchNorm statistics across processes."),
    ),
    test=dict(
        test_iters=Key(50000, "int_or_latest", "Checkpoint iteration to test; `\"latest\"` takes the newest.", range="[0, 2^63)"),
        batch_size=Key(16, "int", "Pairs per test batch.", range="[1, 2^16]"),
        test_path=Key("", "str", "Run directory whose `models/<test_iters>-checkpoint.pt` is tested; "
                      "results go to its `results/`."),
        num_results=Key(0, "int", "Test batches drawn as result grids; 0 draws them all.", range="[0, 2^63)"),
    ),
)


# Keys a resumed run may change without changing what it trains: how long it runs, how often it reports,
# samples, saves and evaluates, how it loads its data and where it runs; plus the test section, which
# training reads only for its evaluation batches. Resuming with a CONFIG that differs from the run's saved
# config in any other key stops (main.py); `--set` changes any key deliberately.
RESUME_SAFE = ("training.max_iters", "training.print_freq", "training.sample_freq", "training.model_save_freq",
               "training.eval_freq", "training.eval_pairs", "training.keep_last", "training.num_workers",
               "data.cache", "device", "output_root", "test")


def flatten(cfg, prefix=""):
    """{dotted key: value} of a nested config."""
    out = {}
    for name, value in cfg.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + name + "."))
        else:
            out[prefix + name] = value
    return out


def resume_differences(cfg, saved, overrides=()):
    """The dotted keys in which `cfg` differs from the run's `saved` config, leaving out RESUME_SAFE keys
    (a section name covers its keys) and those set with `--set` (overrides): [(key, saved value, value)]."""
    deliberate = {text.split("=", 1)[0].strip() for text in overrides}
    here, there = flatten(cfg), flatten(saved)
    return [(key, there.get(key), value) for key, value in here.items()
            if value != there.get(key) and key not in deliberate
            and not any(key == safe or key.startswith(safe + ".") for safe in RESUME_SAFE)]


class Config(dict):
    """A nested dict with attribute access (cfg.training.lr); saved back as plain JSON. `defaulted`: the
    names of the keys of this section that the file did not set (filled in from the schema)."""
    defaulted = frozenset()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self):
        return json.loads(json.dumps(self))


def _type_ok(kind, value):
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool) or value in (0, 1)
    if kind == "str":
        return isinstance(value, str)
    if kind == "int_list":
        return isinstance(value, list) and all(_type_ok("int", v) for v in value)
    if kind == "int_or_latest":
        return _type_ok("int", value) or value == "latest"
    raise ValueError(kind)


_TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "int_list": "a list of integers", "int_or_latest": "an integer or \"latest\""}


def _normalise(kind, value, path):
    if kind == "float":
        number = float(value) if not isinstance(value, int) or abs(value) < 2 ** 1023 else math.inf
        if not math.isfinite(number):
            raise UserError(f"config: '{path}' is {_shown(value)}; numbers must be finite")
        return number
    if kind == "bool":
        return bool(value)
    return value


def _shown(value):
    """A value as a message shows it: JSON, a long integer cut to its first digits."""
    digits = str(abs(value)) if isinstance(value, int) and not isinstance(value, bool) else ""
    if len(digits) > 40:
        return f"{'-' if value < 0 else ''}{digits[:20]}... ({len(digits)} digits)"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
    return json.dumps(value)


def _all_keys(schema=SCHEMA, prefix=""):
    for name, spec in schema.items():
        path = prefix + name
        if isinstance(spec, dict):
            yield from _all_keys(spec, path + ".")
        else:
            yield path, spec


def _unknown(path, name, candidates):
    near = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f"; did you mean '{path}{near[0]}'?" if near else ""
    return UserError(f"config: unknown key '{path}{name}'{hint}")


def _check(raw, schema, prefix):
    if not isinstance(raw, dict):
        raise UserError(f"config: '{prefix.rstrip('.')}' must be an object")
    out = Config()
    for name, value in raw.items():
        if name not in schema:
            raise _unknown(prefix, name, list(schema))
    out.defaulted = frozenset(name for name, spec in schema.items() if name not in raw and not isinstance(spec, dict))
    for name, spec in schema.items():
        path = prefix + name
        if isinstance(spec, dict):
            out[name] = _check(raw.get(name, {}), spec, path + ".")
            continue
        if name not in raw:
            if spec.default is REQUIRED:
                raise UserError(f"config: missing required key '{path}'")
            out[name] = json.loads(json.dumps(spec.default))
            continue
        value = raw[name]
        if not _type_ok(spec.type, value):
            shown = _shown(value) if isinstance(value, (int, float)) else _short(json.dumps(value))
            raise UserError(f"config: '{path}' must be {_TYPE_NAMES[spec.type]}, got {shown}")
        value = _normalise(spec.type, value, path)
        if spec.range and spec.type == "int_list":
            outside = [v for v in value if not _in_range(spec.range, v)]
            if outside:
                raise UserError(f"config: '{path}' holds {_shown(outside[0])}; each must be in {spec.range}")
        elif spec.range and value != "latest" and not _in_range(spec.range, value):
            raise UserError(f"config: '{path}' is {_shown(value)}; it must be in {spec.range}")
        if spec.choices and value not in spec.choices:
            allowed = ", ".join(json.dumps(c) for c in spec.choices)
            raise UserError(f"config: '{path}' is {_short(json.dumps(value))}; choose one of {allowed}")
        out[name] = value
    return out


def _short(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "..."


def _bound(text):
    text = text.strip()
    if text.startswith("2^"):
        return 2 ** int(text[2:])
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _in_range(interval, value):
    """Whether value lies in `interval`, written "[lo, hi)" etc.; ints are compared exactly."""
    lo, hi = map(_bound, interval[1:-1].split(","))
    return ((lo <= value) if interval[0] == "[" else (lo < value)) and \
        ((value <= hi) if interval[-1] == "]" else (value < hi))


def is_device_name(text):
    """Whether text names a device as the config's `device` and the commands' --device do."""
    return text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit())


def _validate_values(cfg):
    # The run directory is <output_root>/<date>_<id>: a separator or '..' would put it elsewhere.
    if any(bad in cfg.id for bad in ("/", "\\", "..", "\0")) or len(cfg.id) > 200:
        raise UserError(f"config: 'id' is {_short(json.dumps(cfg.id))}; it names the run directory: no path "
                        "separators, no '..', at most 200 characters")
    # Training may make a run directory named by the id; test mode writes into the one it tests.
    named = {"id": cfg.id, "output_root": cfg.output_root} if cfg.train else {"test.test_path": cfg.test.test_path}
    if cfg.train and cfg.training.resume_iters:
        named["training.restored_model_path"] = cfg.training.restored_model_path
    problem = run_path_problem(named)
    if problem:
        key, why = problem
        raise UserError(f"config: '{key}' is {_short(json.dumps(named[key]))}; {why}")
    for path in ("model.encoder_channels", "model.decoder_channels"):
        section, name = path.split(".")
        if len(cfg[section][name]) != 4:
            raise UserError(f"config: '{path}' must list four positive channel counts")
    device = cfg.device
    if not is_device_name(device):
        raise UserError(f"config: 'device' is \"{device}\"; use \"auto\", \"cpu\", \"cuda\" or \"cuda:N\"")
    if cfg.training.resume_iters != 0 and not cfg.training.restored_model_path:
        raise UserError("config: 'training.resume_iters' is set but 'training.restored_model_path' is empty")
    if not cfg.train and not cfg.test.test_path:
        raise UserError("config: 'test.test_path' is empty; test mode needs the run directory to test")


class _Pairs(list):
    """A JSON object as json read it: its (key, value) pairs in order, a key given twice included."""


class _Unreadable(Exception):
    pass


class _Duplicate(_Unreadable):
    pass


def _objects(value, path=""):
    """value with every _Pairs made a dict; _Duplicate naming a key given twice (json would keep the last)."""
    if isinstance(value, _Pairs):
        out = {}
        for key, item in value:
            if key in out:
                raise _Duplicate(f"key '{path}{key}' appears twice; keep one")
            out[key] = _objects(item, f"{path}{key}.")
        return out
    if isinstance(value, list):
        return [_objects(item, path) for item in value]
    return value


def parse_json(text):
    """json.loads, refusing a key given twice (_Duplicate); what json itself cannot read (an integer of more
    digits than Python converts, brackets nested deeper than its recursion limit) raises _Unreadable with
    the reason."""
    try:
        return _objects(json.loads(text, object_pairs_hook=_Pairs))
    except json.JSONDecodeError as e:
        raise _Unreadable(f"line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise _Unreadable("it nests brackets too deeply") from None
    except ValueError:  # the only other one json.loads raises: int("...") of too many digits
        raise _Unreadable(f"it holds an integer of more than {sys.get_int_max_str_digits()} digits") from None


def parse_override(text):
    """'training.lr=1e-4' -> (['training', 'lr'], typed value), typed by the schema."""
    if "=" not in text:
        raise UserError(f"--set '{text}': expected KEY=VALUE, e.g. training.max_iters=200")
    path, raw = text.split("=", 1)
    parts = path.strip().split(".")
    schema, prefix = SCHEMA, ""
    for part in parts[:-1]:
        if not isinstance(schema.get(part), dict):
            raise _unknown(prefix, part, [k for k, v in schema.items() if isinstance(v, dict)])
        schema, prefix = schema[part], prefix + part + "."
    spec = schema.get(parts[-1])
    if spec is None:
        raise _unknown(prefix, parts[-1], list(schema))
    if isinstance(spec, dict):
        raise UserError(f"--set '{path}': that is a section; set one of its keys")
    if spec.type == "str":
        return parts, raw
    if spec.type == "bool" and raw.lower() in ("true", "false"):
        return parts, raw.lower() == "true"
    if spec.type == "int_or_latest" and raw == "latest":
        return parts, raw
    try:
        return parts, parse_json(raw)
    except _Unreadable as e:
        reason = f" ({e})" if not str(e).startswith("line ") else ""
        raise UserError(f"--set '{path}': cannot read '{_short(raw, 20)}' as {_TYPE_NAMES[spec.type]}{reason}") from None


def _set(raw, parts, value):
    """raw[a][b]... = value for --set a.b...=value; a section the file made something other than an object
    (`"training": null`) is named, since the key cannot go into it."""
    node = raw
    for i, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set '{'.'.join(parts)}': the config's '{'.'.join(parts[:i + 1])}' is "
                            f"{_short(json.dumps(node))}, not an object of keys")
    node[parts[-1]] = value


def build_config(raw, overrides=()):
    """Validate a raw JSON object (plus `--set` overrides) into a Config with every default filled in."""
    if not isinstance(raw, dict):
        raise UserError("config: the file must hold a JSON object")
    raw = json.loads(json.dumps(raw))
    if isinstance(raw.get("model"), str):
        raw["model"] = {"name": raw["model"]}
    for text in overrides:
        _set(raw, *parse_override(text))
    cfg = _check(raw, SCHEMA, "")
    _validate_values(cfg)
    return cfg


def load_config(path, overrides=()):
    if not os.path.isfile(path):
        raise UserError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            raw = parse_json(f.read())
    except _Duplicate as e:
        raise UserError(f"config file {path}: {e}") from None
    except _Unreadable as e:
        raise UserError(f"config file {path} is not valid JSON: {e}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"config file {path} is not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r}); "
                        "save it as UTF-8 JSON") from None
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror}") from None
    return build_config(raw, overrides)


def _default_text(spec):
    if spec.default is REQUIRED:
        return "required"
    return f"`{json.dumps(spec.default)}`"


def markdown_table():
    """docs/config.md's config reference, generated from SCHEMA so the two cannot drift."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for path, spec in _all_keys():
        doc = spec.doc
        if spec.choices and spec.type == "str":
            doc += " One of " + ", ".join(f"`{c}`" for c in spec.choices) + "."
        if spec.range:
            doc += f" Range{' of each' if spec.type == 'int_list' else ''}: `{spec.range}`."
        lines.append(f"| `{path}` | {_default_text(spec)} | {doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
