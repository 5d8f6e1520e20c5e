"""Compatibility with the upstream project's model API (see ``base``)."""
