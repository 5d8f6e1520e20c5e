"""``AsyncCursorWrapper`` at the upstream project's import path.

What ``await connection.cursor()`` returns; see ``base/cursor.py``.
"""

from .base.cursor import AsyncCursorWrapper

__all__ = ["AsyncCursorWrapper"]
