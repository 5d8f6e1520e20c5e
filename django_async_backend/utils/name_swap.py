"""Swapping one module-level name in other modules, and putting it back.

The native paths work by replacing the name Django's async code looks up
when it runs (``sync_to_async`` in the ORM's modules, in the request path's
modules): Django's code stays unchanged, only what that one name means
changes. A :class:`NameSwap` remembers the originals so that the swap can be
undone (``ASYNC_BACKEND_NATIVE_ORM = False`` in tests, for instance).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

from django.apps import apps

__all__ = ["NameSwap"]


class NameSwap:
    """A set of ``module.name`` replacements that can be undone."""

    def __init__(self) -> None:
        self._originals: dict[tuple[str, str], Any] = {}

    def swap(self, module_name: str, name: str, replacement: Any) -> None:
        """Make ``module_name.name`` be ``replacement`` (idempotent)."""
        module = importlib.import_module(module_name)
        key = (module_name, name)
        if key not in self._originals:
            self._originals[key] = getattr(module, name)
        setattr(module, name, replacement)

    def swap_in_modules(
        self, modules: Mapping[str, str | None], name: str, replacement: Any
    ) -> None:
        """Swap ``name`` in each module that has it.

        ``modules`` maps a module to the app that must be installed for it
        to be importable (None: always).
        """
        for module_name, app in modules.items():
            if app is not None and not apps.is_installed(app):
                continue
            if hasattr(importlib.import_module(module_name), name):
                self.swap(module_name, name, replacement)

    def restore(self) -> None:
        """Put every original back."""
        for (module_name, name), original in self._originals.items():
            module = sys.modules.get(module_name)
            if module is not None:
                setattr(module, name, original)
        self._originals.clear()
