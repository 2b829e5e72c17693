"""``python -m twin.cli``: the same as the ``larp-twin`` command."""

import sys

from twin.cli.main import main

sys.exit(main())
