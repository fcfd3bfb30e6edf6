"""``python -m sklearn_dssl``: the ``sklearn-dssl`` command line (``demo``, ``fit``, ``transform``)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
