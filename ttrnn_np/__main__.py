"""``python -m ttrnn_np`` runs the ``ttrnn`` command."""
import sys

from .cli import main

sys.exit(main())
