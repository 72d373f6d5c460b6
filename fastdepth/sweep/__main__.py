"""``python -m fastdepth.sweep``."""

import sys

from fastdepth.sweep.cli import main

sys.exit(main())
