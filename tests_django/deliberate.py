"""Tests of Django's suite whose different outcome on our ENGINE is deliberate.

Maps a test id (as ``runtests.py`` names it) to the reason. These are listed
in RESULTS.md and are not counted as regressions. Keep it empty unless the
difference is a design decision (see DESIGN.md), never to hide a bug.
"""

from __future__ import annotations

DELIBERATE: dict[str, str] = {}
