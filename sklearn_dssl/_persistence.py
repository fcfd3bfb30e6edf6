"""Saving and loading fitted estimators without pickle.

A saved model is two members, in a directory or in one zip file:

- ``metadata.json``: the format tag and version, the estimator's class, its
  parameters and ``set_output`` choice, its fitted attributes other than
  torch modules (``modalities_``, ``feature_names_in_``, the FastICA or CCA
  matrices, ...), the architecture of every fitted net with its training
  history, and the SHA-256 of the weights; for a Pipeline, also its
  StandardScaler and FunctionTransformer steps before the estimator;
- ``weights.pt``: the state dicts of the fitted nets, written by
  :func:`torch.save` and read back with ``torch.load(weights_only=True,
  map_location="cpu")``, which never runs pickled code.

Loading rebuilds every net from its recorded architecture and loads the
weights into it; nothing in the files can name a class or function to call
beyond the fixed set of estimators, modules, FastICA, StandardScaler and
FunctionTransformer known here, and a FunctionTransformer's function is one
of the few numpy functions named in ``FUNCTIONS``.
"""

import contextlib
import hashlib
import inspect
import io
import json
import lzma
import os
import re
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.decomposition import FastICA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from skorch import NeuralNet
from skorch.history import History

from ._baseline_modules import JointEncoders, MultimodalVAE
from ._baselines import DMVAE, FOCAL, JointOptSSL
from ._contrastive import MultimodalContrastive
from ._disentangled import STEP1_ONLY_PARAMETERS, DisentangledSSL
from ._linear import LinearCCA, loadings_from_residual_maps
from ._losses import ContrastiveObjective, SharedObjective, SpecificObjective
from ._modalities import _is_sequence, is_labelled_series
from ._modules import (
    HEADS,
    ContrastiveEncoders,
    SharedEncoders,
    SpecificEncoders,
    TabularAugmenter,
)
from ._neural import ica_on, with_earlier_values
from ._training import make_net, resolve_device, torch_defaults

FORMAT = "sklearn-dssl-model"
# 2: DisentangledSSL stores step1_params_
# 3: LinearCCA stores loadings_ instead of residual_maps_
# 4: a Pipeline's StandardScaler and FunctionTransformer steps before the
#    estimator ("pipeline")
FORMAT_VERSION = 4
# The version written for a lone estimator, whose file earlier releases read.
ESTIMATOR_FORMAT_VERSION = 3
METADATA = "metadata.json"
WEIGHTS = "weights.pt"

ESTIMATORS = {
    cls.__name__: cls
    for cls in (DisentangledSSL, MultimodalContrastive, LinearCCA, JointOptSSL, FOCAL, DMVAE)
}
# The scikit-learn transformers a file may hold: FastICA inside an estimator
# (ica, ica_); SimpleImputer, StandardScaler and FunctionTransformer as
# Pipeline steps before it. A FastICA keeps any fitted attribute; the others
# only those listed.
TRANSFORMERS = {"FastICA": FastICA, "SimpleImputer": SimpleImputer,
                "StandardScaler": StandardScaler, "FunctionTransformer": FunctionTransformer}
TRANSFORMER_ATTRIBUTES = {
    "SimpleImputer": {"n_features_in_", "feature_names_in_", "statistics_", "indicator_"},
    "StandardScaler": {"n_features_in_", "feature_names_in_", "n_samples_seen_", "mean_",
                       "var_", "scale_"},
    "FunctionTransformer": {"n_features_in_", "feature_names_in_"},
}
PIPELINE_STEPS = ("SimpleImputer", "StandardScaler", "FunctionTransformer")
# The functions a FunctionTransformer step may apply (func), and undo
# (inverse_func), by the name stored for them: transforms of counts and
# other skewed measurements.
FUNCTIONS = {"log1p": np.log1p, "arcsinh": np.arcsinh, "sqrt": np.sqrt}
INVERSE_FUNCTIONS = {"expm1": np.expm1, "sinh": np.sinh, "square": np.square}
# Fitted attributes rebuilt from others rather than stored.
ALIASES = {"unmixing_": "components_", "mixing_": "mixing_"}
# The fitted attributes (other than nets) and the nets that save writes for
# each estimator; load accepts no others.
_COMMON = {"modalities_", "n_features_in_", "feature_names_in_"}
ATTRIBUTES = {
    "DisentangledSSL": _COMMON | {"ica_", "step1_params_"},
    "MultimodalContrastive": _COMMON | {"ica_"},
    "LinearCCA": _COMMON | {"means_", "weights_", "canonical_correlations_",
                            "loadings_"},
    "JointOptSSL": _COMMON,
    "FOCAL": _COMMON,
    "DMVAE": _COMMON,
}
NETS = {
    "DisentangledSSL": {"shared_net_", "specific_net_"},
    "MultimodalContrastive": {"net_"},
    "LinearCCA": set(),
    "JointOptSSL": {"net_"},
    "FOCAL": {"net_"},
    "DMVAE": {"net_"},
}
# The fitted attributes and nets that every file of an estimator holds (the
# others depend on the fit: ica_ on ica, feature_names_in_ on X's column
# names, DisentangledSSL's specific_net_ on whether step 2 was trained).
REQUIRED = {
    "DisentangledSSL": {"shared_net_"},
    "MultimodalContrastive": {"net_"},
    "LinearCCA": {"means_", "weights_", "canonical_correlations_", "loadings_"},
    "JointOptSSL": {"net_"},
    "FOCAL": {"net_"},
    "DMVAE": {"net_"},
}
# Fitted attributes that files of earlier format versions hold in place of
# one of today's: (estimator, attribute) to the last version that wrote it.
EARLIER_ATTRIBUTES = {("LinearCCA", "residual_maps_"): 2}
# ... and what each replaces: (estimator, attribute) to today's attribute.
REPLACED_BY = {("LinearCCA", "residual_maps_"): "loadings_"}
# Declared size of a zip member beyond which it must not be more than this
# many times its compressed size (a "zip bomb"): deflate's JSON and weights
# shrink some times, not hundreds.
_ZIP_MEMBER_PLAIN_BYTES = 16 * 2**20
_ZIP_MEMBER_MAX_RATIO = 100
# Longest strings an array of fixed-width strings may hold.
MAX_STRING_LENGTH = 1024
# Transform outputs that set_output takes.
OUTPUTS = ("default", "pandas", "polars")


# --------------------------------------------------------------------------
# JSON with a few tagged types
# --------------------------------------------------------------------------
class _NotEncodable(TypeError):
    pass


_ARRAY_KINDS = set("biufU")


def _encode(value):
    """A JSON-ready form of ``value``; every JSON object is a tagged type."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, torch.device):  # as its name, which means the same
        return str(value)
    if isinstance(value, slice):
        return {"__slice__": [_encode(value.start), _encode(value.stop), _encode(value.step)]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O" and all(isinstance(v, str) for v in value.ravel()):
            dtype = "object"
        elif value.dtype.kind == "U" and value.dtype.itemsize // 4 > MAX_STRING_LENGTH:
            raise _NotEncodable(f"an array of strings longer than {MAX_STRING_LENGTH} characters")
        elif value.dtype.kind in _ARRAY_KINDS:
            dtype = value.dtype.str
        else:
            raise _NotEncodable(f"an array of dtype {value.dtype}")
        return {"__ndarray__": value.tolist(), "dtype": dtype, "shape": list(value.shape)}
    if type(value) is FastICA:  # a Pipeline's scaler steps are stored apart
        return _encode_transformer(value)
    raise _NotEncodable(f"a {type(value).__name__}")


def _decode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict) or len(value) == 0:
        raise ValueError(f"unexpected JSON value {value!r}")
    if set(value) == {"__tuple__"}:
        return tuple(_decode(v) for v in value["__tuple__"])
    if set(value) == {"__dict__"}:
        return {_hashable(_decode(k)): _decode(v) for k, v in value["__dict__"]}
    if set(value) == {"__slice__"}:
        return slice(*[_decode(v) for v in value["__slice__"]])
    if set(value) == {"__ndarray__", "dtype", "shape"}:
        dtype = np.dtype(value["dtype"])
        if value["dtype"] != "object" and dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"unsupported array dtype {value['dtype']!r}")
        if dtype.kind == "U" and not 0 < dtype.itemsize // 4 <= MAX_STRING_LENGTH:
            # an unsized one ("<U") takes its longest string's length
            raise ValueError(
                f"array dtype {value['dtype']!r} holds strings of no length, or longer "
                f"than {MAX_STRING_LENGTH} characters"
            )
        data = value["__ndarray__"]
        if dtype.kind == "O":  # strings, in an array of any shape
            array = np.array(data, dtype=object)
            # (its strings are the JSON's own: no longer than the file allows)
            if array.shape != tuple(value["shape"]) or not all(
                    isinstance(v, str) for v in array.flat):
                raise ValueError(
                    f"an array of objects holds other values than strings, or not of its "
                    f"shape {value['shape']}"
                )
        else:
            array = np.asarray(data, dtype=dtype)
        return array.reshape(value["shape"])
    if set(value) == {"__estimator__", "params", "fitted", "output"}:
        return _decode_transformer(value, allowed=("FastICA",))
    raise ValueError(f"unknown JSON tag in {sorted(value)}")


def _encode_transformer(transformer):
    """A FastICA, StandardScaler or FunctionTransformer as tagged JSON:
    parameters (a FunctionTransformer's functions by name), fitted attributes
    and ``set_output`` choice."""
    attributes = {k: v for k, v in vars(transformer).items()
                  if k.endswith("_") and not k.startswith("__")}
    if type(transformer) is SimpleImputer:
        attributes["statistics_"] = _imputer_statistics(transformer)
    fitted = {k: _encode(v) for k, v in attributes.items()}
    params = _parameters(transformer) if type(transformer) is not FunctionTransformer \
        else _function_transformer_parameters(transformer)
    return {
        "__estimator__": type(transformer).__name__,
        # a RandomState or a callable fun, used only to fit it, become defaults
        "params": {"__dict__": [[name, v] for name, v in params.items()]},
        "fitted": fitted,
        # set_output's choice, e.g. plain arrays whatever the global config
        "output": output_of(transformer),
    }


def _decode_transformer(value, allowed):
    """The transformer that :func:`_encode_transformer` wrote, if its class
    is one of ``allowed``."""
    if set(value) != {"__estimator__", "params", "fitted", "output"}:
        raise ValueError(f"a transformer entry has the fields {sorted(value)}")
    kind = value["__estimator__"]
    if kind not in allowed:
        raise ValueError(f"unsupported estimator {kind!r} (expected {' or '.join(allowed)})")
    params = _decode(value["params"])
    if kind == "FunctionTransformer":
        params = _functions_by_name(params)
    transformer = TRANSFORMERS[kind](**params)
    known = TRANSFORMER_ATTRIBUTES.get(kind)
    fitted = _decode_fields(value["fitted"])
    for name in fitted:
        if not (isinstance(name, str) and name.endswith("_")) or name.startswith("_") or (
            known is not None and name not in known
        ):
            raise ValueError(f"unexpected {kind} attribute {name!r}")
    if kind == "SimpleImputer":
        _fit_imputer_state(transformer, fitted)
    for name, attribute in fitted.items():
        setattr(transformer, name, attribute)
    if value["output"] is not None:
        if value["output"] not in OUTPUTS:
            raise ValueError(f"unknown transform output {value['output']!r}")
        transformer.set_output(transform=value["output"])
    return transformer


def _imputer_statistics(imputer):
    """The numbers a fitted SimpleImputer fills gaps with, as it fills them:
    in the float dtype it was fitted on (its ``transform`` rounds its float64
    means to float32 after a fit on float32 rows), numbers where the
    constant strategy holds them as objects: integers after a fit on integer
    rows (whose transform refuses a float filling value)."""
    statistics = imputer.statistics_
    fill = getattr(imputer, "_fill_dtype", None)  # scikit-learn's own, where it has it
    if statistics.dtype.kind == "O":
        integers = isinstance(fill, np.dtype) and fill.kind in "iu" and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in statistics)
        statistics = statistics.astype(np.int64 if integers else np.float64)
    if isinstance(fill, np.dtype) and fill.kind == "f" and statistics.dtype.kind == "f":
        statistics = statistics.astype(fill)
    return statistics


def _fit_imputer_state(imputer, fitted):
    """Give a SimpleImputer read from a file the state its ``transform``
    reads besides the stored attributes (the dtype it was fitted on, that of
    the stored statistics), by fitting it on one row without missing values;
    the stored statistics then replace the row's."""
    statistics = fitted.get("statistics_")
    if not (isinstance(statistics, np.ndarray) and statistics.ndim == 1
            and statistics.dtype.kind in "iuf" and np.isfinite(statistics).all()):
        raise ValueError("a SimpleImputer step has no finite statistic per column")
    if fitted.get("indicator_") is not None or imputer.add_indicator:
        raise ValueError("a SimpleImputer step adds indicator columns")
    # a value that is not the missing one (NaN is no value's equal)
    value = 1.0 if imputer.missing_values == 0 else 0.0
    # fitted (its fit checks its parameters' types and ranges) on rows of the
    # statistics' dtype, it fills in that dtype: integers only in integer rows
    dtype = np.int64 if statistics.dtype.kind in "iu" and imputer.strategy == "constant" \
        else statistics.dtype if statistics.dtype.kind == "f" else np.float64
    imputer.fit(np.full((1, len(statistics)), value, dtype=dtype))


def _function_transformer_parameters(transformer):
    """A FunctionTransformer's parameters as JSON, its functions by name."""
    names = {function: name for name, function in {**FUNCTIONS, **INVERSE_FUNCTIONS}.items()}
    params = transformer.get_params()
    return {**{k: _encode(v) for k, v in params.items() if k not in ("func", "inverse_func")},
            "func": names[params["func"]],
            "inverse_func": names.get(params["inverse_func"])}


def _functions_by_name(params):
    """A FunctionTransformer's decoded parameters, its functions named as
    :func:`_function_transformer_parameters` stored them."""
    func, inverse = params.get("func"), params.get("inverse_func")
    if func not in FUNCTIONS or not (inverse is None or inverse in INVERSE_FUNCTIONS):
        raise ValueError(f"unknown FunctionTransformer functions {func!r}, {inverse!r}")
    return {**params, "func": FUNCTIONS[func],
            "inverse_func": None if inverse is None else INVERSE_FUNCTIONS[inverse]}


def _decode_fields(fields):
    """A plain JSON object of encoded values, decoded value by value."""
    return {name: _decode(value) for name, value in _fields(fields).items()}


def _fields(fields):
    if not isinstance(fields, dict):
        raise ValueError(f"expected a JSON object, got {type(fields).__name__}")
    return fields


def _hashable(key):
    return key if not isinstance(key, list) else tuple(key)


# --------------------------------------------------------------------------
# Nets: architecture description and reconstruction
# --------------------------------------------------------------------------
def _hidden_sizes(encoder):
    linears = [layer for layer in encoder if isinstance(layer, torch.nn.Linear)]
    return [layer.out_features for layer in linears[:-1]]


def _augmenter_spec(augmenter):
    if not isinstance(augmenter, TabularAugmenter):
        return None
    # a callable augmentation only matters for training, which a loaded
    # model starts afresh from its parameters
    kind = augmenter.kind if isinstance(augmenter.kind, str) else "none"
    return {"kind": kind, "noise_scale": augmenter.noise_scale,
            "mask_fraction": augmenter.mask_fraction}


def _module_spec(module):
    if type(module) is ContrastiveEncoders:
        return {
            "type": "ContrastiveEncoders",
            "modality_sizes": list(module.modality_sizes),
            "hidden_layer_sizes": _hidden_sizes(module.encoders[0]),
            "n_outputs": module.n_outputs,
            "similarity": module.similarity,
        }
    if type(module) is SharedEncoders:
        return {
            "type": "SharedEncoders",
            "modality_sizes": list(module.modality_sizes),
            "hidden_layer_sizes": _hidden_sizes(module.encoders[0]),
            "n_outputs": module.n_outputs,
            "augmenter": _augmenter_spec(module.augmenter),
        }
    if type(module) is SpecificEncoders:
        return {
            "type": "SpecificEncoders",
            "shared": _module_spec(module.shared),
            "hidden_layer_sizes": _hidden_sizes(module.encoders[0]),
            "n_outputs": module.n_outputs,
            "augmenter": _augmenter_spec(module.augmenter),
        }
    if type(module) is JointEncoders:
        return {
            "type": "JointEncoders",
            "modality_sizes": list(module.shared.modality_sizes),
            "hidden_layer_sizes": _hidden_sizes(module.shared.encoders[0]),
            "n_shared": module.shared.n_outputs,
            "n_specific": module.n_specific,
            "augmenter": _augmenter_spec(module.augmenter),
        }
    if type(module) is MultimodalVAE:
        return {
            "type": "MultimodalVAE",
            "modality_sizes": list(module.modality_sizes),
            "hidden_layer_sizes": _hidden_sizes(module.encoders[0]),
            "n_shared": module.n_shared,
            "n_specific": module.n_specific,
            "augmenter": _augmenter_spec(module.augmenter),
        }
    raise TypeError(f"cannot save a net whose module is a {type(module).__name__}.")


def _build_augmenter(spec, n_features):
    return TabularAugmenter(
        torch.zeros(n_features), torch.ones(n_features),
        kind=spec["kind"], noise_scale=spec["noise_scale"], mask_fraction=spec["mask_fraction"],
    )


def _build_module(spec):
    kind = spec["type"]
    hidden = tuple(int(h) for h in spec["hidden_layer_sizes"])
    if kind == "ContrastiveEncoders":
        return ContrastiveEncoders(
            spec["modality_sizes"], hidden, spec["n_outputs"], spec["similarity"]
        )
    if kind == "SharedEncoders":
        sizes = [int(s) for s in spec["modality_sizes"]]
        augmenter = _build_augmenter(spec["augmenter"], sum(sizes))
        return SharedEncoders(sizes, hidden, spec["n_outputs"], augmenter)
    if kind == "SpecificEncoders":
        shared = _build_module(spec["shared"])
        if type(shared) is not SharedEncoders:
            raise ValueError("a specific net must sit on shared encoders")
        augmenter = _build_augmenter(spec["augmenter"], sum(shared.modality_sizes))
        return SpecificEncoders(shared, hidden, spec["n_outputs"], augmenter)
    if kind in ("JointEncoders", "MultimodalVAE"):
        sizes = [int(s) for s in spec["modality_sizes"]]
        augmenter = _build_augmenter(spec["augmenter"], sum(sizes))
        cls = JointEncoders if kind == "JointEncoders" else MultimodalVAE
        return cls(sizes, hidden, spec["n_shared"], spec["n_specific"], augmenter)
    raise ValueError(f"unknown module type {kind!r}")


def _criterion_spec(criterion):
    if type(criterion) is SharedObjective:
        heads = {cls: name for name, cls in HEADS.items()}
        return {"type": "SharedObjective", "head": heads[type(criterion.head)],
                "kappa": float(criterion.head.kappa),
                "temperature": float(criterion.temperature), "beta": float(criterion.beta)}
    # float(): the parameters may be NumPy scalars, e.g. from a grid of np.float32
    if type(criterion) is SpecificObjective:
        return {"type": "SpecificObjective", "temperature": float(criterion.temperature),
                "ortho_weight": float(criterion.ortho_weight)}
    if type(criterion) is ContrastiveObjective:
        return {"type": "ContrastiveObjective", "similarity": criterion.similarity,
                "temperature": float(criterion.temperature)}
    return {"type": "none"}  # inference needs no objective


def _build_criterion(spec):
    kind = spec["type"]
    if kind == "SharedObjective":
        return SharedObjective(HEADS[spec["head"]](spec["kappa"]),
                               temperature=spec["temperature"], beta=spec["beta"])
    if kind == "SpecificObjective":
        return SpecificObjective(temperature=spec["temperature"],
                                 ortho_weight=spec["ortho_weight"])
    if kind == "ContrastiveObjective":
        return ContrastiveObjective(spec["similarity"], spec["temperature"])
    if kind == "none":
        return _NoObjective()
    raise ValueError(f"unknown criterion type {kind!r}")


class _NoObjective(torch.nn.Module):
    """The criterion of a loaded net whose training objective was not stored."""

    def forward(self, *args, **kwargs):
        raise RuntimeError(
            "this net was loaded by sklearn_dssl.load without its training objective, "
            "so it cannot continue training; refit the estimator instead."
        )


def _json_history(history):
    """The net's history rows, keeping only entries that JSON can hold (NumPy
    scalars as the Python numbers they hold, e.g. the learning rate of a grid
    of np.float32)."""
    rows = []
    for row in history.to_list():
        kept = {}
        for key, value in row.items():
            value = _python_scalars(value)
            try:
                json.dumps(value, allow_nan=True)
            except (TypeError, ValueError):
                continue
            kept[key] = value
        rows.append(kept)
    return rows


def _python_scalars(value):
    """``value`` with NumPy scalars, inside lists, tuples and dicts too, as Python's."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_python_scalars(v) for v in value]
    if isinstance(value, dict):
        return {k: _python_scalars(v) for k, v in value.items()}
    return value


def _net_spec(net):
    step = dict(net.callbacks_).get("stop_on_non_finite_loss")
    return {
        "module": _module_spec(net.module_),
        "criterion": _criterion_spec(net.criterion_),
        "max_epochs": int(net.max_epochs),
        "batch_size": int(net.batch_size),
        "lr": float(net.lr),
        "step_name": getattr(step, "step_name", "training"),
        "trained_on": str(net.device),
        "history": _json_history(net.history),
        # how its training ended: Ctrl-C, or a callback's stop (EarlyStopping)
        "interrupted": bool(getattr(net, "interrupted_", False)),
        "stopped_by_callback": bool(getattr(net, "stopped_by_callback_", False)),
    }


def _layer_count_within(spec, n_tensors):
    """Refuse a recorded architecture with more layers than ``n_tensors``
    stored tensors could fill (every modality's encoder holds a weight and a
    bias per layer), before it is built: building a million layers, even
    without memory, would take minutes."""
    for key in ("modality_sizes", "hidden_layer_sizes"):
        if not isinstance(spec.get(key, []), list):
            raise ValueError(f"the recorded {key} is not a list")
    layers = len(spec.get("modality_sizes", [1])) * (len(spec["hidden_layer_sizes"]) + 1)
    if layers > n_tensors:
        raise ValueError("the recorded architecture does not match the stored weights")
    if isinstance(spec.get("shared"), dict):
        _layer_count_within(spec["shared"], n_tensors)


def _check_weights(spec, state):
    """Refuse stored weights that are not finite float32 tensors of the
    recorded architecture, before allocating it (it is built on the meta
    device, without memory)."""
    _layer_count_within(spec, len(state))
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in _build_module(spec).state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state.items()}
    if expected != stored:
        raise ValueError("the recorded architecture does not match the stored weights")
    if not all(v.dtype == torch.float32 for v in state.values()):
        raise ValueError("the stored weights are not all float32")
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise ValueError("the stored weights are not all finite")


def _check_net_settings(spec):
    """Refuse training settings and a history of the wrong types."""
    for key, kinds in (("max_epochs", int), ("batch_size", int), ("lr", (int, float)),
                       ("step_name", str), ("history", list)):
        if not isinstance(spec[key], kinds) or isinstance(spec[key], bool):
            raise ValueError(f"the net's {key} is a {type(spec[key]).__name__}")
    for key in ("interrupted", "stopped_by_callback"):  # absent from files saved before 0.2
        if not isinstance(spec.get(key, False), bool):
            raise ValueError(f"the net's {key} is a {type(spec[key]).__name__}")
    if not all(isinstance(row, dict) for row in spec["history"]):
        raise ValueError("the net's history holds rows that are not JSON objects")


def _build_net(spec, state, device):
    _check_net_settings(spec)
    _check_weights(spec["module"], state)
    with torch_defaults():
        with torch.random.fork_rng(devices=[]):  # leave the caller's torch RNG alone
            module = _build_module(spec["module"])
        net = make_net(
            module, _build_criterion(spec["criterion"]), max_epochs=spec["max_epochs"],
            batch_size=spec["batch_size"], lr=spec["lr"], device=device,
            step_name=spec["step_name"],
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*already initialized.*")
            net.initialize()
    net.module_.load_state_dict(state, strict=True)
    net.module_.eval()
    net.history = History(spec["history"])
    net.interrupted_ = spec.get("interrupted", False)
    net.stopped_by_callback_ = spec.get("stopped_by_callback", False)
    net._loaded_for_inference = True  # partial_fit refuses to go on training
    return net


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def _parameters(estimator):
    """``get_params`` as tagged JSON; values JSON cannot hold become defaults."""
    defaults = {
        name: p.default for name, p in inspect.signature(type(estimator)).parameters.items()
    }
    encoded, replaced = {}, []
    for name, value in estimator.get_params(deep=False).items():
        if name == "modalities" and is_labelled_series(value):  # its index names them
            value = dict(value.items())
        value = _plain_sequences(value)  # e.g. modalities or hidden_layer_sizes as a range
        try:
            encoded[name] = _encode(value)
        except _NotEncodable as exc:
            if name == "modalities" and hasattr(estimator, "modalities_"):
                encoded[name] = _encode(_selected_groups(estimator))
                warnings.warn(
                    f"save stores {type(estimator).__name__}'s modalities as the column "
                    "groups fitted from it (modalities_, by column name where X had "
                    f"names), as JSON cannot hold what was given ({exc}): a refit of the "
                    "loaded estimator selects those columns.",
                    UserWarning,
                )
                continue
            encoded[name] = _encode(defaults[name])
            replaced.append(name)
    if replaced:
        warnings.warn(
            f"save stores {type(estimator).__name__}'s "
            f"{', '.join(f'{n}={defaults[n]!r}' for n in replaced)} instead "
            f"of the given value(s), which JSON cannot hold (e.g. skorch callbacks, a "
            "callable, a RandomState or an accelerator); the fitted model is unaffected, "
            "but a refit "
            "of the loaded estimator uses these values unless you set them again.",
            UserWarning,  # save re-emits it, once, for its caller
        )
    return encoded


def _selected_groups(estimator):
    """``modalities_`` as a ``modalities`` spec: ``{name: column names}``, or
    column indices where X had no names."""
    names = getattr(estimator, "feature_names_in_", None)
    return {
        modality: (names[columns] if names is not None else columns).tolist()
        for modality, columns in estimator.modalities_.items()
    }


def _plain_sequences(value):
    """``value`` with ranges, pandas columns and other sequences JSON cannot
    hold as lists, inside dict values and lists of groups too (``modalities``
    forms)."""
    if isinstance(value, dict):
        return {k: _plain_sequences(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain_sequences(v) for v in value)
    # lists, ranges, pandas Index and Series; arrays are stored as arrays
    if _is_sequence(value) and not isinstance(value, np.ndarray):
        return [_plain_sequences(v) for v in value]
    return value


@contextlib.contextmanager
def _warn_once_each():
    """Re-emit the warnings raised inside, each distinct one once, for the
    caller of the function that uses this (e.g. ``save``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for category, message in dict.fromkeys((w.category, str(w.message)) for w in caught):
        warnings.warn(message, category, stacklevel=4)


def _serialise(estimator, pipeline=None):
    """``save``'s two files as bytes: ``metadata.json`` and ``weights.pt``;
    ``pipeline``, if given, is the Pipeline that ``estimator`` ends."""
    attributes, nets, states, skipped = {}, {}, {}, []
    kind = type(estimator).__name__
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_") or name in ALIASES:
            continue
        if name not in ATTRIBUTES[kind] | NETS[kind]:
            skipped.append(name)
        elif isinstance(value, NeuralNet):
            nets[name] = _net_spec(value)
            states[name] = {k: v.detach() for k, v in value.module_.state_dict().items()}
        else:
            try:
                attributes[name] = _encode(value)
            except _NotEncodable as exc:
                raise TypeError(
                    f"cannot save the fitted attribute {name} ({exc}); save supports "
                    "the attributes the package's estimators set in fit."
                ) from None
    if skipped:
        warnings.warn(
            f"save does not store {', '.join(skipped)}: {kind} does not set "
            f"{'it' if len(skipped) == 1 else 'them'} in fit, and the loaded model "
            f"will not have {'it' if len(skipped) == 1 else 'them'}. Keep such values "
            "beside the model file.",
            UserWarning,
        )
    buffer = io.BytesIO()
    torch.save(states, buffer)
    weights = buffer.getvalue()
    from . import __version__

    metadata = {
        "format": FORMAT,
        "format_version": ESTIMATOR_FORMAT_VERSION if pipeline is None else FORMAT_VERSION,
        "sklearn_dssl_version": __version__,
        "estimator": type(estimator).__name__,
        "params": _parameters(estimator),
        "attributes": attributes,
        "nets": nets,
        # set_output's choice, e.g. pandas DataFrames from transform
        "output": output_of(estimator),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    if pipeline is not None:
        metadata["pipeline"] = _pipeline_spec(pipeline)
    return json.dumps(metadata).encode(), weights


def _pipeline_spec(pipeline):
    """The Pipeline around the estimator: its steps before it, the
    estimator's step name and ``verbose``."""
    encoded = []
    for (name, step), (_, following) in zip(pipeline.steps[:-1], pipeline.steps[1:]):
        spec = _encode_transformer(step)
        spec["output"] = _saved_output(step, following)
        encoded.append([name, spec])
    final_name = pipeline.steps[-1][0]
    dropped = [name for name in ("memory", "transform_input")
               if getattr(pipeline, name, None) is not None]
    if dropped:
        warnings.warn(
            f"save stores the Pipeline's {', '.join(f'{n}=None' for n in dropped)} instead "
            "of the given value(s), which matter for fitting alone; the fitted model is "
            "unaffected.",
            UserWarning,
        )
    return {"steps": encoded, "final_step": final_name, "verbose": bool(pipeline.verbose)}


def estimator_in(estimator):
    """The estimator of the package that ``estimator`` is, or that ends the
    Pipeline ``estimator`` after steps save takes; TypeError for others."""
    if type(estimator) in ESTIMATORS.values():
        return estimator
    steps = getattr(estimator, "steps", None)
    if type(estimator) is Pipeline and isinstance(steps, list) and steps and all(
        isinstance(s, (tuple, list)) and len(s) == 2 for s in steps
    ):
        *before, (_, last) = steps
        others = [f"{name!r} ({_unsupported_step(step)})" for name, step in before
                  if _unsupported_step(step)]
        if type(last) in ESTIMATORS.values() and not others:
            return last
        if type(last) in ESTIMATORS.values():
            raise TypeError(
                f"save takes a Pipeline whose steps before its sklearn_dssl estimator are "
                f"{_STEPS_SAVE_TAKES}, and this one's step {' and '.join(others)} is not; "
                "change the step, or save the estimator, pipeline[-1], and keep the other "
                "steps with joblib."
            )
    raise TypeError(
        f"save takes an estimator of sklearn_dssl ({', '.join(ESTIMATORS)}), or a "
        f"Pipeline of {_STEPS_SAVE_TAKES} ending in one, got "
        f"{type(estimator).__name__}; use pickle or joblib for other objects"
        f"{_pipeline_advice(estimator)}."
    )


_STEPS_SAVE_TAKES = ("SimpleImputer (numeric statistics, no add_indicator), StandardScaler or "
                     f"FunctionTransformer steps (func {', '.join(FUNCTIONS)}, "
                     "feature_names_out='one-to-one', validate=True)")


def _unsupported_step(step):
    """Why save cannot keep ``step`` before the estimator of a Pipeline, or
    "" where it can."""
    if type(step) is StandardScaler:
        return ""
    if type(step) is SimpleImputer:
        return _unsupported_imputer(step)
    if step is None or step == "passthrough":
        return f"a {step!r} step (drop it from the Pipeline, which then saves)"
    if type(step) is not FunctionTransformer:
        return f"a {type(step).__name__}"
    if step.func is None:
        return "a FunctionTransformer of no function (the identity; drop the step)"
    if not any(step.func is f for f in FUNCTIONS.values()):
        name = (f"{getattr(step.func, '__module__', None)}."
                f"{getattr(step.func, '__name__', type(step.func).__name__)}")
        return (f"a FunctionTransformer of {name}, not of numpy's "
                f"{', '.join(FUNCTIONS)}")
    if step.inverse_func is not None and not any(
        step.inverse_func is f for f in INVERSE_FUNCTIONS.values()
    ):
        return (f"a FunctionTransformer whose inverse_func is not None or one of "
                f"{', '.join(INVERSE_FUNCTIONS)}")
    if step.kw_args or step.inv_kw_args:
        return "a FunctionTransformer with kw_args or inv_kw_args"
    if step.feature_names_out != "one-to-one":
        return "a FunctionTransformer without feature_names_out='one-to-one'"
    if step.validate is not True:
        # it would name its output by the columns fit saw, whatever the
        # order of the table's: the steps after it could not tell
        return ("a FunctionTransformer without validate=True, which would read a table "
                "whose columns come in another order than at fit as if they did not")
    return ""


def _unsupported_imputer(imputer):
    """Why save cannot keep the SimpleImputer ``imputer``, or "" where it can."""
    if imputer.add_indicator:
        return "a SimpleImputer with add_indicator=True"
    if callable(imputer.strategy):
        return "a SimpleImputer with a callable strategy"
    missing = imputer.missing_values
    if not (isinstance(missing, (int, float, np.integer, np.floating))
            and not isinstance(missing, (bool, np.bool_))):
        return f"a SimpleImputer whose missing_values is {missing!r}, not NaN or a number"
    fill = imputer.fill_value
    if not (fill is None or isinstance(fill, (int, float, np.integer, np.floating))
            and not isinstance(fill, (bool, np.bool_))):
        return f"a SimpleImputer whose fill_value is {fill!r}, not a number"
    statistics = getattr(imputer, "statistics_", None)
    if statistics is not None and statistics.dtype.kind in "fO" and not np.isfinite(
            statistics.astype(np.float64)).all():
        return ("a SimpleImputer that drops the columns without a value at fit; give "
                "it keep_empty_features=True, which fills them with 0")
    return ""


def save(estimator, path):
    """Save a fitted estimator without pickle: parameters as JSON, weights as tensors.

    The model is written as ``metadata.json`` (class, parameters, fitted
    attributes, net architectures and training histories) and ``weights.pt``
    (the nets' state dicts), in a directory, or in a single zip file when
    ``path`` ends with ``.zip``. :func:`load` reads it back without
    unpickling anything, so a saved model from an untrusted source cannot run
    code, unlike a pickle.

    A fitted :class:`~sklearn.pipeline.Pipeline` of
    :class:`~sklearn.preprocessing.StandardScaler` steps ending in an
    estimator of the package saves whole, the scalers' means and scales as
    JSON, and :func:`load` returns the Pipeline. So do
    :class:`~sklearn.impute.SimpleImputer` steps that fill each column with
    one number (``add_indicator=False``), their numbers as JSON. So do
    :class:`~sklearn.preprocessing.FunctionTransformer` steps of ``np.log1p``,
    ``np.arcsinh`` or ``np.sqrt`` (with ``feature_names_out="one-to-one"``
    and ``validate=True``, without which a table whose columns come in
    another order than at fit would be read as if they did not), the usual
    transforms of counts, stored by the function's name. For other
    pipelines, save the package's step and keep the others with joblib.

    Parameters
    ----------
    estimator : estimator of sklearn_dssl or Pipeline
        A fitted DisentangledSSL, MultimodalContrastive, LinearCCA,
        JointOptSSL, FOCAL or DMVAE, or a fitted Pipeline of
        StandardScaler, FunctionTransformer and SimpleImputer steps ending
        in one (``make_pipeline(StandardScaler(), model)``).
    path : str or path-like
        A ``.zip`` file to create (or overwrite), or else a directory to
        create (or whose two files to overwrite). A leading ``~`` is the
        home directory, as in pandas.

    Returns
    -------
    path : pathlib.Path
        Where the model was written.

    Raises
    ------
    ValueError
        If ``path`` is an existing file and does not end in ``.zip``, or an
        existing directory and ends in ``.zip``.
    TypeError
        If ``estimator`` is not one of the above: a Pipeline with another
        kind of step, or steps after the package's estimator, or a
        SimpleImputer that cannot be stored (see the summary).

    Warns
    -----
    UserWarning
        When a parameter value cannot be stored as JSON (``callbacks``, a
        callable ``augmentation``, a ``RandomState``, an ``accelerator``, a
        Pipeline's ``memory``): its default is stored instead. Training-only
        settings, they do not change the loaded model's output. When
        ``modalities`` holds callables (column selectors): the column
        groups they selected are stored instead. When an ``ica`` FastICA
        has a callable ``fun`` or a ``RandomState``: its default is stored,
        and the fitted rotation is kept. Also when the estimator holds an
        attribute ending in ``_`` that its fit does not set (one added by
        hand): it is not stored.

    See Also
    --------
    load : Read a saved model back.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from sklearn_dssl import LinearCCA, save, load
    >>> X = np.random.default_rng(0).normal(size=(50, 6))
    >>> cca = LinearCCA(n_components=2).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save(cca, os.path.join(tmp, "cca.zip"))
    ...     loaded = load(path)
    >>> np.array_equal(loaded.transform(X), cca.transform(X))
    True

    With the standardisation in front:

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> pipe = make_pipeline(StandardScaler(), LinearCCA(n_components=2)).fit(X * 100)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     loaded = load(save(pipe, os.path.join(tmp, "pipe.zip")))
    >>> loaded.steps[0][0], np.array_equal(loaded.transform(X), pipe.transform(X))
    ('standardscaler', True)
    """
    model = estimator_in(estimator)
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    try:  # load refuses what fit would: so must save, not write it
        check_parameters(model)
    except (ValueError, TypeError) as exc:
        raise type(exc)(
            f"cannot save this model: a parameter was set since the fit to a value fit "
            f"refuses ({exc}); set it back with set_params, or refit."
        ) from None
    pipeline = estimator if estimator is not model else None
    if pipeline is not None:
        for _, step in pipeline.steps[:-1]:
            check_is_fitted(step)
        try:
            _check_steps_fit_the_estimator(pipeline)
        except ValueError as exc:
            raise ValueError(
                f"cannot save this Pipeline: {exc}, so it does not transform as its steps "
                "were fitted. Fit the Pipeline as a whole."
            ) from None
    with _warn_once_each():  # an ica's parameters are in ica, ica_ and step1_params_
        metadata, weights = _serialise(model, pipeline)

    path = _user_path(path)
    if path.suffix.lower() == ".zip":
        if path.is_dir():
            raise ValueError(
                f"{path} is a directory; save writes a model as one zip file when the "
                "path ends in .zip, or else as a directory of two files: give a new "
                "path, or one not ending in .zip."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        # written beside it, then renamed: an interrupted save leaves an
        # earlier file at the path whole
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(METADATA, metadata)
                archive.writestr(WEIGHTS, weights)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    else:
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"{path} is a file; save writes a model as a directory of two files, or "
                "as one file when the path ends in .zip: give a new path, or one ending "
                "in .zip."
            )
        _check_no_other_files(path)
        path.mkdir(parents=True, exist_ok=True)
        _write_members(path, {WEIGHTS: weights, METADATA: metadata})
    return path


def _check_no_other_files(directory):
    """Refuse to write a model into an existing directory that holds other
    files than a model's (``save(model, ".")``, say): they would be mixed
    with, or replaced by, the model's."""
    if not directory.is_dir():
        return
    others = sorted(entry.name for entry in directory.iterdir()
                    if entry.name not in (METADATA, WEIGHTS) and not entry.name.startswith("."))
    if others:
        raise ValueError(
            f"{directory} is a directory holding other files than a saved model's "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); save writes "
            f"a model as a directory of two files, {METADATA} and {WEIGHTS}: give a new "
            "or empty directory, or a path ending in .zip."
        )


def _write_members(directory, members):
    """Write each of ``members`` (name to bytes) into ``directory`` beside its
    place, then move them all into place, one rename after another: an
    interrupted save leaves the earlier model whole, unless it stops between
    the renames, which ``load`` then refuses (the weights' checksum)."""
    partial = {name: directory / f".{name}.{os.getpid()}.partial" for name in members}
    try:
        for name, content in members.items():
            partial[name].write_bytes(content)
        for name in members:
            os.replace(partial[name], directory / name)
    finally:
        for file in partial.values():
            file.unlink(missing_ok=True)


def _pipeline_advice(pipeline):
    """How to keep a Pipeline holding an estimator of the package, or "": the
    steps up to it where save takes those before it, else the estimator
    alone."""
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, list) or not all(
        isinstance(s, (tuple, list)) and len(s) == 2 for s in steps
    ):
        return ""
    advice = []
    for i, (_, step) in enumerate(steps):
        if type(step) not in ESTIMATORS.values():
            continue
        if i and not any(_unsupported_step(before) for _, before in steps[:i]):
            advice.append(f"pipeline[:{i + 1}], its steps up to {type(step).__name__},")
        else:
            advice.append(f"its sklearn_dssl step, pipeline[{i}] ({type(step).__name__}),")
    if not advice:
        return ""
    return (f" (for this Pipeline, save {' or '.join(advice)} and keep the other steps "
            "with joblib)")


def _user_path(path):
    """``path`` as a Path, with ``~`` expanded to the home directory; an empty
    one, which Path would read as the current directory, is refused."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(
            f"path is a {type(path).__name__}; give the model's .zip file or directory as "
            "a str or a pathlib.Path (a file object is not taken: save writes a zip file "
            "beside its path, then renames it)."
        )
    path = os.fspath(path)
    if not path.strip():
        raise ValueError(
            f"the path {path!r} is empty; give the .zip file or the directory of the model."
        )
    return Path(os.path.expanduser(path))


def _looks_like_zip(path):
    """Whether ``path`` is meant to be a zip file: named ``.zip``, or starting
    with the zip signature."""
    if path.suffix.lower() == ".zip":
        return True
    with open(path, "rb") as file:
        return file.read(4) == b"PK\x03\x04"


def _read_members(path):
    if path.is_dir():
        members = {}
        for member in (METADATA, WEIGHTS):
            if not (path / member).is_file():
                raise ValueError(
                    f"{path} is not a model saved by sklearn_dssl.save: it has no {member}."
                )
            members[member] = (path / member).read_bytes()
        return members
    if not (zipfile.is_zipfile(path) or _looks_like_zip(path)):
        raise ValueError(
            f"{path} is neither a directory nor a zip file written by "
            "sklearn_dssl.save; pass the path that save returned."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            _check_zip_members(path, archive)
            return {m: archive.read(m) for m in (METADATA, WEIGHTS)}
    # a damaged header or stream: zlib.error, or zipfile's NotImplementedError
    # (an unknown compression method or version) and RuntimeError (a member
    # marked as encrypted)
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError, NotImplementedError,
            RuntimeError, lzma.LZMAError) as exc:
        raise ValueError(
            f"{path} is not a readable zip file ({exc}); it looks damaged or truncated "
            "(e.g. an interrupted copy or download): copy it again, or save the model "
            "again."
        ) from None


def _check_zip_members(path, archive):
    """Refuse a zip without the two members, with one of them twice, or with
    one that would inflate far beyond its compressed size."""
    names = archive.namelist()
    missing = [m for m in (METADATA, WEIGHTS) if m not in names]
    if missing:
        raise ValueError(
            f"{path} is not a model saved by sklearn_dssl.save: it has no {missing[0]}."
        )
    twice = [m for m in (METADATA, WEIGHTS) if names.count(m) > 1]
    if twice:
        raise ValueError(
            f"{path} is damaged or was modified: it holds {twice[0]} {names.count(twice[0])} "
            "times, where save writes it once. Save the model again."
        )
    for member in (METADATA, WEIGHTS):
        info = archive.getinfo(member)
        # zipfile bounds a deflated member's output by its declared size, not
        # a bzip2 or lzma one's; save writes deflate
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(
                f"{path} is damaged or was modified: its {member} is compressed by "
                f"method {info.compress_type}, where save writes deflate. Save the model "
                "again."
            )
        if (info.file_size > _ZIP_MEMBER_PLAIN_BYTES
                and info.file_size > _ZIP_MEMBER_MAX_RATIO * max(info.compress_size, 1)):
            raise ValueError(
                f"{path} is damaged or was modified: its {member} would inflate from "
                f"{info.compress_size} to {info.file_size} bytes, far beyond what save "
                "writes. Save the model again."
            )


def load(path, *, device="cpu"):
    """Load a model written by :func:`save`, without unpickling anything.

    The weights are read with ``torch.load(weights_only=True,
    map_location="cpu")``, so a model trained on a GPU loads on a machine
    without one; ``device`` then says where the loaded nets compute.

    Parameters
    ----------
    path : str or path-like
        A directory or ``.zip`` file written by :func:`save`. A leading ``~``
        is the home directory, as in pandas.
    device : str or torch.device, default="cpu"
        Torch device of the loaded nets: "cpu", "cuda", "cuda:k", or "auto"
        (CUDA when available). It does not change the estimator's ``device``
        parameter, which a refit uses.

    Returns
    -------
    estimator : estimator of sklearn_dssl or Pipeline
        The fitted estimator, whose transform gives the saved model's output;
        a Pipeline of its StandardScaler, FunctionTransformer and
        SimpleImputer steps and the estimator where a Pipeline was saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the files were not written by :func:`save`, were modified or are
        damaged (the weights' checksum is verified), or come from a newer
        format version, or from a newer sklearn_dssl with parameters or
        attributes this one does not know.

    See Also
    --------
    save : Write a fitted estimator.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from sklearn_dssl import DisentangledSSL, save, load
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> X = make_paper_synthetic(n_samples=600, n_latent=4, n_features=8,
    ...                          random_state=0).data
    >>> model = DisentangledSSL(n_shared=4, n_specific=4, hidden_layer_sizes=(32,),
    ...                         max_epochs_shared=10, max_epochs_specific=2,
    ...                         batch_size=64, lr=1e-3, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     loaded = load(save(model, os.path.join(tmp, "model")))
    >>> np.array_equal(loaded.transform(X), model.transform(X))
    True
    """
    path = _user_path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved model at {path}.")
    members = _read_members(path)
    try:
        metadata = json.loads(members[METADATA])
    # ValueError: JSONDecodeError and UnicodeDecodeError, and Python's limit on
    # the digits of an integer
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: {METADATA} is not valid JSON ({exc}).") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a model saved by sklearn_dssl.save (its {METADATA} lacks "
            f"the format tag {FORMAT!r})."
        )
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"{path} is damaged or was modified: format version {version!r} is not a "
            "version save writes."
        )
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {version!r}, newer than this sklearn_dssl "
            f"reads ({FORMAT_VERSION}); upgrade sklearn_dssl."
        )
    if hashlib.sha256(members[WEIGHTS]).hexdigest() != metadata.get("weights_sha256"):
        raise ValueError(
            f"{path}: the weights do not match the checksum recorded at save time; the "
            "files were modified or damaged. Save the model again."
        )
    device = resolve_device(device)
    try:
        estimator = _rebuild(metadata, members[WEIGHTS], device)
        if "pipeline" not in metadata:
            return estimator
        return _rebuild_pipeline(metadata, estimator)
    except _SavedByNewerVersion as exc:
        raise ValueError(f"{path} {exc}") from None
    except ValueError as exc:
        raise _unreadable(path, metadata, str(exc)) from None
    except (KeyError, TypeError, RuntimeError, AttributeError, IndexError, EOFError,
            OverflowError) as exc:
        raise _unreadable(path, metadata, f"{type(exc).__name__}: {exc}") from None


def _unreadable(path, metadata, problem):
    """The error for a file whose contents do not make a model: modified or
    damaged, or holding a newer version's values (e.g. a new head) where a
    newer version saved it."""
    from . import __version__

    saved = metadata.get("sklearn_dssl_version")
    if _is_newer(saved, __version__):
        return ValueError(
            f"{path} cannot be read by this sklearn_dssl {__version__} ({problem}); it was "
            f"saved by sklearn_dssl {saved}: upgrade sklearn_dssl to load it."
        )
    return ValueError(f"{path} is damaged or was modified: {problem}")


class _SavedByNewerVersion(ValueError):
    """Names this version does not know, in a file a newer version saved."""


def _version_key(version):
    """A comparable form of a version string, or None for one that is not."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # packaging is not a dependency: the release numbers alone
        match = re.match(r"\d+(\.\d+)*", version)
        if match is None:
            return None
        numbers = [int(n) for n in match.group().split(".")]
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()
        return tuple(numbers)
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _is_newer(saved, installed):
    """Whether version string ``saved`` is newer than ``installed``."""
    if not isinstance(saved, str):
        return False
    saved, installed = _version_key(saved), _version_key(installed)
    return saved is not None and installed is not None and saved > installed


def _unknown_names(metadata, problem):
    """The error for names the estimator does not know: a newer version's
    addition when a newer version saved the file, else a modification."""
    from . import __version__

    saved = metadata.get("sklearn_dssl_version")
    if _is_newer(saved, __version__):
        return _SavedByNewerVersion(
            f"has {problem}: it was saved by sklearn_dssl {saved}, newer than this "
            f"{__version__}; upgrade sklearn_dssl to load it."
        )
    return ValueError(problem)


def check_parameters(estimator):
    """Refuse the parameters of ``estimator`` that its fit refuses before
    training: their constraints, and the neural estimators' checks of
    hidden layers and of combinations."""
    estimator._validate_params()
    for check in ("_check_hidden_layer_sizes", "_check_params"):
        if hasattr(estimator, check):
            getattr(estimator, check)()


def _rebuild(metadata, weights, device):
    name = metadata["estimator"]
    if name not in ESTIMATORS:
        raise _unknown_names(
            metadata, f"unknown estimator {name!r} (expected one of {sorted(ESTIMATORS)})")
    cls = ESTIMATORS[name]
    # names are checked before any value is decoded
    known = set(inspect.signature(cls).parameters)
    unknown = set(_fields(metadata["params"])) - known
    if unknown:
        raise _unknown_names(metadata, f"unknown {name} parameter(s) {sorted(unknown)}")
    version = metadata["format_version"]
    earlier = {attribute for (estimator, attribute), last in EARLIER_ATTRIBUTES.items()
               if estimator == name and version <= last}
    unexpected = set(_fields(metadata["attributes"])) - ATTRIBUTES[name] - earlier
    if unexpected:
        raise _unknown_names(metadata, f"unexpected {name} attribute(s) {sorted(unexpected)}")
    unexpected = set(_fields(metadata["nets"])) - NETS[name]
    if unexpected:
        raise _unknown_names(metadata, f"unexpected {name} net(s) {sorted(unexpected)}")
    _check_nothing_missing(metadata, name, earlier)
    # saved before a parameter existed: the value it was trained with
    estimator = cls(**with_earlier_values(cls, _decode_fields(metadata["params"])))
    # values fit would refuse (batch_size=0, say): not what save writes
    check_parameters(estimator)
    output = metadata.get("output")  # absent from files of earlier versions
    if output is not None:
        if output not in OUTPUTS:
            raise ValueError(f"unknown transform output {output!r}")
        estimator.set_output(transform=output)

    attributes = _decode_fields(metadata["attributes"])
    if "residual_maps_" in attributes:  # a LinearCCA saved before format version 3
        attributes["loadings_"] = loadings_from_residual_maps(
            attributes["weights_"], attributes.pop("residual_maps_"))
    attributes["modalities_"] = _checked_modalities(
        attributes["modalities_"], attributes["n_features_in_"])
    step1 = attributes.get("step1_params_")
    if "step1_params_" in attributes:
        if not isinstance(step1, dict) or not set(step1) <= set(STEP1_ONLY_PARAMETERS):
            raise ValueError("step1_params_ is not a dict of step 1's parameters")
        check_parameters(clone(estimator).set_params(**step1))  # values fit takes
    if isinstance(step1, dict) and "ica" in step1 and ica_on(step1["ica"]) != ("ica_" in attributes):
        raise ValueError("ica_ does not match the ica setting the model was fitted with")
    for attribute, value in attributes.items():
        setattr(estimator, attribute, value)
    if "ica_" in attributes:
        for alias, source in ALIASES.items():
            setattr(estimator, alias, getattr(estimator.ica_, source))

    nets = metadata["nets"]
    states = _read_weights(weights)
    if not isinstance(states, dict) or set(states) != set(nets):
        raise ValueError("the weights do not hold the nets the metadata lists")
    sizes = [len(c) for c in estimator.modalities_.values()]
    for net_name, spec in nets.items():
        net = _build_net(spec, states[net_name], device)
        module = getattr(net.module_, "shared", net.module_)
        if list(module.modality_sizes) != sizes:
            raise ValueError(f"{net_name} does not match modalities_")
        setattr(estimator, net_name, net)
    _check_consistent(estimator)
    return estimator


def _rebuild_pipeline(metadata, estimator):
    """The Pipeline of the saved steps ending in the rebuilt ``estimator``."""
    if metadata["format_version"] < FORMAT_VERSION:
        raise ValueError(
            f"format version {metadata['format_version']} does not hold a Pipeline"
        )
    spec = _fields(metadata["pipeline"])
    fields = {"steps", "final_step", "verbose"}
    if set(spec) - fields:
        raise _unknown_names(metadata, f"unknown Pipeline field(s) {sorted(set(spec) - fields)}")
    if fields - set(spec):
        raise ValueError(f"the Pipeline lacks {sorted(fields - set(spec))}, which save writes")
    if not isinstance(spec["steps"], list) or not isinstance(spec["verbose"], bool):
        raise ValueError("the Pipeline's steps or verbose are not what save writes")
    steps = []
    for item in spec["steps"]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict)):
            raise ValueError("a Pipeline step is not a [name, transformer] pair")
        step = _decode_transformer(item[1], allowed=PIPELINE_STEPS)
        step._validate_params()  # the types and ranges its fit would check
        if type(step) is FunctionTransformer and step.validate is False:
            _validating_from_now_on(item[0], step)
        if _unsupported_step(step):
            raise ValueError(f"a Pipeline step is {_unsupported_step(step)}")
        steps.append((item[0], step))
    steps.append((spec["final_step"], estimator))
    _check_step_names([name for name, _ in steps])
    pipeline = Pipeline(steps, verbose=spec["verbose"])
    _check_steps_fit_the_estimator(pipeline)
    _check_step_outputs(pipeline)
    return pipeline


def _validating_from_now_on(name, step):
    """Set ``validate=True`` on a FunctionTransformer step that an earlier
    version saved without it, with a warning: unvalidated, it would read a
    table whose columns come in another order than at fit as if they did
    not (its fitted names, which the check reads, were saved with it)."""
    step.validate = True
    warnings.warn(
        f"the file's FunctionTransformer step {name!r} was saved with validate=False, "
        "which save no longer writes: it is loaded with validate=True, so that a table "
        "whose columns come in another order than at fit is refused, where it was read "
        "as if they did not; it refuses missing values too, which a SimpleImputer step "
        "before it fills. Save the loaded model again to keep it so.",
        UserWarning,
    )


def _check_step_names(names):
    """Refuse step names that a Pipeline would not take."""
    reserved = set(inspect.signature(Pipeline).parameters)
    for name in names:
        if not isinstance(name, str) or not name or "__" in name or name in reserved:
            raise ValueError(f"{name!r} is not a Pipeline step name that save writes")
    if len(set(names)) < len(names):
        raise ValueError("the Pipeline names a step twice")


def _check_steps_fit_the_estimator(pipeline):
    """Refuse scaler steps that do not fit the estimator: its column count, a
    mean or scale per column, and the column names each step hands the next."""
    estimator = pipeline.steps[-1][1]
    for (step_name, step), (_, following) in zip(pipeline.steps[:-1], pipeline.steps[1:]):
        if not hasattr(step, "n_features_in_") or (
            type(step) is StandardScaler and not hasattr(step, "n_samples_seen_")
        ):
            raise ValueError(f"the Pipeline step {step_name!r} is not fitted")
        if step.n_features_in_ != estimator.n_features_in_:
            raise ValueError(
                f"the Pipeline step {step_name!r} reads {step.n_features_in_!r} columns, "
                f"and the {type(estimator).__name__} {estimator.n_features_in_}"
            )
        if type(step) is StandardScaler:
            _check_scaler_statistics(step_name, step)
        if type(step) is SimpleImputer and step.statistics_.shape != (step.n_features_in_,):
            raise ValueError(f"the Pipeline step {step_name!r} has no statistic per column")
        _check_names_handed_on(step_name, step, following)


def _check_scaler_statistics(step_name, scaler):
    """Refuse a StandardScaler without a finite mean and a positive finite
    scale per column, where its settings use them."""
    shape = (scaler.n_features_in_,)
    for attribute, needed in (("mean_", scaler.with_mean or scaler.with_std),
                              ("var_", scaler.with_std), ("scale_", scaler.with_std)):
        value = getattr(scaler, attribute, None)
        if value is None and not needed:
            continue
        if not (_is_float_array(value, shape) and np.isfinite(value).all()):
            raise ValueError(
                f"the Pipeline step {step_name!r} has no finite {attribute} per column"
            )
    if scaler.with_std and not (scaler.scale_ > 0).all():
        raise ValueError(f"the Pipeline step {step_name!r} has scales that are not positive")


def _check_names_handed_on(step_name, step, following):
    """Refuse a step whose column names are not what the step after it was
    fitted on: a step fitted on named columns was handed the names of the one
    before (x0, x1, ... where that one read an array)."""
    names = getattr(step, "feature_names_in_", None)
    if names is not None and not (
        isinstance(names, np.ndarray) and names.shape == (step.n_features_in_,)
        and all(isinstance(n, str) for n in names)
    ):
        raise ValueError(
            f"the Pipeline step {step_name!r} has feature_names_in_ that do not name "
            "its columns"
        )
    following_names = getattr(following, "feature_names_in_", None)
    if following_names is not None and not np.array_equal(
        following_names, step.get_feature_names_out()
    ):
        raise ValueError(
            f"the Pipeline step after {step_name!r} reads other columns than "
            f"{step_name!r} writes"
        )


def _check_step_outputs(pipeline):
    """Refuse steps whose output would not give the next step what it was
    fitted on: a DataFrame for one fitted with column names, else arrays."""
    for (step_name, step), (_, following) in zip(pipeline.steps[:-1], pipeline.steps[1:]):
        frames = output_of(step) in ("pandas", "polars")
        if frames != hasattr(following, "feature_names_in_"):
            raise ValueError(
                f"the Pipeline step {step_name!r} outputs "
                f"{'DataFrames' if frames else 'arrays'}, and the step after it was fitted "
                f"on {'arrays' if frames else 'named columns'}"
            )


def output_of(step):
    """The ``set_output`` choice of ``step`` for ``transform``, or None."""
    return getattr(step, "_sklearn_output_config", {}).get("transform")


def _saved_output(step, following):
    """The output that ``step`` is saved with: a DataFrame where the step after
    it was fitted with column names (in the container its ``set_output``
    chose, pandas otherwise), arrays where it was not; so that a loaded
    Pipeline hands each step what it was fitted on, whatever the global
    ``transform_output`` at fit, save or load."""
    own = output_of(step)
    if hasattr(following, "feature_names_in_"):
        return own if own in ("pandas", "polars") else "pandas"
    return "default"


def _check_nothing_missing(metadata, name, earlier):
    """Refuse a file without a fitted attribute or net that save always writes
    for the estimator ``name``; ``earlier`` are the attributes of an earlier
    format version that the file may hold instead."""
    present = set(metadata["attributes"]) | set(metadata["nets"])
    present |= {REPLACED_BY[(name, attribute)] for attribute in earlier & present}
    # not DisentangledSSL's step1_params_: a model saved in format 1, loaded
    # and saved again, has none
    missing = (REQUIRED[name] | {"modalities_", "n_features_in_"}) - present
    if missing:
        raise ValueError(f"the {name} lacks {sorted(missing)}, which save writes")


def _checked_modalities(modalities, n_features):
    """``modalities_`` read from a file, as ``{str name: int columns}``, refused
    unless its groups cover the ``n_features`` columns once each."""
    if not isinstance(modalities, dict) or not modalities or not isinstance(n_features, int) \
            or isinstance(n_features, bool):
        raise ValueError("modalities_ or n_features_in_ is not what save writes")
    groups = {}
    for key, columns in modalities.items():
        if str(key) in groups:
            raise ValueError(f"modalities_ names the modality {str(key)!r} twice")
        groups[str(key)] = np.asarray(columns, dtype=int)
    # the count first: n_features_in_ could be any number
    if not all(c.ndim == 1 for c in groups.values()) or (
        sum(len(c) for c in groups.values()) != n_features
        or not np.array_equal(np.sort(np.concatenate(list(groups.values()))),
                              np.arange(n_features))
    ):
        raise ValueError("modalities_ does not cover the n_features_in_ columns once each")
    return groups


def _read_weights(weights):
    """The nets' state dicts in ``weights.pt``, read without running pickled code."""
    try:
        return torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    # whatever torch's reader raises on bytes that are not the tensors save
    # writes; its own message would suggest loading them with pickle
    except Exception as exc:
        raise ValueError(
            f"{WEIGHTS} holds something other than the tensors save writes "
            f"({type(exc).__name__}); do not load it by other means, such as pickle"
        ) from None


def _is_float_array(value, shape):
    """Whether ``value`` is an ndarray of floats of the given shape."""
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape == shape


def _check_float_array(value, shape, name):
    if not _is_float_array(value, shape):
        raise ValueError(f"{name} is not an array of numbers of shape {shape}")


def _check_fitted_shapes(estimator):
    """Refuse fitted arrays of another shape or type than the modalities and
    the nets give them (numpy would broadcast some of them silently)."""
    sizes = [len(columns) for columns in estimator.modalities_.values()]
    if isinstance(estimator, LinearCCA):
        k = np.shape(estimator.canonical_correlations_)[:1]
        _check_float_array(estimator.canonical_correlations_, k, "canonical_correlations_")
        for name, shape in (("means_", lambda n: (n,)), ("weights_", lambda n: (n, *k)),
                            ("loadings_", lambda n: (*k, n))):
            arrays = getattr(estimator, name)
            if not isinstance(arrays, list) or len(arrays) != len(sizes):
                raise ValueError(f"{name} does not hold one array per modality")
            for n, array in zip(sizes, arrays):
                _check_float_array(array, shape(n), name)
    ica = getattr(estimator, "ica_", None)
    if ica is not None:
        n = estimator._block_widths()["shared"][0]
        for name, shape in (("mean_", (n,)), ("components_", (n, n)), ("mixing_", (n, n)),
                            ("whitening_", (n, n))):
            if name != "whitening_" or hasattr(ica, name):
                _check_float_array(getattr(ica, name, None), shape, f"ica_.{name}")


def _check_consistent(estimator):
    """Refuse fitted attributes that do not fit together (in a modified file).

    The feature names must name the columns, each once, the fitted arrays
    of numbers must be finite, and every fitted block must embed a row of
    ones into finite numbers.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and not (
        isinstance(names, np.ndarray) and names.shape == (estimator.n_features_in_,)
        and all(isinstance(n, str) for n in names)
    ):
        raise ValueError("feature_names_in_ does not name the n_features_in_ columns")
    if names is not None and len(set(names)) != len(names):
        raise ValueError("feature_names_in_ names a column twice")
    numbers = [value for name, value in vars(estimator).items()
               if name.endswith("_") and isinstance(value, np.ndarray)
               and value.dtype.kind == "f"]
    if not all(np.isfinite(value).all() for value in numbers):
        raise ValueError("a fitted array holds values that are not finite")
    _check_fitted_shapes(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. an array for a model fitted on a DataFrame
        try:
            estimator.transform_blocks(np.ones((1, estimator.n_features_in_)))
        except ValueError as exc:
            if "is not finite" not in str(exc):
                raise
            raise ValueError(
                "the model embeds a row of ones into values that are not finite") from None
