"""``python -m visualizer`` runs the command line."""

import sys

from visualizer.cli import main

sys.exit(main())
