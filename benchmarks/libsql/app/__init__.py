"""The conformance checks' models (``benchmarks.libsql.checks``), with a migration."""
