"""The chaos suite: a bank-transfer workload run while faults are injected.

``scripts/chaos`` (see the README's "Faults, load and soak") runs it. Forty
tasks move money between accounts in ``async_atomic`` blocks, with
``select_for_update``, the ORM and raw SQL mixed, and an ``IntegrityError``
caught in a savepoint now and then, against a private PostgreSQL cluster on a
spare port (never the shared server) or a SQLite file, while the server is
restarted (fast and immediate), random backends are terminated, about one
task in ten is cancelled at a random point and bursts exhaust the pool.

Every transfer is classified as committed, failed, or in doubt (an exception
raised by the block's exit, i.e. by the commit itself); afterwards the
database is read directly (not through the system under test) and the
verifications in :mod:`chaos.verify` run. Results go to ``chaos/RESULTS.md``
and ``chaos/results.json``.

Modules: :mod:`.models` (the two tables), :mod:`.workload` (transfers and
their ledger), :mod:`.faults` (the injectors), :mod:`.verify` (the checks),
:mod:`.sampler` (RSS and connection counts for the soak), :mod:`.report`
(results files), :mod:`.run` (the command line).
"""
