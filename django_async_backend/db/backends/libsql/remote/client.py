"""The Hrana client: streams, transactions, pings and retries, in two twins.

:class:`AsyncClient` (for async connections, on :class:`~.http.AsyncHTTPConnection`)
and :class:`Client` (for sync code, on :class:`~.http.HTTPConnection`) have
the same methods in the same order; everything that is not I/O is in
:class:`ClientCore`, which both inherit.

How streams are used (a Hrana stream is one SQLite connection on the
server; its baton is single-use):

* **Autocommit**: no stream is held. A statement is one pipeline
  ``[execute, close]`` on a fresh stream.
* **Transactions**: ``BEGIN`` (Django's atomic sends ``BEGIN IMMEDIATE``,
  the SQLite ENGINE's ``transaction_mode``) or a ``SAVEPOINT`` outside one
  opens a stream that is held until the transaction ends. Each request on it
  also asks ``get_autocommit``, so the client knows when the server's
  transaction is over, whatever ended it. ``COMMIT``/``ROLLBACK`` close it.
* **One request at a time per stream**: every request takes the client's
  lock, so a keep-alive ping never overlaps a statement.
* **Pings**: while a transaction is idle, an empty pipeline every
  ``PING_INTERVAL`` seconds keeps the stream from expiring (10 s).
* **Session state**: ``PRAGMA foreign_keys = OFF`` (Django's schema editor)
  outside a transaction is remembered and replayed at the start of each new
  stream, since each stream is a new server connection.

Failures: a lost HTTP connection, a server restart, HTTP 5xx or
``STREAM_EXPIRED`` are retried (reconnecting, with back-off, for up to
``OPTIONS["timeout"]`` seconds) when no transaction is open and the request
cannot have run, or the statement only reads. Inside a transaction (and for
a write that may have run) they raise ``OperationalError``; a lost
transaction then refuses every statement until ``rollback()``, so nothing
after the loss can run outside the transaction the caller believes open.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from ..settings import LibSQLSettings
from . import protocol
from .http import AsyncHTTPConnection, ConnectionLost, HTTPConnection, Response
from .protocol import Result, StatementKind

__all__ = ["PING_INTERVAL", "AsyncClient", "Client", "ClientCore"]

PING_INTERVAL = 3.0
"""Seconds of idleness after which a held stream is pinged (expiry: 10 s)."""

_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "VALUES")


@dataclasses.dataclass
class Plan:
    """One pipeline to send and how to read its results."""

    requests: list[dict[str, Any]]
    index: int  # the statement's result
    kind: int
    pragma: Any
    opens: bool  # a new stream that is kept
    on_stream: bool  # sent on the held stream
    read_only: bool
    batch_atomic: bool | None = None  # a batch (and whether BEGIN/COMMIT-wrapped)


class ClientCore:
    """State and pipeline logic shared by the async and sync clients."""

    def __init__(self, settings: LibSQLSettings) -> None:
        self.settings = settings
        self.where = settings.describe()
        self.baton: str | None = None
        self.holding = False  # a stream with an open transaction is held
        self.lost: str | None = None  # why the open transaction was lost
        self.version = 3
        self.foreign_keys = True
        self.closed = False
        self.requests_in_flight = 0
        self.pending_close: str | None = None  # a stream to close, its work done
        self.last_used = time.monotonic()

    # -- state -------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self.holding or self.lost is not None

    @property
    def busy(self) -> bool:
        return self.requests_in_flight > 0

    def _path(self) -> str:
        return f"/v{self.version}/pipeline"

    def _body(self, plan: Plan) -> bytes:
        baton = self.baton if plan.on_stream else None
        return json.dumps({"baton": baton, "requests": plan.requests}).encode()

    def _check_usable(self, kind: int) -> bool:
        """False if the statement is a ROLLBACK that only clears a loss."""
        if self.closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        if self.lost is not None:
            if kind == StatementKind.END:
                self.lost = None
                return False
            raise sqlite3.OperationalError(self.lost)
        return True

    # -- planning ------------------------------------------------------------

    def _prelude(self) -> list[dict[str, Any]]:
        if self.foreign_keys:
            return []
        return [protocol.execute_request("PRAGMA foreign_keys = OFF", None)]

    def _tail(self, keep: bool) -> list[dict[str, Any]]:
        if not keep:
            return [{"type": "close"}]
        return [{"type": "get_autocommit"}] if self.version >= 3 else []

    def plan_execute(self, sql: str, params: Any, begin: str | None) -> Plan:
        kind, pragma = protocol.statement_kind(sql)
        head = sql.lstrip()[:8].upper()
        read_only = head.startswith(_READ_ONLY) and kind != StatementKind.PRAGMA_FK
        statement = protocol.execute_request(sql, params)
        if self.holding:
            keep = kind != StatementKind.END
            return Plan(
                [statement, *self._tail(keep)], 0, kind, pragma, False, True, read_only
            )
        opens = kind in (StatementKind.BEGIN, StatementKind.SAVEPOINT) or (
            begin is not None and kind != StatementKind.END
        )
        requests = self._prelude()
        if begin is not None and opens and kind == StatementKind.OTHER:
            requests.append(protocol.execute_request(begin, None))
        index = len(requests)
        requests += [statement, *self._tail(opens)]
        return Plan(requests, index, kind, pragma, opens, False, read_only)

    def plan_batch(
        self, sql: str, seq_of_params: Sequence[Any], begin: str | None
    ) -> Plan:
        if self.holding or begin is not None:
            # In a transaction (or one starting): plain chained steps.
            batch = protocol.batch_request(sql, seq_of_params, atomic=False)
            if self.holding:
                return Plan(
                    [batch, *self._tail(True)],
                    0,
                    StatementKind.OTHER,
                    None,
                    False,
                    True,
                    False,
                    batch_atomic=False,
                )
            requests = [*self._prelude(), protocol.execute_request(begin, None)]  # type: ignore[arg-type]
            index = len(requests)
            return Plan(
                [*requests, batch, *self._tail(True)],
                index,
                StatementKind.OTHER,
                None,
                True,
                False,
                False,
                batch_atomic=False,
            )
        batch = protocol.batch_request(sql, seq_of_params, atomic=True)
        requests = self._prelude()
        index = len(requests)
        return Plan(
            [*requests, batch, *self._tail(False)],
            index,
            StatementKind.OTHER,
            None,
            False,
            False,
            False,
            batch_atomic=True,
        )

    # -- results ---------------------------------------------------------------

    def _lose(self, why: str) -> sqlite3.OperationalError:
        self.holding = False
        self.baton = None
        self.lost = (
            f"The transaction on the libSQL server at {self.where} was lost "
            f"({why}); the server rolled it back. Roll back (leave the atomic "
            f"block) and retry the transaction."
        )
        return sqlite3.OperationalError(self.lost)

    def v2_fallback(self, plan: Plan, response: Response) -> bool:
        """Whether a 404 says the server has no ``/v3`` (then use ``/v2``)."""
        if response.status != 404 or self.version != 3 or plan.on_stream:
            return False
        if b"amespace" in response.body:
            return False  # sqld: "Namespace `x` doesn't exist"
        self.version = 2
        return True

    def transient(self, plan: Plan, response: Response) -> bool:
        """Whether an autocommit request may be retried after ``response``:
        a gateway error, or sqld starting up (its namespaces load after
        ``/health`` answers, and meanwhile it says they don't exist)."""
        if plan.on_stream:
            return False
        if response.status in (502, 503, 504):
            return True
        return response.status == 404 and b"amespace" in response.body

    @staticmethod
    def describe(response: Response) -> str:
        body = response.body.decode("utf-8", "replace")[:200]
        return f"HTTP {response.status}: {body}"

    def http_error(self, plan: Plan, response: Response) -> sqlite3.Error:
        """The exception for a non-200 response (the stream is gone)."""
        if response.status in (401, 403):
            exc: sqlite3.Error = protocol.auth_error(response.status, self.where)
            if plan.on_stream:
                self._lose(f"HTTP {response.status}")
            return exc
        message = response.body.decode("utf-8", "replace")[:500]
        code = ""
        try:
            data = json.loads(message)
            code = str(data.get("code") or "")
            message = str(data.get("message") or data.get("error") or message)
        except (ValueError, AttributeError):
            pass
        if plan.on_stream:
            return self._lose(f"HTTP {response.status}: {code or message}")
        if response.status == 400 and code:
            return protocol.error_for(
                {"code": code, "message": message}, where=self.where
            )
        return sqlite3.OperationalError(
            f"the libSQL server at {self.where} answered HTTP "
            f"{response.status}: {message}"
        )

    def finish(self, plan: Plan, response: Response) -> Result:
        """Read a 200 response: update the stream state, return or raise."""
        data = json.loads(response.body)
        results = data.get("results") or []
        if plan.on_stream or plan.opens:
            self.baton = data.get("baton")
        self.last_used = time.monotonic()
        error: sqlite3.Error | None = None
        result: Result | None = None
        for i, item in enumerate(results[: plan.index + 1]):
            if item.get("type") == "error":
                error = protocol.error_for(item.get("error") or {}, where=self.where)
                if i < plan.index:
                    break
            elif i == plan.index:
                response_body = item["response"]
                if plan.batch_atomic is not None:
                    try:
                        result = protocol.batch_outcome(
                            response_body, atomic=plan.batch_atomic, where=self.where
                        )
                    except sqlite3.Error as exc:
                        error = exc
                else:
                    result = Result.from_response(response_body["result"])
        code = getattr(error, "sqlite_errorname", "")
        # Where the transaction stands now.
        if plan.on_stream or plan.opens:
            autocommit: bool | None = None
            tail = results[plan.index + 1 :] if len(results) > plan.index + 1 else []
            for item in tail:
                if (
                    item.get("type") == "ok"
                    and item["response"].get("type") == "get_autocommit"
                ):
                    autocommit = bool(item["response"]["is_autocommit"])
            if plan.kind == StatementKind.END and plan.on_stream:
                self.holding, self.baton = False, None
            elif code in ("TRANSACTION_TIMEOUT", "STREAM_EXPIRED") and plan.on_stream:
                raise self._lose(code) from error
            elif autocommit is not None:
                self.holding = not autocommit
            elif self.version < 3:
                self.holding = error is None or plan.on_stream
            if not self.holding and self.baton is not None:
                if plan.kind == StatementKind.RELEASE or not plan.on_stream:
                    # RELEASE of the outermost savepoint committed, or a BEGIN
                    # failed: the stream's work is over, close it.
                    self.pending_close = self.baton
                    self.baton = None
                else:
                    # The server's transaction ended by itself (an error that
                    # rolls back): not what the caller believes.
                    raise self._lose("the server ended it") from error
        if error is not None:
            raise error
        assert result is not None
        if plan.kind == StatementKind.PRAGMA_FK and not self.in_transaction:
            self.foreign_keys = bool(plan.pragma)
        return result

    def retry_delay(
        self, plan: Plan, exc: Exception, deadline: float, attempt: int
    ) -> float:
        """Seconds to wait before retrying ``plan``, or raise if it can't be."""
        if plan.on_stream:
            raise self._lose(f"the HTTP connection was lost: {exc}") from None
        maybe = isinstance(exc, ConnectionLost) and exc.maybe_processed
        if maybe and not plan.read_only:
            raise sqlite3.OperationalError(
                f"the HTTP connection to the libSQL server at {self.where} was lost "
                f"after the statement was sent; it may or may not have been "
                f"applied ({exc})."
            ) from None
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError(
                f"the libSQL server at {self.where} is unreachable ({exc}); gave up "
                f"after OPTIONS['timeout'] = {self.settings.timeout:g} s."
            ) from None
        return min(0.5, 0.02 * 2**attempt) * (0.5 + random.random() / 2)

    def transient_delay(
        self, plan: Plan, response: Response, deadline: float, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying after a transient ``response``
        (see :meth:`transient`), None if it isn't one; raises as
        :meth:`retry_delay` when no retry is left."""
        if not self.transient(plan, response):
            return None
        lost = ConnectionLost(self.describe(response), maybe_processed=False)
        return self.retry_delay(plan, lost, deadline, attempt)

    def should_ping(self) -> bool:
        return (
            self.holding
            and not self.closed
            and time.monotonic() - self.last_used >= PING_INTERVAL
        )

    def ping_body(self) -> bytes:
        return json.dumps({"baton": self.baton, "requests": []}).encode()

    def pinged(self, response: Response) -> None:
        if response.status != 200:
            self._lose(f"keep-alive ping answered HTTP {response.status}")
            return
        self.baton = json.loads(response.body).get("baton")
        self.last_used = time.monotonic()

    def pending_close_body(self) -> bytes | None:
        baton, self.pending_close = self.pending_close, None
        if baton is None:
            return None
        return json.dumps({"baton": baton, "requests": [{"type": "close"}]}).encode()

    def close_body(self) -> bytes | None:
        if not self.holding or self.baton is None:
            return None
        body = json.dumps(
            {"baton": self.baton, "requests": [{"type": "close"}]}
        ).encode()
        self.holding, self.baton = False, None
        return body


class AsyncClient(ClientCore):
    """Hrana over HTTP for async connections."""

    def __init__(self, settings: LibSQLSettings) -> None:
        super().__init__(settings)
        self.http = AsyncHTTPConnection(settings.url or "", settings.timeout + 5)
        self._lock = asyncio.Lock()
        self._pinger: asyncio.Task[None] | None = None

    async def execute(
        self, sql: str, params: Any = None, begin: str | None = None
    ) -> Result:
        async with self._lock:
            if not self._check_usable(protocol.statement_kind(sql)[0]):
                return Result(None, [], -1, None)
            try:
                return await self._run(lambda: self.plan_execute(sql, params, begin))
            finally:
                self._keep_alive()

    async def executemany(
        self, sql: str, seq: Sequence[Any], begin: str | None = None
    ) -> Result:
        async with self._lock:
            self._check_usable(StatementKind.OTHER)
            try:
                return await self._run(lambda: self.plan_batch(sql, seq, begin))
            finally:
                self._keep_alive()

    async def _run(self, make_plan: Any) -> Result:
        plan: Plan = make_plan()
        deadline = time.monotonic() + self.settings.timeout
        attempt = 0
        self.requests_in_flight += 1
        try:
            while True:
                try:
                    response = await self.http.post(
                        self._path(),
                        self.settings.host_header,
                        self._body(plan),
                        self.settings.auth_token,
                    )
                except ConnectionLost as exc:
                    await asyncio.sleep(self.retry_delay(plan, exc, deadline, attempt))
                    attempt += 1
                    continue
                if self.v2_fallback(plan, response):
                    plan = make_plan()
                    continue
                delay = self.transient_delay(plan, response, deadline, attempt)
                if delay is not None:
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
                if response.status != 200:
                    raise self.http_error(plan, response)
                try:
                    return self.finish(plan, response)
                finally:
                    if (body := self.pending_close_body()) is not None:
                        with contextlib.suppress(OSError):
                            await self.http.post(
                                self._path(),
                                self.settings.host_header,
                                body,
                                self.settings.auth_token,
                            )
        finally:
            self.requests_in_flight -= 1

    async def commit(self) -> None:
        if self.lost is not None:
            raise sqlite3.OperationalError(self.lost)
        if self.holding:
            await self.execute("COMMIT")

    async def rollback(self) -> None:
        if self.lost is not None:
            self.lost = None
        elif self.holding:
            await self.execute("ROLLBACK")

    def _keep_alive(self) -> None:
        if self.holding and self._pinger is None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping_loop())

    async def _ping_loop(self) -> None:
        try:
            while self.holding and not self.closed:
                await asyncio.sleep(PING_INTERVAL / 2)
                if not self.should_ping() or self._lock.locked():
                    continue
                async with self._lock:
                    if not self.should_ping():
                        continue
                    try:
                        response = await self.http.post(
                            self._path(),
                            self.settings.host_header,
                            self.ping_body(),
                            self.settings.auth_token,
                        )
                    except ConnectionLost as exc:
                        self._lose(f"keep-alive ping failed: {exc}")
                        return
                    self.pinged(response)
        finally:
            self._pinger = None

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        pinger, self._pinger = self._pinger, None
        if pinger is not None:
            pinger.cancel()
        body = self.close_body()
        try:
            if body is not None and not self._lock.locked():
                try:
                    await self.http.post(
                        self._path(),
                        self.settings.host_header,
                        body,
                        self.settings.auth_token,
                    )
                except (ConnectionLost, OSError):
                    pass
        finally:
            await self.http.aclose()


class Client(ClientCore):
    """Hrana over HTTP for sync code (the twin of :class:`AsyncClient`)."""

    def __init__(self, settings: LibSQLSettings) -> None:
        super().__init__(settings)
        self.http = HTTPConnection(settings.url or "", settings.timeout + 5)
        self._lock = threading.RLock()

    def execute(self, sql: str, params: Any = None, begin: str | None = None) -> Result:
        with self._lock:
            if not self._check_usable(protocol.statement_kind(sql)[0]):
                return Result(None, [], -1, None)
            try:
                return self._run(lambda: self.plan_execute(sql, params, begin))
            finally:
                self._keep_alive()

    def executemany(
        self, sql: str, seq: Sequence[Any], begin: str | None = None
    ) -> Result:
        with self._lock:
            self._check_usable(StatementKind.OTHER)
            try:
                return self._run(lambda: self.plan_batch(sql, seq, begin))
            finally:
                self._keep_alive()

    def _run(self, make_plan: Any) -> Result:
        plan: Plan = make_plan()
        deadline = time.monotonic() + self.settings.timeout
        attempt = 0
        self.requests_in_flight += 1
        try:
            while True:
                try:
                    response = self.http.post(
                        self._path(),
                        self.settings.host_header,
                        self._body(plan),
                        self.settings.auth_token,
                    )
                except ConnectionLost as exc:
                    time.sleep(self.retry_delay(plan, exc, deadline, attempt))
                    attempt += 1
                    continue
                if self.v2_fallback(plan, response):
                    plan = make_plan()
                    continue
                delay = self.transient_delay(plan, response, deadline, attempt)
                if delay is not None:
                    time.sleep(delay)
                    attempt += 1
                    continue
                if response.status != 200:
                    raise self.http_error(plan, response)
                try:
                    return self.finish(plan, response)
                finally:
                    if (body := self.pending_close_body()) is not None:
                        with contextlib.suppress(OSError):
                            self.http.post(
                                self._path(),
                                self.settings.host_header,
                                body,
                                self.settings.auth_token,
                            )
        finally:
            self.requests_in_flight -= 1

    def commit(self) -> None:
        if self.lost is not None:
            raise sqlite3.OperationalError(self.lost)
        if self.holding:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.lost is not None:
            self.lost = None
        elif self.holding:
            self.execute("ROLLBACK")

    def _keep_alive(self) -> None:
        # Sync code has no event loop: one daemon thread for the process
        # pings every sync client holding a stream, taking the same lock as
        # statements (one request at a time on a stream).
        if self.holding:
            _sync_pinger.watch(self)

    def ping_if_idle(self) -> None:
        """Ping the held stream if it has idled (the pinger thread)."""
        if not self.should_ping() or not self._lock.acquire(blocking=False):
            return
        try:
            if not self.should_ping():
                return
            try:
                response = self.http.post(
                    self._path(),
                    self.settings.host_header,
                    self.ping_body(),
                    self.settings.auth_token,
                )
            except ConnectionLost as exc:
                self._lose(f"keep-alive ping failed: {exc}")
                return
            self.pinged(response)
        finally:
            self._lock.release()

    def close(self) -> None:
        if self.closed:
            return
        with self._lock:
            self.closed = True
            body = self.close_body()
            try:
                if body is not None:
                    try:
                        self.http.post(
                            self._path(),
                            self.settings.host_header,
                            body,
                            self.settings.auth_token,
                        )
                    except (ConnectionLost, OSError):
                        pass
            finally:
                self.http.close()


PINGER_THREAD_NAME = "django_async_backend.libsql:keepalive"


class _SyncPinger:
    """The one thread that keeps sync clients' idle transactions alive."""

    def __init__(self) -> None:
        self._clients: weakref.WeakSet[Client] = weakref.WeakSet()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, client: Client) -> None:
        with self._guard:
            self._clients.add(client)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=PINGER_THREAD_NAME, daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(PING_INTERVAL / 3)
            with self._guard:
                clients = list(self._clients)
            for client in clients:
                if not client.holding or client.closed:
                    self._clients.discard(client)
                    continue
                try:
                    client.ping_if_idle()
                except Exception:  # never let one client stop the others' pings
                    pass


_sync_pinger = _SyncPinger()
