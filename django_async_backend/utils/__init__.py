"""Small helpers that are not part of the database layer."""
