"""Async helpers for Django's contrib apps."""
