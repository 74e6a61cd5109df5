"""``python -m playground [--host 127.0.0.1] [--port N] [--model ...]``."""

from __future__ import annotations

import sys

from playground.cli import main

if __name__ == "__main__":
    sys.exit(main())
