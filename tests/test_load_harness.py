"""The load harness, as CI runs it: a short smoke run of ``manage.py loadtest``'s phases (ADR 0038).

gunicorn (DEBUG off) serves the test database; the harness prepares its firm there (committed, once
per database), drives every endpoint of the mix over real HTTP, then counts each accepted write in
the store and verifies the audit chain. The capacity targets (the ceiling's share, p99 at 200/s)
are the full run's, on a quiet machine (README, "Operating it"); here every correctness one must hold.
The driver's own promises are checked against a stub server: an open loop charges a stall to the
requests queued behind it.
"""

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from messaging import bench, signatures
from messaging.load.driver import Call, Outcome, closed_loop, open_loop, percentile, rows
from messaging.load.harness import Sizes, run
from messaging.load.traffic import CEILING, MIX, THREE_SIXTY, Mix, Plan, ledger, prepare
from traf3li.core.db import database_url
from traf3li.core.processes import child_env

ROOT = Path(__file__).resolve().parent.parent
SMOKE = Sizes(clients=8, seconds=12, ceiling_seconds=4, rate=40, rate_seconds=6, warmup_requests=60)


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    assert connection.settings_dict["NAME"].startswith("test_"), "the harness commits: test database only"
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()


def server_env() -> dict:
    return child_env(
        DEBUG="false",
        DATABASE_URL=database_url(),  # the owner's: the command sets the firm up, its gunicorn runs as the app
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        LOG_LEVEL="WARNING",
    )


@pytest.mark.slow
def test_a_smoke_run_answers_every_endpoint_stores_each_write_once_and_the_chain_verifies(committed):
    plan = prepare(firm="loadsmoke", clients=30, entries_per_client=8)
    log = ROOT / ".artifacts" / "loadtest" / "smoke-gunicorn.log"
    result = run(plan, env=server_env(), sizes=SMOKE, workers=2, log=log)
    report = result.report()
    # every phase ran, and the mix reached every endpoint with no error at all
    assert [p.name for p in result.phases] == ["warm-up", CEILING, THREE_SIXTY, "mix, 8 clients", "mix, fixed rate"]
    assert result.errors == 0, report
    mixed = {row.endpoint: row for row in rows(result.phase("mix, 8 clients"))}
    assert set(MIX) | {"all"} == set(mixed), report
    assert all(row.requests > 0 and row.p99_ms >= row.p50_ms > 0 for row in mixed.values())
    # the open loop sent at its fixed rate: rate × seconds requests, over about that long
    fixed = result.phase("mix, fixed rate")
    assert len(fixed.outcomes) == SMOKE.rate * SMOKE.rate_seconds
    assert SMOKE.rate_seconds - 1 / SMOKE.rate <= fixed.seconds < SMOKE.rate_seconds + 5
    # each accepted write of every kind is stored exactly once, and the audit chain verifies
    assert set(result.ledger.accepted) == {"entry", "activity", "delivery"}, report
    assert result.ledger.sound, report
    assert result.audit.get("ok") is True, result.audit
    # and the report is ready to paste: one markdown table per phase and the targets
    assert report.count("| endpoint | requests | errors | requests/s | p50 ms | p99 ms |") == 4
    assert "| 0 errors | 0 errors | yes |" in report


class StubServer:
    """A loopback HTTP/1.1 server answering 200 ``{}``; request number ``stall_at`` waits ``stall`` seconds."""

    def __init__(self, stall_at: int = -1, stall: float = 0.0):
        self.stall_at, self.stall, self.seen = stall_at, stall, 0

    async def handle(self, reader, writer):
        while await reader.readuntil(b"\r\n\r\n"):
            n, self.seen = self.seen, self.seen + 1
            if n == self.stall_at:
                await asyncio.sleep(self.stall)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
            await writer.drain()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._safe, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _safe(self, reader, writer):
        try:
            await self.handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aexit__(self, *exc):
        self.server.close()


def ping(n: int) -> Call:
    return Call("ping", "GET", f"/ping/{n}")


def test_an_open_loop_charges_a_stall_to_every_request_queued_behind_it():
    async def go():
        async with StubServer(stall_at=10, stall=0.5) as base:
            return await open_loop(base, ping, rate=100, seconds=1, requests=1000, concurrency=1, name="open")

    phase = asyncio.run(go())
    latencies = sorted(o.latency for o in phase.outcomes)
    assert len(phase.outcomes) == 100 and not any(o.failed for o in phase.outcomes)
    # Requests 11 to ~60 were due while request 10 stalled: measured from their due time they
    # waited too. Measured from the actual send (the coordinated omission) only one would be slow.
    assert sum(latency > 0.2 for latency in latencies) > 20
    assert percentile(latencies, 0.99) >= 0.45


def test_a_closed_loop_stops_at_its_request_count_or_its_seconds_whichever_comes_first():
    async def go(**size):
        async with StubServer() as base:
            return await closed_loop(base, ping, clients=4, name="closed", **size)

    assert len(asyncio.run(go(seconds=30, requests=57)).outcomes) == 57
    started = time.monotonic()
    by_time = asyncio.run(go(seconds=0.5, requests=10**9))
    assert 0.5 <= time.monotonic() - started < 3 and len(by_time.outcomes) > 10


def test_an_unanswered_request_is_an_error_with_status_0():
    async def go():
        return await closed_loop("http://127.0.0.1:9", ping, clients=1, seconds=5, requests=1, name="refused")

    [outcome] = asyncio.run(go()).outcomes
    assert outcome.status == 0 and outcome.failed and "ConnectionRefusedError" in outcome.error


class WireServer(StubServer):
    """Answers each request with its path as the body, the way ``answer`` says:
    ``length`` (Content-Length, kept alive), ``chunked``, ``close`` (``Connection: close``), or
    ``drop`` (kept alive, but the server silently closes the connection after each answer, as a
    server does with an idle keep-alive connection)."""

    def __init__(self, answer: str):
        super().__init__()
        self.answer, self.connections, self.bodies = answer, 0, []

    async def handle(self, reader, writer):
        self.connections += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            length = next((int(v) for n, _, v in (x.partition(":") for x in lines) if n.lower() == "content-length"), 0)
            self.bodies.append(await reader.readexactly(length))
            path = lines[0].split()[1].encode()
            if self.answer == "chunked":
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (path[:3], path[3:]) if part)
                writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            else:
                close = b"Connection: close\r\n" if self.answer == "close" else b""
                writer.write(b"HTTP/1.1 201 Created\r\n%sContent-Length: %d\r\n\r\n%s" % (close, len(path), path))
            await writer.drain()
            if self.answer in ("close", "drop"):
                return


@pytest.mark.parametrize("answer", ["length", "chunked", "close", "drop"])
def test_the_wire_client_reads_every_kind_of_answer_and_resends_only_on_a_connection_closed_unanswered(answer):
    from messaging.load.wire import WirePool

    async def go():
        server = WireServer(answer)
        async with server as base:
            pool = WirePool("127.0.0.1", int(base.rsplit(":", 1)[1]), size=1, timeout=5)
            answers = [await pool.request("PUT", f"/hook/{n}", {"Host": "x"}, b"body-%d" % n) for n in range(5)]
            pool.close()
        return server, answers

    server, answers = asyncio.run(go())
    assert answers == [(201, f"/hook/{n}".encode()) for n in range(5)]
    # each request reached the server once, whatever the connection did afterwards
    assert server.bodies == [b"body-%d" % n for n in range(5)]
    assert server.connections == (1 if answer in ("length", "chunked") else 5)


def test_the_wire_client_never_sends_a_post_twice():
    from messaging.load.wire import WireError, WirePool

    async def go():
        server = WireServer("drop")
        async with server as base:
            pool = WirePool("127.0.0.1", int(base.rsplit(":", 1)[1]), size=1, timeout=5)
            first = await pool.request("POST", "/hook/0", {"Host": "x"}, b"body-0")
            with pytest.raises(WireError):  # its kept connection was dropped: not resent, an error
                await pool.request("POST", "/hook/1", {"Host": "x"}, b"body-1")
            third = await pool.request("POST", "/hook/2", {"Host": "x"}, b"body-2")
            pool.close()
        return server, first, third

    server, first, third = asyncio.run(go())
    assert (first, third) == ((201, b"/hook/0"), (201, b"/hook/2"))
    assert server.bodies == [b"body-0", b"body-2"]


def test_the_ledger_finds_a_lost_and_a_doubled_write_and_forgives_an_unanswered_one():
    def outcome(marker: str, status: int) -> Outcome:
        call = Call("entry write", "POST", "/", marker=("entry", marker), ok=(201,))
        return Outcome(call=call, scheduled=0, finished=0.01, status=status)

    outcomes = [outcome("a", 201), outcome("b", 201), outcome("c", 201), outcome("d", 500), outcome("e", 0)]
    counts = {"entry": Counter({"a": 1, "b": 2, "d": 1})}  # c is lost, b doubled, d stored though refused
    found = ledger(outcomes, counts)
    assert found.accepted == Counter(entry=3)
    assert found.lost == Counter(entry=1) and found.doubled == Counter(entry=1)
    assert found.unanswered_stored == Counter(entry=1)
    assert not found.sound
    assert ledger(outcomes[:1], {"entry": Counter({"a": 1})}).sound


def test_a_webhook_sent_late_in_a_long_run_is_signed_when_it_is_sent(monkeypatch):
    # Mailgun's timestamp must be within 5 minutes: the full run lasts longer than that.
    mix = Mix(Plan(firm="f", host="f.localhost", token="t", clients=[1], activity_type=1), 8000, "r1")
    later = time.time() + 3600
    monkeypatch.setattr(bench.time, "time", lambda: later)
    call = mix.delivery(2)  # even: Mailgun
    block = json.loads(call.body)["signature"]
    assert call.path == "/hooks/mailgun/"
    signed = block["timestamp"], block["token"], block["signature"]
    assert signatures.mailgun_valid(bench.MAILGUN_KEY, *signed, now=later)
