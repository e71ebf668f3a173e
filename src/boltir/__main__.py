import sys

from boltir.cli import main

sys.exit(main())
