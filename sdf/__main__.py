"""``python -m sdf`` is the ``sdfrecon`` command."""

import sys

from sdf.cli import main

sys.exit(main())
