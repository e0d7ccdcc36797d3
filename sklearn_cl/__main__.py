"""``python -m sklearn_cl``: the ``sklearn-cl`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
