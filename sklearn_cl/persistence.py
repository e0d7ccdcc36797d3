"""Save and load fitted models as skops files, which run no code on loading.

The estimators of ``sklearn_cl`` store themselves as parameters and arrays
(module weights, optimizer state, each strategy's declared state), so
``skops.io.dump`` and ``skops.io.load``, the scikit-learn ecosystem's
secure format, work on them and on whole pipelines around them (a
``ColumnTransformer`` and ``OneHotEncoder`` in front, say). skops names
every class in the file and, before it imports anything, checks each name,
as a string, against the types trusted by default (scikit-learn's
estimators, numpy, scipy) and those passed in ``trusted``.

This module is a convenience over skops:

- :func:`save` writes atomically (a temporary file, fsync, then
  ``os.replace``): a failed save never destroys the file it replaces;
- :func:`load` and :func:`untrusted_types` also trust the classes of
  ``sklearn_cl`` (estimators, strategies, buffers, modules), refuse files
  that decompress to more than ``max_size`` bytes or nest deeper than
  ``_MAX_DEPTH`` levels, and raise :class:`ModelFileError` for a truncated,
  corrupted or edited file, including one whose state no fitted model has
  (non-finite or complex weights, optimizer state of another shape, a
  network larger than the weights it stores: see ``_netstate``);
- a small ``sklearn_cl.json`` entry records the library versions, and
  loading under other major or minor versions warns
  (:class:`InconsistentVersionWarning`). ``skops.io.load`` ignores it.

Nothing that holds a file path, a command or arbitrary code is trusted by
default: not skorch's callbacks (``Checkpoint`` writes files, logger
callbacks write files or reach services), not functions. Your own module
class, strategies or callbacks are listed by :func:`untrusted_types`; pass
them in ``trusted`` after checking them.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterable
from os import PathLike

import numpy as np
import sklearn
import skops
import skops.io as skops_io
import skorch
import torch
from skops.io.exceptions import UntrustedTypesFoundException

from ._atomic import atomic_write

__all__ = [
    "DEFAULT_MAX_SIZE",
    "InconsistentVersionWarning",
    "ModelFileError",
    "UntrustedTypeError",
    "load",
    "save",
    "trusted_by_default",
    "untrusted_types",
]

DEFAULT_MAX_SIZE = 2**30  # 1 GiB uncompressed
_MAX_DEPTH = 200
_VERSIONS_ENTRY = "sklearn_cl.json"
_VERSIONED = {
    "sklearn_cl": lambda: importlib.import_module("sklearn_cl").__version__,
    "torch": lambda: torch.__version__,
    "scikit-learn": lambda: sklearn.__version__,
    "skorch": lambda: skorch.__version__,
    "skops": lambda: skops.__version__,
    "numpy": lambda: np.__version__,
}
# the public modules whose classes are trusted: all are parameters and
# arrays (functions they hold, such as Augment's func, are checked apart)
_TRUSTED_MODULES = (
    "sklearn_cl",
    "sklearn_cl.drift",
    "sklearn_cl.modules",
    "sklearn_cl.monitoring",
    "sklearn_cl.pipeline",
    "sklearn_cl.strategies",
    "sklearn_cl.strategies.buffers",
    "sklearn_cl.timeseries",
)


class UntrustedTypeError(TypeError):
    """The file names types that are not trusted."""


class ModelFileError(ValueError):
    """The file is not a readable model file: truncated, corrupted, edited,
    too large, or not written by skops."""


class InconsistentVersionWarning(UserWarning):
    """The file was saved under other versions of the libraries."""


@functools.cache
def _trusted_names() -> tuple[str, ...]:
    names = {"torch.device"}  # a value of the estimators' device parameter
    for module_name in _TRUSTED_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (
                isinstance(obj, type)
                and obj.__module__.startswith("sklearn_cl.")
                and not issubclass(obj, BaseException | Warning)
            ):
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return tuple(sorted(names))


def trusted_by_default() -> list[str]:
    """The types :func:`load` trusts on top of skops' own: ``sklearn_cl``'s
    and ``torch.device`` (a value of the ``device`` parameter).

    Returns
    -------
    names : list of str
        Sorted ``module.QualName`` names.

    Examples
    --------
    >>> "sklearn_cl.strategies.ewc.EWC" in trusted_by_default()
    True
    """
    return list(_trusted_names())


def save(estimator, path: str | PathLike) -> None:
    """Save a model in the skops format, atomically.

    Parameters
    ----------
    estimator : object
        A ``sklearn_cl`` estimator, or any model skops stores (a pipeline
        holding one, say). A module *instance* passed as ``module=`` cannot
        be stored: pass the class with its ``module__*`` parameters.
    path : str or path-like
        The file to write (``.skops`` is the usual suffix). It is replaced
        only once the new file is completely written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.persistence import load, save
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.skops"
    >>> save(clf, path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    buffer = io.BytesIO(skops_io.dumps(estimator))
    with zipfile.ZipFile(buffer, "a") as archive:
        versions = {name: version() for name, version in _VERSIONED.items()}
        archive.writestr(_VERSIONS_ENTRY, json.dumps(versions))
    atomic_write(path, buffer.getvalue())


def _read(path, max_size: int) -> bytes:
    """The file's bytes, after checking its size, the sizes its entries
    declare (a zip entry cannot decompress beyond its declared size) and
    the size of what its schema reads."""
    with open(path, "rb") as f:
        data = f.read(max_size + 1)
    if len(data) > max_size:
        raise ModelFileError(
            f"{path} is larger than max_size={max_size} bytes. Pass a larger "
            "max_size if you trust its size."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
            total = sum(info.file_size for info in archive.infolist())
            if total > max_size:
                raise ModelFileError(
                    f"{path} decompresses to {total} bytes, more than "
                    f"max_size={max_size}. Pass a larger max_size if you trust "
                    "its size."
                )
            schema = json.loads(archive.read("schema.json"))
    except ModelFileError:
        raise
    except KeyError:
        raise ModelFileError(f"{path} has no schema.json: not a skops file.") from None
    except Exception as error:
        raise _file_error(path, error) from None
    _check_schema(path, schema, sizes, max_size)
    return data


def _check_schema(path, schema, sizes: dict, max_size: int) -> None:
    """Refuse a schema nested deeper than ``_MAX_DEPTH`` or reading more
    than ``max_size`` bytes of entries: skops reads an entry once for every
    node that names it (a model's file names each once), so a few kilobytes
    naming one large entry a thousand times would read it a thousand times."""
    read = 0
    stack = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise ModelFileError(
                f"{path} nests objects more than {_MAX_DEPTH} levels deep; models "
                "never do. The file was probably edited."
            )
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                read += sizes.get(node["file"], 0)
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
    if read > max_size:
        raise ModelFileError(
            f"{path} reads {read} bytes of its entries, more than max_size="
            f"{max_size}: it names the same entries many times, which models "
            "never do. The file was probably edited."
        )


def _file_error(path, error: BaseException) -> ModelFileError:
    return ModelFileError(
        f"{path} is not a readable model file (truncated, corrupted or edited): "
        f"{type(error).__name__}: {error}"
    )


def _untrusted(data: bytes, path, trusted: set[str]) -> list[str]:
    try:
        names = skops_io.get_untrusted_types(data=data)
    except Exception as error:
        raise _file_error(path, error) from None
    return sorted(set(names) - trusted)


def _names(trusted: Iterable[str | type]) -> set[str]:
    return {
        t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}" for t in trusted
    }


def untrusted_types(
    path: str | PathLike, *, max_size: int = DEFAULT_MAX_SIZE
) -> list[str]:
    """The types named in a file that :func:`load` does not trust by default.

    Nothing is imported or run: the names are read from the file's schema.
    Check each (is it your own module class? a class you know?), then pass
    the ones you trust to ``load(path, trusted=[...])``.

    Parameters
    ----------
    path : str or path-like
    max_size : int, default=DEFAULT_MAX_SIZE
        Largest total uncompressed size accepted, in bytes.

    Returns
    -------
    names : list of str
        Sorted ``module.QualName`` names.
    """
    data = _read(path, max_size)
    return _untrusted(data, path, set(trusted_by_default()))


def load(
    path: str | PathLike,
    *,
    trusted: Iterable[str | type] = (),
    max_size: int = DEFAULT_MAX_SIZE,
):
    """Load a model saved with :func:`save` or ``skops.io.dump``.

    Every type named in the file must be trusted before anything is
    imported: skops' defaults (scikit-learn, numpy, scipy), the types of
    ``sklearn_cl`` (:func:`trusted_by_default`), and ``trusted``.

    Parameters
    ----------
    path : str or path-like
    trusted : iterable of str or type, default=()
        Further types to trust, as types or ``"module.QualName"`` names (as
        :func:`untrusted_types` lists them).
    max_size : int, default=DEFAULT_MAX_SIZE
        Largest file size and total uncompressed size accepted, in bytes
        (1 GiB by default); raise it for larger models you trust.

    Returns
    -------
    estimator : object

    Raises
    ------
    UntrustedTypeError
        If the file names types that are not trusted.
    ModelFileError
        If the file is too large, truncated, corrupted or edited.

    Warns
    -----
    InconsistentVersionWarning
        If the file was saved under other major or minor versions.
    UserWarning
        If the file names a device not available here (a GPU): the model
        is loaded on the CPU.
    """
    data = _read(path, max_size)
    trusted_names = set(trusted_by_default()) | _names(trusted)
    untrusted = _untrusted(data, path, trusted_names)
    if untrusted:
        raise UntrustedTypeError(
            f"The file names types that are not trusted: {untrusted}. If you "
            "trust the file's source and these types, pass them in "
            "load(path, trusted=[...])."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            versions = {}
            if _VERSIONS_ENTRY in archive.namelist():
                versions = json.loads(archive.read(_VERSIONS_ENTRY))
        estimator = skops_io.loads(data, trusted=sorted(trusted_names))
    except UntrustedTypesFoundException as error:  # a name the audit missed
        raise UntrustedTypeError(str(error)) from None
    except Exception as error:
        raise _file_error(path, error) from None
    _check_versions(path, versions)
    return estimator


def _major_minor(version: str) -> tuple[int, ...]:
    # runs of at most 18 digits: Python refuses to parse longer integers
    # from text (a file claiming version "9999...9" warns, as any other)
    return tuple(int(part) for part in re.findall(r"\d{1,18}", str(version))[:2])


def _check_versions(path, saved) -> None:
    if not isinstance(saved, dict):
        raise ModelFileError(f"{path}: its {_VERSIONS_ENTRY} holds no versions.")
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
