"""The API reference lists every public name, and only public names.

Sphinx itself checks the rest when ``make docs`` builds with warnings as
errors; these checks need no Sphinx, so ``make test`` catches a public name
added to an ``__all__`` but not to ``docs/api.rst``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import sklearn_cl

DOCS = Path(__file__).resolve().parents[1] / "docs"


def public_modules():
    """``sklearn_cl`` and every module below it with no private part."""
    yield sklearn_cl
    for info in pkgutil.walk_packages(sklearn_cl.__path__, "sklearn_cl."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield importlib.import_module(info.name)


def resolve(name: str):
    """The object a dotted path names: a module, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def autosummary_entries(text: str):
    """The dotted paths that the autosummary lists of a page document: each
    entry after the ``currentmodule`` in force where it stands (autosummary
    reads a full dotted path there as relative too)."""
    current, in_list = "", False
    for line in text.splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            current = match[1]
        elif line.startswith(".. autosummary::"):
            in_list = True
        elif in_list and line.strip() and not line.startswith(" "):
            in_list = False
        elif in_list and line.strip() and not line.strip().startswith(":"):
            yield f"{current}.{line.strip().lstrip('~')}"


def documented_objects():
    return [
        resolve(entry)
        for entry in autosummary_entries(DOCS.joinpath("api.rst").read_text())
    ]


def test_autosummary_entries_are_read_with_their_module():
    text = """
.. currentmodule:: sklearn_cl

.. autosummary::
   :toctree: generated/

   ContinualClassifier
   strategies.EWC

Prose after the list.

.. currentmodule:: sklearn_cl.datasets

.. autosummary::

   split_digits
"""
    assert list(autosummary_entries(text)) == [
        "sklearn_cl.ContinualClassifier",
        "sklearn_cl.strategies.EWC",
        "sklearn_cl.datasets.split_digits",
    ]


@pytest.mark.parametrize(
    "module", list(public_modules()), ids=lambda module: module.__name__
)
def test_every_public_name_is_in_the_api_reference(module):
    documented = documented_objects()
    missing = [
        name
        for name in getattr(module, "__all__", ())
        if not any(getattr(module, name) is obj for obj in documented)
    ]
    assert not missing, (
        f"{module.__name__}.__all__ has {missing}, missing in docs/api.rst: "
        "add each to the list of its section"
    )


def test_api_reference_names_only_public_objects():
    public = [
        getattr(module, name)
        for module in public_modules()
        for name in getattr(module, "__all__", ())
    ]
    extra = [
        entry
        for entry in autosummary_entries(DOCS.joinpath("api.rst").read_text())
        if not any(resolve(entry) is obj for obj in public)
    ]
    assert not extra, f"docs/api.rst documents names in no __all__: {extra}"
