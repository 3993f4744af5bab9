"""``python -m econnector_vault serve ...``: the same as the ``econnector-vault`` command."""

import sys

from econnector_vault.cli import main

sys.exit(main())
