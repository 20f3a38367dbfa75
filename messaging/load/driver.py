"""A bounded async HTTP client that sends a request mix and times every answer (ADR 0038).

Two ways to drive a server, each sized in requests and seconds and stopping at whichever comes first:

- ``closed_loop``: ``clients`` connections, each sending its next request when the last one is
  answered. It finds the throughput; its latencies are what those clients waited.
- ``open_loop``: requests sent at a fixed arrival rate whatever the server does, at most
  ``concurrency`` in flight. Latency runs from each request's *scheduled* send time, so a stalled
  server is charged for the requests that queued behind it (no coordinated omission).

Nothing here imports Django: the requests come from a ``make_call(n)`` function.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from messaging.load.wire import WireError, WirePool

TIMEOUT = 30.0  # seconds for one answer: far beyond any target, short enough to end a stuck run


@dataclass(frozen=True)
class Call:
    endpoint: str  # the report's row
    method: str
    path: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    marker: tuple[str, str] | None = None  # (kind, unique id) of a write, counted in the store afterwards
    ok: tuple[int, ...] = (200,)


@dataclass
class Outcome:
    call: Call
    scheduled: float  # time.monotonic(): when it was due (open loop) or sent (closed loop)
    finished: float
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status not in self.call.ok

    @property
    def latency(self) -> float:
        return self.finished - self.scheduled


@dataclass
class Phase:
    name: str
    outcomes: list[Outcome]
    seconds: float  # from the first send to the last answer
    mode: str  # "N clients" or "R requests/s"


@contextlib.asynccontextmanager
async def http_client(base_url: str, connections: int):
    address = urlsplit(base_url)
    pool = WirePool(address.hostname, address.port, connections, TIMEOUT)
    try:
        yield pool
    finally:
        pool.close()


async def _send(client: WirePool, call: Call, scheduled: float) -> Outcome:
    try:
        status, body = await client.request(call.method, call.path, call.headers, call.body)
        error = "" if status in call.ok else body[:300].decode("utf-8", "replace")
    except WireError as exc:
        status, error = 0, str(exc)[:300]
    return Outcome(call=call, scheduled=scheduled, finished=time.monotonic(), status=status, error=error)


async def closed_loop(
    base_url: str, make_call: Callable[[int], Call], *, clients: int, seconds: float, requests: int, name: str
) -> Phase:
    outcomes: list[Outcome] = []
    issued = 0
    async with http_client(base_url, clients) as client:
        started = time.monotonic()
        deadline = started + seconds

        async def one_client():
            nonlocal issued
            while issued < requests and time.monotonic() < deadline:
                n, issued = issued, issued + 1
                call = make_call(n)
                outcomes.append(await _send(client, call, time.monotonic()))

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return Phase(name, outcomes, time.monotonic() - started, f"{clients} clients")


async def open_loop(
    base_url: str,
    make_call: Callable[[int], Call],
    *,
    rate: float,
    seconds: float,
    requests: int,
    concurrency: int,
    name: str,
) -> Phase:
    outcomes: list[Outcome] = []
    total = min(requests, int(rate * seconds))
    slots = asyncio.Semaphore(concurrency)
    async with http_client(base_url, concurrency) as client:
        started = time.monotonic()

        async def one(call: Call, due: float):
            async with slots:  # waiting for a slot counts: the latency runs from `due`
                outcomes.append(await _send(client, call, due))

        tasks = []
        for n in range(total):
            due = started + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(make_call(n), due)))
        await asyncio.gather(*tasks)
    return Phase(name, outcomes, time.monotonic() - started, f"{rate:g} requests/s")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Row:
    endpoint: str
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float


def rows(phase: Phase) -> list[Row]:
    """One row per endpoint, in the order they first appear, then the phase's total."""
    by_endpoint: dict[str, list[Outcome]] = {}
    for outcome in phase.outcomes:
        by_endpoint.setdefault(outcome.call.endpoint, []).append(outcome)
    groups = sorted(by_endpoint.items())
    if len(groups) > 1:
        groups.append(("all", phase.outcomes))
    out = []
    for endpoint, outcomes in groups:
        latencies = sorted(o.latency for o in outcomes)
        out.append(
            Row(
                endpoint=endpoint,
                requests=len(outcomes),
                errors=sum(o.failed for o in outcomes),
                per_second=len(outcomes) / phase.seconds if phase.seconds else 0.0,
                p50_ms=percentile(latencies, 0.50) * 1000,
                p99_ms=percentile(latencies, 0.99) * 1000,
            )
        )
    return out


def table(phase: Phase) -> list[str]:
    """The phase as a markdown table, ready for docs/benchmarks.md."""
    lines = [
        f"**{phase.name}** ({phase.mode}, {phase.seconds:.0f} s)",
        "",
        "| endpoint | requests | errors | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows(phase):
        name = f"**{row.endpoint}**" if row.endpoint == "all" else row.endpoint
        figures = f"{row.per_second:,.1f} | {row.p50_ms:.1f} | {row.p99_ms:.1f}"
        lines.append(f"| {name} | {row.requests:,} | {row.errors} | {figures} |")
    return lines
