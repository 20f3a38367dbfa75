"""Meta's Graph API and Twilio's REST API, faked at their HTTP boundary on loopback.

The answers have the shapes the providers document: Graph's send-message response
(``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}``) and
error object (``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``), and
Twilio's Message resource (``{"sid": "SM...", "status": "queued", ...}``, 201) and error body
(``{"code", "message", "more_info", "status"}``). Twilio's basic auth is checked, as Twilio does.

A test scripts the next answers (``answer``); unscripted requests succeed. A scripted answer may
``hang`` on an event until the test releases it, to hold a sender mid-request.
"""

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

GRAPH_PATH = re.compile(r"^/v\d+\.\d+/(?P<phone_number_id>[^/]+)/messages$")
TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9A-Za-z]+)/Messages\.json$")


@dataclass
class Answer:
    status: int
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    hang: threading.Event | None = None  # wait for it before answering
    drop: bool = False  # close the connection without answering (the request did arrive)


@dataclass
class Seen:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def form(self) -> dict:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


class FakeProviders:
    def __init__(self, twilio_credentials: tuple[str, str] = ("ACtest", "token")):
        self.seen: list[Seen] = []
        self.accepted: list[str] = []  # the ids handed out: what the provider really sent
        self.script: list[Answer] = []
        self.arrived = threading.Event()  # set as each request arrives
        self.twilio_credentials = twilio_credentials
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    owner.seen.append(Seen(self.path, dict(self.headers), body))
                    answer = owner.script.pop(0) if owner.script else None
                owner.arrived.set()
                if answer is None:
                    answer = owner._success(self.path, self.headers, body)
                if answer.hang is not None:
                    answer.hang.wait(timeout=30)
                if answer.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = json.dumps(answer.body or {}).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FakeProviders":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    def _success(self, path: str, headers, body: bytes) -> Answer:
        graph, twilio = GRAPH_PATH.match(path), TWILIO_PATH.match(path)
        if graph:
            if not (headers.get("Authorization") or "").startswith("Bearer "):
                return graph_error(401, 190, "Invalid OAuth access token.", "OAuthException")
            document = json.loads(body)
            wamid = "wamid." + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")
            self.accepted.append(wamid)
            return Answer(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": document["to"], "wa_id": document["to"]}],
                    "messages": [{"id": wamid}],
                },
            )
        if twilio:
            expected = base64.b64encode(":".join(self.twilio_credentials).encode()).decode()
            if headers.get("Authorization") != f"Basic {expected}":
                return twilio_error(401, 20003, "Authenticate")
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            sid = "SM" + secrets.token_hex(16)
            self.accepted.append(sid)
            return Answer(
                201,
                {
                    "sid": sid,
                    "account_sid": twilio.group("sid"),
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                    "direction": "outbound-api",
                    "api_version": "2010-04-01",
                    "error_code": None,
                    "error_message": None,
                    "uri": f"/2010-04-01/Accounts/{twilio.group('sid')}/Messages/{sid}.json",
                },
            )
        return Answer(404, {"message": "not found"})


def graph_error(status: int, code: int, message: str, kind: str = "OAuthException") -> Answer:
    return Answer(
        status, {"error": {"message": message, "type": kind, "code": code, "error_subcode": 0, "fbtrace_id": "AbC"}}
    )


def twilio_error(status: int, code: int, message: str) -> Answer:
    return Answer(
        status,
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
    )
