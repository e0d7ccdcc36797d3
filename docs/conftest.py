"""pytest under docs/: the pages' code blocks run as doctests (``*.rst``);
the Sphinx configuration and what the build generates are not collected."""

collect_ignore = ["conf.py"]
collect_ignore_glob = ["_build/*", "generated/*", "auto_examples/*"]
