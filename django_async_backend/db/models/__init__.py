"""The upstream project's model import paths (``base``, ``manager``)."""
