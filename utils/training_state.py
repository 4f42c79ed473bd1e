"""The training state a checkpoint holds beside the networks (optimizers, schedulers, gradient scaler, RNG),
checked field by field against the objects resume loads it into, before any of it is loaded: a file from
elsewhere may hold anything that weights_only loading lets through, and torch's load_state_dict methods
trust what they get (a KeyError or TypeError midway, a scheduler attribute replaced, a moment of the
wrong shape that fails only at the first step)."""
import collections
import json

import torch

from utils.errors import UserError


def shown(value):
    """A field's value as a message shows it: JSON when plain, else its type; at most 40 characters."""
    try:
        text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None), list, dict)) else None
    except (TypeError, ValueError):  # a container of tensors or other objects
        text = None
    text = text or type(value).__name__
    return text if len(text) <= 40 else text[:40] + "..."


class _Wrong(Exception):
    """The first field that is not what resume reads."""


def _not(field, value, expected):
    return _Wrong(f"'{field}' is {shown(value)}, not {expected}")


FLOAT32_MAX = 3.4e38


def _number(value):
    """A number the optimizers and schedulers can compute with (float32's range, as the config's keys)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and -FLOAT32_MAX <= value <= FLOAT32_MAX


def _like(value, own, field):
    """Raise _Wrong unless `value` is of the kind of `own`, this run's value of the same field."""
    if isinstance(own, bool) or own is None:
        # Settings the code fixes (amsgrad, fused, ...): another changes what the optimizer reads.
        if type(value) is not type(own) or value != own:
            raise _not(field, value, f"{shown(own)} as this run's")
    elif isinstance(own, (int, float)):
        if not _number(value) or isinstance(own, int) and not float(value).is_integer():
            raise _not(field, value, "an integer" if isinstance(own, int) else "a number in float32's range")
    elif isinstance(own, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.shape != own.shape or value.dtype != own.dtype:
            raise _not(field, value, f"a {own.dtype} tensor of shape {list(own.shape)}")
    elif isinstance(own, collections.Counter):
        if not isinstance(value, collections.Counter) or not all(
                isinstance(k, int) and not isinstance(k, bool) and isinstance(n, int) and not isinstance(n, bool)
                for k, n in value.items()):
            raise _not(field, value, "a Counter of iteration numbers")
    elif isinstance(own, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(own):
            raise _not(field, value, f"a list of {len(own)}")
        for i, (item, own_item) in enumerate(zip(value, own)):
            _like(item, own_item, f"{field}.{i}")
    elif isinstance(own, dict):
        _fields(value, own, field)
    elif type(value) is not type(own):
        raise _not(field, value, f"a {type(own).__name__}")


def _fields(value, own, field, names=None):
    """`value` a dict with own's keys (flags, whose own value is a bool or None, may be absent: they keep
    this run's) of own's kinds; other keys only where `names` (the loading object's attributes) has none."""
    if not isinstance(value, dict):
        raise _not(field, value, "an object of named fields")
    for key, own_value in own.items():
        if key in value:
            _like(value[key], own_value, f"{field}.{key}")
        elif not (isinstance(own_value, bool) or own_value is None):
            raise _Wrong(f"'{field}.{key}' is missing")
    for key in value:
        if key not in own and names is not None and (not isinstance(key, str) or hasattr(names, key)):
            raise _Wrong(f"'{field}' holds {shown(key)}, which would replace an attribute of what it is "
                         "loaded into")


def _optimizer(value, optimizer, field):
    """An optimizer's state_dict: param_groups as this run's, and per parameter Adam's step and moments of
    the parameter's shape."""
    own = optimizer.state_dict()
    if not isinstance(value, dict) or not isinstance(value.get("state"), dict):
        raise _not(f"{field}.state", value.get("state") if isinstance(value, dict) else value,
                   "an object of the parameters' state")
    groups = value.get("param_groups")
    if not isinstance(groups, (list, tuple)) or len(groups) != len(own["param_groups"]):
        raise _not(f"{field}.param_groups", groups, f"a list of {len(own['param_groups'])} parameter groups")
    params = {}
    for i, (group, own_group, group_params) in enumerate(zip(groups, own["param_groups"], optimizer.param_groups)):
        settings = {key: v for key, v in own_group.items() if key != "params"}
        _fields(group, settings, f"{field}.param_groups.{i}")
        ids = group.get("params")
        if not isinstance(ids, (list, tuple)) or len(ids) != len(group_params["params"]) or \
                not all(isinstance(n, int) and not isinstance(n, bool) for n in ids) or len(set(ids)) != len(ids):
            raise _not(f"{field}.param_groups.{i}.params", ids,
                       f"a list of {len(group_params['params'])} distinct parameter numbers")
        params.update(zip(ids, group_params["params"]))
    for n, entry in value["state"].items():
        if n not in params:
            raise _Wrong(f"'{field}.state' holds {shown(n)}, not a parameter number of its param_groups")
        p = params[n]
        adam = {"step": torch.zeros((), dtype=torch.float32), "exp_avg": p.detach(), "exp_avg_sq": p.detach()}
        _fields(entry, adam, f"{field}.state.{n}")
        if not all(bool(torch.isfinite(t).all()) for t in entry.values() if isinstance(t, torch.Tensor)):
            raise _Wrong(f"'{field}.state.{n}' holds non-finite values")


def _named(value, names, field):
    if not isinstance(value, dict) or set(value) != set(names):
        raise _not(field, value, f"an object of the state of {', '.join(names)}")


def check_training_state(state, path, optimizers, schedulers, scaler):
    """UserError naming `path` and the first field of its optimizers, schedulers, scaler and rng state that
    is not what loading it into these objects reads. A scaler saved without fp16 ({}) is fine: a resume
    that turns fp16 on starts a fresh one."""
    try:
        _named(state["optimizers"], optimizers, "optimizers")
        _named(state["schedulers"], schedulers, "schedulers")
        for name, optimizer in optimizers.items():
            _optimizer(state["optimizers"][name], optimizer, f"optimizers.{name}")
            _fields(state["schedulers"][name], schedulers[name].state_dict(), f"schedulers.{name}",
                    names=schedulers[name])
        if scaler.is_enabled() and state["scaler"] != {}:
            _fields(state["scaler"], scaler.state_dict(), "scaler", names=scaler)
        elif not isinstance(state["scaler"], dict):
            raise _not("scaler", state["scaler"], "an object of named fields")
        _fields(state["rng"], {"torch": torch.get_rng_state()}, "rng")
        cuda = state["rng"].get("cuda")
        if not isinstance(cuda, (list, tuple)) or not all(
                isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.dim() == 1 for t in cuda):
            raise _not("rng.cuda", cuda, "a list of uint8 tensors")
    except _Wrong as e:
        raise UserError(f"checkpoint {path}: {e}; training cannot continue from it (move it out of the "
                        "run's models/ to resume from the checkpoint before it)") from None
