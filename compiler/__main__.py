"""``python -m moecc`` runs the CLI."""

import sys

from moecc.cli import main

sys.exit(main())
