"""The libSQL benchmarks: our libSQL ENGINE beside the PyPI peers on one sqld.

``python -m benchmarks.libsql`` (``scripts/bench libsql``) runs the conformance
table (:mod:`.conformance`) and the throughput matrix (:mod:`.run`), then writes
the libSQL section of ``benchmarks/RESULTS.md`` (:mod:`.report`). See
``benchmarks/README.md``, "libSQL".
"""
