"""Django's own test suite for the installed Django, from its sdist on PyPI.

The source distribution is the one artefact that ships ``tests/`` for exactly
the release installed, with no git clone. It is downloaded once from a PEP 503
simple index (``DAB_TD_INDEX``, default PyPI), checked against the sha256 the
index publishes, and its ``tests/`` directory extracted under
``tests_django/.cache/``.
"""

from __future__ import annotations

import hashlib
import html.parser
import re
import shutil
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["CACHE", "async_modules", "fetch_tests"]

CACHE = Path(__file__).resolve().parent / ".cache"
DEFAULT_INDEX = "https://pypi.org/simple/"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _sdist_url(version: str, index: str) -> tuple[str, str | None]:
    page_url = urllib.parse.urljoin(
        index if index.endswith("/") else index + "/", "django/"
    )
    with urllib.request.urlopen(page_url, timeout=60) as response:
        page = response.read().decode("utf-8")
    parser = _Links()
    parser.feed(page)
    wanted = f"django-{version}.tar.gz".lower()
    for href in parser.hrefs:
        url = urllib.parse.urljoin(page_url, href)
        path, _, fragment = url.partition("#")
        if path.rsplit("/", 1)[-1].lower() == wanted:
            match = re.search(r"sha256=([0-9a-f]{64})", fragment)
            return path, match.group(1) if match else None
    raise RuntimeError(f"{page_url} lists no {wanted}")


def _download(version: str, index: str) -> Path:
    archive = CACHE / f"django-{version}.tar.gz"
    if archive.exists():
        return archive
    url, sha256 = _sdist_url(version, index)
    print(f"Downloading {url}", flush=True)
    partial = archive.with_suffix(".part")
    CACHE.mkdir(parents=True, exist_ok=True)
    with (
        urllib.request.urlopen(url, timeout=300) as response,
        partial.open("wb") as out,
    ):
        shutil.copyfileobj(response, out)
    if sha256 is not None:
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        if digest != sha256:
            partial.unlink()
            raise RuntimeError(f"{url}: sha256 {digest}, the index says {sha256}")
    partial.rename(archive)
    return archive


def fetch_tests(version: str, index: str = DEFAULT_INDEX) -> Path:
    """The ``tests/`` directory of Django ``version``'s sdist (cached)."""
    target = CACHE / f"django-{version}"
    tests = target / "tests"
    if (tests / "runtests.py").exists():
        return tests
    archive = _download(version, index)
    prefix = f"django-{version}/tests/"
    staging = CACHE / f"django-{version}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        tar.extractall(staging, members=members, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    (staging / f"django-{version}").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return tests


# An a-method awaited (``await Book.objects.aget(``, ``await obj.asave(``),
# ``async for`` or an async test: the modules whose tests reach Django's async ORM.
_ASYNC_USE = re.compile(r"await\s[^\n]*?\.a[a-z_]+\(|async\s+def\s+test|async\s+for\s")


def async_modules(tests: Path) -> list[str]:
    """Top-level test modules whose tests call a-methods or are async."""
    found = set()
    for path in tests.rglob("*.py"):
        relative = path.relative_to(tests)
        if len(relative.parts) < 2:
            continue  # runtests.py, urls.py, ...: not a test module
        if _ASYNC_USE.search(path.read_text(encoding="utf-8", errors="replace")):
            found.add(relative.parts[0])
    return sorted(found)
