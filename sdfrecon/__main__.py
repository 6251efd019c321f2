"""``python -m sdfrecon`` is the ``sdfrecon`` command."""

import sys

from sdfrecon.cli import main

sys.exit(main())
