"""``python -m sandbox.telegram``: a standalone emulator."""

from .cli import main

raise SystemExit(main())
