"""Save and load fitted estimators in a format that is safe to load.

``pickle`` and ``joblib`` keep working, but loading a pickle runs whatever
code the file names: never load one from a source you do not trust.
:func:`save` writes a zip archive that :func:`load` reads without running
code from the file:

- ``state.json``: the object graph as JSON. Classes are stored by name and,
  on loading, must be on an allow-list: classes of ``sklearn_cl``,
  scikit-learn estimators, torch modules and optimizers, skorch callbacks,
  and a few plain containers; anything else must be trusted explicitly
  (``trusted=``). Objects are rebuilt without calling their ``__init__``,
  from plain data: numbers, strings, lists, tuples, dicts, sets, None. No
  function can be stored.
- ``tensors.pt``: every torch tensor (module weights, optimizer state,
  strategy state such as EWC's Fisher and anchors), read with
  ``torch.load(weights_only=True)``.
- ``arrays.npz``: every numpy array (``classes_``, replay buffers), read
  with ``numpy.load(allow_pickle=False)``.

The whole fitted state is saved: network, optimizer state, strategy state
(replay buffers, Fisher, anchors, random generators), so a loaded model
predicts and keeps learning exactly as the saved one would. The versions of
sklearn_cl, torch, scikit-learn, skorch and numpy are stored; loading under
a different major or minor version of any of them warns.
"""

from __future__ import annotations

import collections
import functools
import importlib
import inspect
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterable
from os import PathLike

import numpy as np
import sklearn
import skorch
import torch
from sklearn.base import BaseEstimator
from skorch.callbacks import Callback

__all__ = [
    "InconsistentVersionWarning",
    "UntrustedTypeError",
    "load",
    "save",
    "untrusted_types",
]

_FORMAT = "sklearn_cl.persistence"
_FORMAT_VERSION = 1
_STATE, _TENSORS, _ARRAYS = "state.json", "tensors.pt", "arrays.npz"

# (package prefix, base class): subclasses defined in that package are trusted
_TRUSTED_BASES = (
    ("torch.", torch.nn.Module),
    ("torch.", torch.optim.Optimizer),
    ("sklearn.", BaseEstimator),
    ("skorch.", Callback),
    ("skorch.", skorch.NeuralNet),
    ("numpy", np.generic),
)
_TRUSTED_NAMES = {
    "builtins.bool",
    "builtins.complex",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "skorch.dataset.Dataset",
    "skorch.dataset.ValidSplit",
    "skorch.history.History",
    "sklearn.utils._metadata_requests.MetadataRequest",
    "sklearn.utils._metadata_requests.MethodMetadataRequest",
    "torch.utils.data.dataloader.DataLoader",
}
# functions skorch keeps in a net's state (its setters of optimizer parameters)
_TRUSTED_FUNCTIONS = {
    "skorch.net.NeuralNet._virtual_setattr",
    "skorch.setter.optimizer_setter",
}
_TRUSTED_PACKAGES = ("sklearn_cl",)
_IMPORTABLE = ("builtins", "numpy", "sklearn", "sklearn_cl", "skorch", "torch")
_KINDS = {
    "np_scalar", "tuple", "type", "np_dtype", "torch_dtype", "torch_device",
    "tensor", "ndarray", "torch_generator", "np_generator", "np_random_state",
    "list", "set", "frozenset", "dict", "object", "function", "partial",
}  # fmt: skip
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_VERSIONED = {
    "sklearn_cl": lambda: importlib.import_module("sklearn_cl").__version__,
    "torch": lambda: torch.__version__,
    "scikit-learn": lambda: sklearn.__version__,
    "skorch": lambda: skorch.__version__,
    "numpy": lambda: np.__version__,
}


class UntrustedTypeError(TypeError):
    """The file names classes that are not trusted by default."""


class InconsistentVersionWarning(UserWarning):
    """The file was saved under other versions of the libraries."""


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ----------------------------------------------------------------------
# saving
# ----------------------------------------------------------------------
class _Encoder:
    """Turns an object graph into JSON-able nodes, tensors and arrays.

    Mutable objects are memoised by identity, so shared references (the
    optimizer's parameters are the module's) and cycles survive.
    """

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self._ids: dict[int, int] = {}
        self._keep: list = []  # keeps memoised objects alive while saving
        self._path: list[str] = []

    def encode(self, obj, where: str = "estimator"):
        self._path.append(where)
        try:
            return self._encode(obj)
        finally:
            self._path.pop()

    def _memo(self, obj) -> tuple[int, bool]:
        """(id, seen before) of a mutable object."""
        key = id(obj)
        if key in self._ids:
            return self._ids[key], True
        self._ids[key] = len(self._ids)
        self._keep.append(obj)
        return self._ids[key], False

    def _encode(self, obj):
        if obj is None or type(obj) in (bool, int, float, str):
            return obj
        if isinstance(obj, np.generic):
            value = obj.item()
            if type(value) not in (bool, int, float, str):
                self._refuse(obj, "numpy scalars other than numbers and strings")
            return {"$": "np_scalar", "dtype": obj.dtype.str, "value": value}
        if type(obj) is tuple:
            return {"$": "tuple", "items": [self.encode(v, "[]") for v in obj]}
        if isinstance(obj, type):
            self._check_importable(obj)
            return {"$": "type", "name": _type_name(obj)}
        if isinstance(obj, np.dtype):
            return {"$": "np_dtype", "str": obj.str}
        if isinstance(obj, torch.dtype):
            return {"$": "torch_dtype", "name": str(obj).removeprefix("torch.")}
        if isinstance(obj, torch.device):
            return {"$": "torch_device", "name": str(obj)}
        ident, seen = self._memo(obj)
        if seen:
            return {"$": "ref", "id": ident}
        node = self._encode_mutable(obj)
        node["id"] = ident
        return node

    def _encode_mutable(self, obj) -> dict:
        if isinstance(obj, torch.Tensor):
            if type(obj) not in (torch.Tensor, torch.nn.Parameter):
                self._refuse(obj, "tensor subclasses other than Parameter")
            key = f"t{len(self.tensors)}"
            self.tensors[key] = obj.detach() if obj.grad_fn is not None else obj
            return {"$": "tensor", "key": key}
        if isinstance(obj, np.ndarray):
            return self._encode_array(obj)
        if isinstance(obj, torch.Generator):
            key = f"t{len(self.tensors)}"
            self.tensors[key] = obj.get_state()
            return {"$": "torch_generator", "device": str(obj.device), "key": key}
        if isinstance(obj, np.random.Generator):
            bit_generator = obj.bit_generator
            name = type(bit_generator).__name__
            if name not in _BIT_GENERATORS:
                self._refuse(obj, f"bit generators other than {_BIT_GENERATORS}")
            state = self.encode(bit_generator.state, "bit_generator.state")
            return {"$": "np_generator", "bit_generator": name, "state": state}
        if isinstance(obj, np.random.RandomState):
            state = self.encode(obj.get_state(legacy=True), "get_state()")
            return {"$": "np_random_state", "state": state}
        if type(obj) in (list, set, frozenset):
            kind = type(obj).__name__
            return {"$": kind, "items": [self.encode(v, "[]") for v in obj]}
        if type(obj) in (dict, collections.OrderedDict, collections.defaultdict):
            return self._encode_dict(obj)
        if inspect.isroutine(obj) or isinstance(obj, functools.partial):
            return self._encode_function(obj)
        return self._encode_object(obj)

    def _encode_array(self, array: np.ndarray) -> dict:
        node = {"$": "ndarray", "object": False}
        if array.dtype.hasobject:
            if not all(isinstance(v, str) for v in array.flat):
                self._refuse(array, "object arrays holding anything but strings")
            array = array.astype(str)
            node["object"] = True
        node["key"] = key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return node

    def _encode_items(self, obj: dict) -> list:
        return [
            [self.encode(k, "key"), self.encode(v, k if isinstance(k, str) else "[]")]
            for k, v in obj.items()
        ]

    def _encode_dict(self, obj) -> dict:
        node = {
            "$": "dict",
            "kind": type(obj).__name__,
            "items": self._encode_items(obj),
        }
        if isinstance(obj, collections.defaultdict):
            node["factory"] = self.encode(obj.default_factory, "default_factory")
        return node

    def _encode_function(self, obj) -> dict:
        if isinstance(obj, functools.partial):
            return {
                "$": "partial",
                "func": self.encode(obj.func, "func"),
                "args": self.encode(obj.args, "args"),
                "keywords": self.encode(obj.keywords, "keywords"),
            }
        name = f"{obj.__module__}.{obj.__qualname__}"
        package = obj.__module__.split(".")[0]
        if _resolve(name, importable=(package,)) is not obj:
            self._refuse(obj, "functions that cannot be imported by name (lambdas)")
        return {"$": "function", "name": name}

    def _encode_object(self, obj) -> dict:
        cls = type(obj)
        if not hasattr(obj, "__dict__"):
            self._refuse(obj, "objects without a __dict__")
        self._check_importable(cls)
        node = {"$": "object", "class": _type_name(cls)}
        node["state"] = {k: self.encode(v, k) for k, v in vars(obj).items()}
        # list and dict subclasses (skorch's History) keep their items too
        if isinstance(obj, list):
            node["items"] = [self.encode(v, "[]") for v in obj]
        elif isinstance(obj, dict):
            node["items"] = self._encode_items(obj)
        return node

    def _check_importable(self, cls: type) -> None:
        package = cls.__module__.split(".")[0]
        if _resolve(_type_name(cls), importable=(package,)) is not cls:
            self._refuse(cls, "classes that cannot be imported by name")

    def _refuse(self, obj, what: str):
        where = ".".join(self._path)
        raise TypeError(
            f"Cannot save {where} ({type(obj).__name__}: {obj!r:.80}) in the safe "
            f"format: it does not store {what}. Replace it with a class (module "
            "and optimizer classes with their module__ / optimizer__ parameters), "
            "or save with pickle or joblib for use by trusted readers only."
        )


def save(estimator, path: str | PathLike) -> None:
    """Save a fitted (or unfitted) estimator in the safe format.

    Parameters
    ----------
    estimator : object
        A ``sklearn_cl`` estimator, a scikit-learn pipeline or meta-estimator
        holding them, or any scikit-learn estimator. Functions (for example a
        lambda in a ``FunctionTransformer``) cannot be stored.
    path : str or path-like
        The file to write (a zip archive; ``.skcl`` is a good suffix).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.persistence import load, save
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.skcl"
    >>> save(clf, path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    encoder = _Encoder()
    root = encoder.encode(estimator)
    state = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "versions": {name: version() for name, version in _VERSIONED.items()},
        "root": root,
    }
    tensors, arrays = io.BytesIO(), io.BytesIO()
    torch.save(encoder.tensors, tensors)
    np.savez(arrays, **encoder.arrays)
    # numbers are stored as they are: compressing them is slow and gains little
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_STATE, json.dumps(state), zipfile.ZIP_DEFLATED)
        archive.writestr(_TENSORS, tensors.getvalue())
        archive.writestr(_ARRAYS, arrays.getvalue())


# ----------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------
def _resolve(name: str, *, importable: Iterable[str] = _IMPORTABLE):
    """The object named ``module.qualname``, importing the longest module
    prefix of the name that lies in an ``importable`` package; None if there
    is none."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        if module_name.split(".")[0] not in importable:
            continue
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute, None)
        return obj
    return None


def _trusted_by_default(name: str) -> bool:
    if name in _TRUSTED_NAMES or name in _TRUSTED_FUNCTIONS:
        return True
    package = name.split(".")[0]
    if package not in _IMPORTABLE:
        return False
    cls = _resolve(name)
    if not isinstance(cls, type) or _type_name(cls) != name:
        return False
    if package in _TRUSTED_PACKAGES:
        return True
    return any(
        name.startswith(prefix) and issubclass(cls, base)
        for prefix, base in _TRUSTED_BASES
    )


def _type_names(node) -> set[str]:
    """Every class and function named in a node tree."""
    names = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("$") in ("type", "function"):
                names.add(item["name"])
            elif item.get("$") == "object":
                names.add(item["class"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _read_state(archive: zipfile.ZipFile) -> dict:
    state = json.loads(archive.read(_STATE))
    if state.get("format") != _FORMAT:
        raise ValueError(
            f"This file is not a {_FORMAT} archive; it was not written by "
            "sklearn_cl.persistence.save."
        )
    if state.get("format_version", 0) > _FORMAT_VERSION:
        raise ValueError(
            f"This file has format version {state['format_version']}, newer than "
            f"this sklearn_cl reads ({_FORMAT_VERSION}). Upgrade sklearn_cl."
        )
    return state


def untrusted_types(path: str | PathLike) -> list[str]:
    """The classes named in a saved file that :func:`load` does not trust by
    default; inspect them, then pass the ones you trust to ``load(trusted=)``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    names : list of str
        Sorted ``module.qualname`` names.
    """
    with zipfile.ZipFile(path) as archive:
        state = _read_state(archive)
    names = _type_names(state["root"])
    return sorted(name for name in names if not _trusted_by_default(name))


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def _check_versions(saved: dict) -> None:
    differ = []
    for name, version in _VERSIONED.items():
        now = version()
        if name in saved and _major_minor(saved[name]) != _major_minor(now):
            differ.append(f"{name} {saved[name]} (now {now})")
    if differ:
        warnings.warn(
            "This model was saved with " + ", ".join(differ) + ". Models are "
            "only guaranteed to load and behave the same under the same major "
            "and minor versions: check its predictions, or refit it with the "
            "versions installed now and save it again.",
            InconsistentVersionWarning,
            stacklevel=3,
        )


class _Decoder:
    def __init__(self, tensors: dict, arrays, classes: dict[str, type]):
        self.tensors = tensors
        self.arrays = arrays
        self.classes = classes
        self.objects: dict[int, object] = {}

    def decode(self, node):
        if not isinstance(node, dict):
            return node
        kind = node["$"]
        if kind == "ref":
            return self.objects[node["id"]]
        if kind not in _KINDS:
            raise ValueError(f"Unknown node kind {kind!r} in the file.")
        obj = getattr(self, f"_decode_{kind}")(node)
        # containers and objects register themselves before their contents,
        # which may refer back to them; the rest is registered here
        return self._register(node, obj)

    def _register(self, node, obj):
        if "id" in node:
            self.objects[node["id"]] = obj
        return obj

    def _decode_np_scalar(self, node):
        return np.dtype(node["dtype"]).type(node["value"])

    def _decode_tuple(self, node):
        return tuple(self.decode(v) for v in node["items"])

    def _decode_type(self, node):
        return self.classes[node["name"]]

    _decode_function = _decode_type

    def _decode_partial(self, node):
        func = self.decode(node["func"])
        return functools.partial(
            func, *self.decode(node["args"]), **self.decode(node["keywords"])
        )

    def _decode_np_dtype(self, node):
        return np.dtype(node["str"])

    def _decode_torch_dtype(self, node):
        dtype = getattr(torch, node["name"], None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"Unknown torch dtype {node['name']!r} in the file.")
        return dtype

    def _decode_torch_device(self, node):
        return torch.device(node["name"])

    def _decode_tensor(self, node):
        return self.tensors[node["key"]]

    def _decode_ndarray(self, node):
        array = self.arrays[node["key"]]
        return array.astype(object) if node["object"] else array

    def _decode_torch_generator(self, node):
        generator = torch.Generator(device=node["device"])
        generator.set_state(self.tensors[node["key"]])
        return generator

    def _decode_np_generator(self, node):
        if node["bit_generator"] not in _BIT_GENERATORS:
            raise ValueError(f"Unknown bit generator {node['bit_generator']!r}.")
        bit_generator = getattr(np.random, node["bit_generator"])()
        bit_generator.state = self.decode(node["state"])
        return np.random.Generator(bit_generator)

    def _decode_np_random_state(self, node):
        random_state = np.random.RandomState()
        random_state.set_state(self.decode(node["state"]))
        return random_state

    def _decode_list(self, node):
        items = self._register(node, [])
        items.extend(self.decode(v) for v in node["items"])
        return items

    def _decode_set(self, node):
        items = self._register(node, set())
        items.update(self.decode(v) for v in node["items"])
        return items

    def _decode_frozenset(self, node):
        return frozenset(self.decode(v) for v in node["items"])

    def _decode_dict(self, node):
        kind = node["kind"]
        if kind == "defaultdict":
            obj = collections.defaultdict(self.decode(node["factory"]))
        elif kind == "OrderedDict":
            obj = collections.OrderedDict()
        else:
            obj = {}
        self._register(node, obj)
        for key, value in node["items"]:
            obj[self.decode(key)] = self.decode(value)
        return obj

    def _decode_object(self, node):
        cls = self.classes[node["class"]]
        obj = self._register(node, cls.__new__(cls))
        state = {key: self.decode(value) for key, value in node["state"].items()}
        if isinstance(obj, torch.nn.Module | torch.optim.Optimizer):
            # torch fills attributes that older versions lacked
            obj.__setstate__(state)
        else:
            vars(obj).update(state)
        if "items" in node and isinstance(obj, list):
            obj.extend(self.decode(v) for v in node["items"])
        elif "items" in node and isinstance(obj, dict):
            for key, value in node["items"]:
                obj[self.decode(key)] = self.decode(value)
        return obj


def load(
    path: str | PathLike,
    *,
    trusted: Iterable[str | type] = (),
    map_location=None,
):
    """Load an estimator written by :func:`save`, running no code from the file.

    Use this, not pickle or joblib, for files from sources you do not fully
    trust: a pickle can run any code when loaded. Classes named in the file
    must be trusted: those of ``sklearn_cl``, scikit-learn estimators, torch
    modules and optimizers and skorch callbacks are trusted by default; list
    others (your own module class, say) in ``trusted`` after checking them
    with :func:`untrusted_types`.

    Parameters
    ----------
    path : str or path-like
    trusted : iterable of str or type, default=()
        Further classes to trust, as classes or ``"module.QualName"``.
    map_location : str, torch.device or None, default=None
        Where tensors go, as in ``torch.load``. None keeps their saved
        device when it exists here and uses the CPU otherwise.

    Returns
    -------
    estimator : object

    Raises
    ------
    UntrustedTypeError
        If the file names classes that are not trusted.
    """
    trusted_names = {t if isinstance(t, str) else _type_name(t) for t in trusted}
    with zipfile.ZipFile(path) as archive:
        state = _read_state(archive)
        _check_versions(state.get("versions", {}))
        names = _type_names(state["root"])
        untrusted = sorted(
            n for n in names if n not in trusted_names and not _trusted_by_default(n)
        )
        if untrusted:
            raise UntrustedTypeError(
                f"The file names classes that are not trusted: {untrusted}. If you "
                "trust the file's source and these classes, pass them in "
                "load(path, trusted=[...])."
            )
        classes = {}
        for name in names:
            package = name.split(".")[0]
            obj = _resolve(name, importable=(*_IMPORTABLE, package))
            if obj is None:
                raise ValueError(
                    f"The file names {name!r}, which cannot be imported here. "
                    "Install the package that defines it."
                )
            classes[name] = obj
        if map_location is None and not torch.cuda.is_available():
            map_location = "cpu"
        tensors = torch.load(
            io.BytesIO(archive.read(_TENSORS)),
            weights_only=True,
            map_location=map_location,
        )
        with np.load(io.BytesIO(archive.read(_ARRAYS)), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    return _Decoder(tensors, arrays, classes).decode(state["root"])
