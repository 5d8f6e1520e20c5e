"""Placeholder until the native ORM lands (issue: native async ORM)."""


def install() -> None:
    """Install the native a-method path (not yet implemented)."""
