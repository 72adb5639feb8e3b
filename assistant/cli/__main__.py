"""``python -m assistant.cli``: the ``mlchat`` command."""

import sys

from assistant.cli import main

sys.exit(main())
