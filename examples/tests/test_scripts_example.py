"""README command 1, ``scripts/example``, for real: it prepares the database,
prints the URLs and serves the app until interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import httpx
from conftest import EXAMPLES, free_port

SCRIPT = EXAMPLES.parent / "scripts" / "example"


def newest_python() -> str:
    """The newest of Python 3.11-3.13 the project's scripts can find."""
    lib = EXAMPLES.parent / "scripts" / "lib.sh"
    for version in ("3.13", "3.12", "3.11"):
        found = subprocess.run(
            ["bash", "-c", f'source "{lib}" && find_python {version}'],
            capture_output=True, text=True,
        )  # fmt: skip
        if found.returncode == 0:
            return version
    raise AssertionError("no Python 3.11+ found")


def test_scripts_example_serves_the_catalogue(database, tmp_path):
    port = free_port()
    log = tmp_path / "example.log"
    env = {**os.environ, "DATABASE_URL": database.url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(SCRIPT), "--port", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a first run may install things
        while True:
            assert process.poll() is None, log.read_text()
            try:
                health = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert health.json() == {"ok": True, "database": database.vendor}
        books = httpx.get(f"{url}/api/books/", timeout=30).json()["books"]
        assert any(book["title"] == "Moby-Dick" for book in books)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    output = log.read_text()
    assert f"Serving the example library on {url}" in output
    # What a browser can open, then what needs POST.
    browser, post = output.split("Open in a browser (GET):")[1].split("Need POST")
    assert f"{url}/api/stats/" in browser and "borrow" not in browser
    assert f"curl -X POST {url}/api/books/1/borrow/" in post
    assert f"curl -X POST {url}/api/loans/1/return/" in post
    # The newest Python the machine has, with the newest Django for it.
    python = newest_python()
    used = re.search(r"Python (3\.\d+)\.\d+ \+ Django (\d+)\.", output)
    assert used, output
    assert used.group(1) == python
    assert int(used.group(2)) >= (6 if python != "3.11" else 5)
    assert "Application shutdown complete." in output
    assert process.returncode == 0
