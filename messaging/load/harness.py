"""One load run: the phases, the checks afterwards, and the report (ADR 0038).

Phases, one after the other against the same server:

1. warm-up (not reported): every endpoint once per worker process, so imports and connections are made;
2. the ceiling: ``clients`` closed-loop clients on the trivial JSON view alone;
3. the 360° page alone, the same way: its throughput against the ceiling's;
4. the mix at ``clients`` closed-loop clients: throughput, p50, p99 and errors per endpoint;
5. the mix at a fixed arrival rate (open loop): p99 from each request's scheduled time.

Then every accepted write is counted in the store (exactly once) and the audit chain is verified
through the API.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.db import connection

from messaging.load.driver import Phase, closed_loop, open_loop, rows, table
from messaging.load.traffic import CEILING, THREE_SIXTY, Ledger, Mix, Plan, ledger, stored_counts
from traf3li.core.processes import gunicorn_serving

logging.getLogger("httpx").setLevel(logging.WARNING)  # its one verify call, without an INFO line
OPEN_LOOP_OFFSET = 100_000_000  # request numbers of the open loop: its writes' markers differ from the mix's


@dataclass
class Sizes:
    clients: int = 50
    seconds: float = 300  # the mixed phase
    requests: int = 10_000_000  # per phase, whichever comes first
    ceiling_seconds: float = 30  # the ceiling and the 360° page alone, each
    rate: float = 200  # the open loop's arrival rate
    rate_seconds: float = 60
    warmup_requests: int = 200


@dataclass
class Result:
    phases: list[Phase]
    ledger: Ledger | None = None
    audit: dict = field(default_factory=dict)

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)

    @property
    def outcomes(self):
        return [o for p in self.phases for o in p.outcomes]

    @property
    def errors(self) -> int:
        return sum(o.failed for p in self.phases if p.name != "warm-up" for o in p.outcomes)

    def throughput(self, phase: str) -> float:
        return rows(self.phase(phase))[-1].per_second

    def targets(self) -> list[tuple[str, str, bool]]:
        ceiling, page = self.throughput(CEILING), self.throughput(THREE_SIXTY)
        share = page / ceiling if ceiling else 0.0
        p99 = rows(self.phase("mix, fixed rate"))[-1].p99_ms
        out = [
            ("0 errors", f"{self.errors} errors", self.errors == 0),
            ("360° page ≥ 50 % of the ceiling", f"{page:,.0f} / {ceiling:,.0f} requests/s = {share:.0%}", share >= 0.5),
            ("p99 < 50 ms at the fixed rate", f"{p99:.1f} ms", p99 < 50),
        ]
        if self.ledger is not None:
            lost, doubled = sum(self.ledger.lost.values()), sum(self.ledger.doubled.values())
            accepted = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.ledger.accepted.items()))
            out.append(
                ("every accepted write stored once", f"{accepted}; lost {lost}, doubled {doubled}", self.ledger.sound)
            )
        if self.audit:
            out.append(("the audit chain verifies", f"{self.audit}", bool(self.audit.get("ok"))))
        return out

    def report(self) -> str:
        lines = []
        for phase in self.phases:
            if phase.name != "warm-up":
                lines += [*table(phase), ""]
        lines += ["| target | result | met |", "|---|---|---|"]
        lines += [f"| {name} | {result} | {'yes' if met else '**no**'} |" for name, result, met in self.targets()]
        errors = [o for o in self.outcomes if o.failed][:5]
        if errors:
            lines += ["", "First errors:"]
            lines += [f"- {o.call.endpoint} {o.call.method} {o.call.path}: {o.status} {o.error}" for o in errors]
        return "\n".join(lines)


def drive(base_url: str, mix: Mix, sizes: Sizes) -> list[Phase]:
    """Run the phases against ``base_url`` (``http://127.0.0.1:<port>``)."""

    async def phases():
        out = [
            await closed_loop(
                base_url, _round_robin(mix), clients=min(sizes.clients, 8), seconds=60,
                requests=sizes.warmup_requests, name="warm-up",
            ),
            await closed_loop(
                base_url, mix.only(CEILING), clients=sizes.clients, seconds=sizes.ceiling_seconds,
                requests=sizes.requests, name=CEILING,
            ),
            await closed_loop(
                base_url, mix.only(THREE_SIXTY), clients=sizes.clients, seconds=sizes.ceiling_seconds,
                requests=sizes.requests, name=THREE_SIXTY,
            ),
            await closed_loop(
                base_url, mix, clients=sizes.clients, seconds=sizes.seconds, requests=sizes.requests,
                name=f"mix, {sizes.clients} clients",
            ),
            await open_loop(
                base_url, lambda n: mix(OPEN_LOOP_OFFSET + n), rate=sizes.rate, seconds=sizes.rate_seconds,
                requests=sizes.requests, concurrency=sizes.clients, name="mix, fixed rate",
            ),
        ]  # fmt: skip
        return out

    return asyncio.run(phases())


def _round_robin(mix: Mix):
    """Each endpoint in turn (writes included: their markers are the warm-up's own numbers)."""
    names = list(mix.builders)
    return lambda n: mix.builders[names[n % len(names)]](OPEN_LOOP_OFFSET * 2 + n)


def audit_verify(base_url: str, mix: Mix) -> dict:
    """The firm's audit chain, verified through the API (from the last sound verify on)."""
    answer = httpx.get(f"{base_url}/api/v1/audit/verify/", headers=mix.api, timeout=600)
    return answer.json() if answer.status_code == 200 else {"ok": False, "status": answer.status_code}


def run(plan: Plan, *, env: dict, sizes: Sizes, workers: int, log: Path) -> Result:
    """Serve the product with gunicorn, drive it, then count the writes and verify the audit chain."""
    run_id = f"{int(time.time() * 1000):x}"
    with gunicorn_serving(env=env, log=log, workers=workers, app="messaging.load.wsgi") as port:
        base = f"http://127.0.0.1:{port}"
        mix = Mix(plan, port, run_id)
        result = Result(drive(base, mix, sizes))
        result.audit = audit_verify(base, mix)
    with connection.cursor() as cursor:
        result.ledger = ledger(result.outcomes, stored_counts(cursor, plan.firm, run_id))
    return result
