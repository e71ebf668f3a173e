"""``python -m boltir``: the ``boltir`` command."""

import sys

from boltir.cli import main

sys.exit(main())
