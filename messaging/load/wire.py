"""HTTP/1.1 over asyncio streams: the load driver's client, and the webhook benchmark's.

The driver runs on the same cores as the server it measures, so each millisecond of Python it
spends per request is taken from the server. httpx's async client spent 4.4 ms of the driver's CPU
per request of the trivial view on this 2-core machine, this 0.7 ms (docs/benchmarks.md, "The
driver"): with httpx, the "ceiling" measured mostly the driver. gunicorn's sync workers close every
connection, so each request also paid for a new httpx connection. This writes the request's bytes
and reads the answer by its ``Content-Length`` (or its chunks), on loopback, and nothing else.
"""

import asyncio

NO_BODY = (204, 304)
IDEMPOTENT = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")


class WireError(Exception):
    """No complete HTTP answer: refused, reset, closed early or timed out."""


def request_bytes(method: str, path: str, host: str, headers: dict, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {headers.get('Host', host)}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length")]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One answer: its status, its body, and whether the server closes the connection after it."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length, chunked, close = None, False, head[0].startswith("HTTP/1.0")
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            close = "close" in value.lower()
    if chunked:
        body = bytearray()
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        while await reader.readline() not in (b"\r\n", b""):  # trailers, then the blank line
            pass
        return status, bytes(body), close
    if length is not None:
        return status, await reader.readexactly(length), close
    if status in NO_BODY or 100 <= status < 200:
        return status, b"", close
    return status, await reader.read(), True  # delimited by the end of the connection


class WirePool:
    """At most ``size`` connections to ``host:port``, kept open while the server allows."""

    def __init__(self, host: str, port: int, size: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)

    async def request(self, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
        data = request_bytes(method, path, f"{self.host}:{self.port}", headers, body)
        async with self._slots:
            # A kept connection the server has closed meanwhile fails before any answer. An
            # idempotent request is then sent once more on a fresh connection; a POST is not (RFC
            # 9110, 9.2.2): the server may have acted on it, and a resend would count it twice.
            for reused in (True, False):
                fresh = not (reused and self._idle)
                try:
                    async with asyncio.timeout(self.timeout):
                        reader, writer = (
                            await asyncio.open_connection(self.host, self.port) if fresh else self._idle.pop()
                        )
                        try:
                            writer.write(data)
                            status, answer, close = await read_response(reader)
                        except BaseException:
                            writer.close()
                            raise
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    if fresh or method not in IDEMPOTENT:
                        raise WireError(f"{type(exc).__name__}: {exc}") from exc
                    continue
                except (TimeoutError, OSError, ValueError, IndexError) as exc:
                    raise WireError(f"{type(exc).__name__}: {exc}") from exc
                if close:
                    writer.close()
                else:
                    self._idle.append((reader, writer))
                return status, answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
