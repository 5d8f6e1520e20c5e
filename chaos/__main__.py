"""``python -m chaos`` is ``python -m chaos.run``."""

from .run import main

raise SystemExit(main())
