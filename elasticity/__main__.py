"""``python -m elasticity``: the same command as the ``elasticity`` console script."""

import sys

from elasticity.cli import main

sys.exit(main())
