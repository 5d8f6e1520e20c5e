"""Benchmarks: our native async ORM path beside every alternative (see README.md)."""
