"""Sphinx configuration: user guide, API reference and example gallery.

Builds offline: no intersphinx, and the gallery runs only the examples that
need no data files and finish in seconds (``sphinx_gallery_conf`` below);
``-D plot_gallery=0`` builds it without running any.
"""

from __future__ import annotations

import sklearn_cl

project = "sklearn_cl"
author = "the sklearn_cl developers"
copyright = "the sklearn_cl developers"  # noqa: A001 (Sphinx's name)
release = sklearn_cl.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "literal"  # `name` renders as code, as in the docstrings

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# the checks every docstring passes today, kept passing (warnings are errors):
# known sections in order, a summary, documented parameters that exist,
# plain type names
numpydoc_validation_checks = {
    "GL06",
    "GL07",
    "GL09",
    "GL10",
    "SS01",
    "PR02",
    "PR05",
    "PR06",
    "PR10",
    "YD01",
}

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_cl {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run only these (offline, seconds each); the others are shown, not run:
    # they read ../shared/data, start a dask cluster or take a minute or more
    "filename_pattern": r"/(quickstart|safe_persistence)\.py$",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_cl",),
    "download_all_examples": False,
    "remove_config_comments": True,
}


def skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave out the metadata-routing methods that scikit-learn generates for
    every estimator (``set_fit_request``, ...): scikit-learn documents them."""
    if name == "get_metadata_routing" or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_metadata_routing)
