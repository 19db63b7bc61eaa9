"""Local fakes of the providers' HTTP APIs, on 127.0.0.1. Each checks what it receives the way the real API
would and answers with the documented shapes. The documented fact behind each behaviour is cited beside
it (OPERATIONS.md section 5 and the provider pages it names); what is not documented is marked so.

A test scripts the fake: `fake.script(...)` queues answers for the next calls of a route (status codes,
Retry-After), `fake.finish(id, ...)` ends a prediction, and `fake.signed_callback(id)` builds the callback
the provider would POST, signed as it signs."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks.webhooks import Webhook

MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64  # bytes, not a playable file: the copy is what is tested
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 64


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    processed: bool = False  # the provider did the work (created the prediction) and then answered this
    delay: float = 0.0  # seconds before the answer: longer than the client's read timeout is a lost answer


class Fake:
    """What the three fakes share: a server, the calls it got, scripted answers, files it serves."""

    key_header = ""

    def __init__(self, key: str) -> None:
        self.key = key
        self.calls: list[Call] = []
        self.scripts: dict[str, list[Scripted]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.port = 0
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, route: str, *answers: Scripted) -> None:
        self.scripts.setdefault(route, []).extend(answers)

    def serve_file(self, name: str, body: bytes, content_type: str) -> str:
        self.files[name] = (body, content_type)
        return f"{self.base}/files/{name}"

    def authorized(self, call: Call) -> bool:
        raise NotImplementedError

    def route(self, call: Call) -> tuple[str, Any]:
        """(route name, the answer or a function making it): a scripted answer replaces it unmade."""
        raise NotImplementedError

    def handle(self, call: Call) -> Scripted:
        with self.lock:
            self.calls.append(call)
            if call.path.startswith("/files/"):  # a provider's CDN: no auth (public, expiring URLs)
                found = self.files.get(call.path.removeprefix("/files/"))
                return Scripted(200, found[0], {"Content-Type": found[1]}) if found else Scripted(404, b"gone")
            name, answer = self.route(call)
            queued = self.scripts.get(name)
            if queued:
                scripted = queued.pop(0)
                if scripted.processed and callable(answer):
                    answer()  # a slow or failing answer after the provider accepted the work
                return scripted
            if name != "jwks" and not self.authorized(call):  # fal's JWKS is public
                return self.unauthorized()
            return answer() if callable(answer) else answer  # side effects only for answered calls

    def unauthorized(self) -> Scripted:
        return Scripted(401, {"detail": "Invalid token."})

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]


class ReplicateFake(Fake):
    """Replicate's HTTP API (OPERATIONS.md 5.1; replicate.com/docs/reference/http)."""

    def __init__(self, key: str = "r8_fake_token_0123456789") -> None:
        super().__init__(key)
        self.predictions: dict[str, dict[str, Any]] = {}
        self.secret = "whsec_" + base64.b64encode(b"replicate-fake-signing-secret-32b").decode()

    def authorized(self, call: Call) -> bool:
        # "Authorization: Bearer <token>" (HTTP API reference, Authentication); anything else is 401.
        return call.headers.get("authorization") == f"Bearer {self.key}"

    def route(self, call: Call) -> tuple[str, Any]:
        parts = call.path.strip("/").split("/")
        if call.method == "GET" and call.path == "/v1/webhooks/default/secret":
            return "secret", Scripted(200, {"key": self.secret})  # "Verify webhooks": {"key": "whsec_..."}
        if call.method == "POST" and (call.path == "/v1/predictions" or call.path.endswith("/predictions")):
            return "create", lambda: self._create(call, parts)
        if call.method == "GET" and len(parts) == 3 and parts[1] == "predictions":
            found = self.predictions.get(parts[2])
            return "get", Scripted(200, found) if found else Scripted(404, {"detail": "Not found."})
        if call.method == "POST" and len(parts) == 4 and parts[3] == "cancel":
            return "cancel", lambda: self._cancel(parts[2])
        return "unknown", Scripted(404, {"detail": "Not found."})

    def _cancel(self, prediction_id: str) -> Scripted:
        found = self.predictions.get(prediction_id)
        if found and found["status"] in ("starting", "processing"):
            found["status"] = "canceled"  # POST /predictions/{id}/cancel answers the prediction
        return Scripted(200, found) if found else Scripted(404, {"detail": "Not found."})

    def _create(self, call: Call, parts: list[str]) -> Scripted:
        # Create takes JSON {input, webhook?, webhook_events_filter?} (+ version on /predictions): anything
        # else is refused. The invalid-input status code is unconfirmed (OPERATIONS.md 5.1); 422 assumed.
        if call.headers.get("content-type") != "application/json":
            return Scripted(415, {"detail": "Unsupported media type"})
        body = call.json()
        if not isinstance(body.get("input"), dict):
            return Scripted(422, {"detail": "input is required"})
        if call.path == "/v1/predictions" and len(str(body.get("version", ""))) != 64:
            return Scripted(422, {"detail": "version is required"})
        if "webhook_events_filter" in body and not set(body["webhook_events_filter"]) <= {
            "start", "output", "logs", "completed"
        }:  # fmt: skip
            return Scripted(422, {"detail": "invalid webhook_events_filter"})
        prediction_id = f"rep{next(self.ids)}"
        prediction = {
            "id": prediction_id,
            "model": "/".join(parts[2:4]) if parts[1] == "models" else "",
            "version": body.get("version", ""),
            "input": body["input"],
            "status": "starting",  # documented statuses: starting, processing, succeeded, failed, canceled
            "output": None,
            "error": None,
            "logs": "",
            "webhook": body.get("webhook"),
            "created_at": "2026-12-07T03:00:00.000Z",
            "urls": {
                "get": f"{self.base}/v1/predictions/{prediction_id}",
                "cancel": f"{self.base}/v1/predictions/{prediction_id}/cancel",
            },
        }
        self.predictions[prediction_id] = prediction
        return Scripted(201, prediction)  # Create answers 201 Created with the prediction

    def finish(self, prediction_id: str, *, output: Any = None, error: str | None = None) -> None:
        found = self.predictions[prediction_id]
        found.update(status="failed" if error else "succeeded", output=output, error=error)

    def signed_callback(self, prediction_id: str, *, at: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The webhook Replicate POSTs: the prediction as body, Standard Webhooks headers (Verify webhooks)."""
        body = json.dumps(self.predictions[prediction_id]).encode()
        message_id = f"msg_{prediction_id}"
        sent = int(time.time() if at is None else at)
        signature = Webhook(self.secret).sign(message_id, _datetime(sent), body.decode())
        return body, {"webhook-id": message_id, "webhook-timestamp": str(sent), "webhook-signature": signature}


class FalFake(Fake):
    """fal's queue API (OPERATIONS.md 5.2; docs.fal.ai "Queue", "Webhooks")."""

    def __init__(self, key: str = "fal-key-id:0123456789abcdef0123456789abcdef") -> None:
        super().__init__(key)
        self.requests: dict[str, dict[str, Any]] = {}
        self.signer = Ed25519PrivateKey.generate()

    def authorized(self, call: Call) -> bool:
        return call.headers.get("authorization") == f"Key {self.key}"  # "Authorization: Key <FAL_KEY>"

    def unauthorized(self) -> Scripted:
        return Scripted(401, {"detail": "No user found for Key ID and Secret"})  # exact text unconfirmed

    def jwks(self) -> bytes:
        raw = self.signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fake"}]}).encode()

    def route(self, call: Call) -> tuple[str, Any]:
        parts = call.path.strip("/").split("/")
        if call.path == "/.well-known/jwks.json":  # public: no auth
            return "jwks", Scripted(200, self.jwks(), {"Content-Type": "application/json"})
        if "requests" in parts:
            at = parts.index("requests")
            request_id, rest = parts[at + 1], parts[at + 2 :]
            found = self.requests.get(request_id)
            if found is None or found["model_root"] != "/".join(parts[:at]):  # status under the root, no subpath
                return "unknown", Scripted(404, {"detail": "Request not found"})
            if rest == ["status"] and call.method == "GET":
                return "status", Scripted(200, {"status": found["status"], "queue_position": 0, "logs": None})
            if rest == ["cancel"] and call.method == "PUT":
                return "cancel", lambda: self._cancel(found)
            if not rest and call.method == "GET":
                if found["status"] != "COMPLETED":
                    return "result", Scripted(400, {"detail": "Request is still in progress"})
                return "result", Scripted(found.get("result_status", 200), found["payload"])
        if call.method == "POST":
            return "submit", lambda: self._submit(call, parts)
        return "unknown", Scripted(404, {"detail": "Not found"})

    @staticmethod
    def _cancel(found: dict[str, Any]) -> Scripted:
        # PUT .../cancel answers CANCELLATION_REQUESTED, or ALREADY_COMPLETED for a finished request ("Queue").
        if found["status"] == "COMPLETED":
            return Scripted(400, {"status": "ALREADY_COMPLETED"})
        found.update(status="COMPLETED", cancelled=True)
        return Scripted(202, {"status": "CANCELLATION_REQUESTED"})

    def _submit(self, call: Call, parts: list[str]) -> Scripted:
        if call.headers.get("content-type") != "application/json":
            return Scripted(422, {"detail": [{"msg": "body must be JSON"}]})
        request_id = f"fal-{next(self.ids)}"
        root = "/".join(parts[:2])
        self.requests[request_id] = {
            "model": "/".join(parts), "model_root": root, "input": call.json(), "status": "IN_QUEUE",
            "webhook": call.query.get("fal_webhook", [None])[0], "payload": None,
        }  # fmt: skip
        urls = f"{self.base}/{root}/requests/{request_id}"
        return Scripted(
            200,
            {"request_id": request_id, "gateway_request_id": request_id, "status_url": f"{urls}/status",
             "response_url": urls, "cancel_url": f"{urls}/cancel"},
        )  # fmt: skip

    def finish(self, request_id: str, payload: Any, status: int = 200) -> None:
        self.requests[request_id].update(status="COMPLETED", payload=payload, result_status=status)

    def signed_callback(
        self, request_id: str, *, at: float | None = None, status: str = "OK", error: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """fal's webhook: {request_id, gateway_request_id, status, payload, error?}, ED25519 over request id,
        user id, timestamp and hex SHA-256 of the body, joined by newlines (format partly unconfirmed)."""
        found = self.requests[request_id]
        document: dict[str, Any] = {"request_id": request_id, "gateway_request_id": request_id, "status": status,
                                    "payload": found["payload"]}  # fmt: skip
        if error:
            document["error"] = error
        body = json.dumps(document).encode()
        sent = str(int(time.time() if at is None else at))
        user = "fake-user"
        message = "\n".join([request_id, user, sent, hashlib.sha256(body).hexdigest()]).encode()
        return body, {
            "x-fal-webhook-request-id": request_id,
            "x-fal-webhook-user-id": user,
            "x-fal-webhook-timestamp": sent,
            "x-fal-webhook-signature": self.signer.sign(message).hex(),
        }


class ElevenLabsFake(Fake):
    """ElevenLabs text to speech (OPERATIONS.md 5.3; elevenlabs.io/docs/api-reference/text-to-speech)."""

    def __init__(self, key: str = "sk_fake0123456789abcdef") -> None:
        super().__init__(key)

    def authorized(self, call: Call) -> bool:
        return call.headers.get("xi-api-key") == self.key  # the `xi-api-key` header

    def unauthorized(self) -> Scripted:
        # 401 with detail.status invalid_api_key (help centre "API - Error Code 400 or 401").
        return Scripted(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})

    def route(self, call: Call) -> tuple[str, Any]:
        parts = call.path.strip("/").split("/")
        if call.method != "POST" or parts[:2] != ["v1", "text-to-speech"] or len(parts) != 3:
            return "unknown", Scripted(404, {"detail": {"status": "not_found", "message": "Not found"}})
        body = call.json() if call.headers.get("content-type") == "application/json" else {}
        if not isinstance(body.get("text"), str) or not body["text"]:
            return "speech", Scripted(422, {"detail": [{"loc": ["body", "text"], "msg": "field required"}]})
        if parts[2] != "voice-1":
            missing = {"status": "voice_not_found", "message": "A voice with that ID does not exist"}
            return "speech", Scripted(400, {"detail": missing})  # 400 detail.status voice_not_found
        # output_format is a query parameter `codec_samplerate_bitrate`; mp3 answers audio/mpeg bytes.
        output_format = call.query.get("output_format", ["mp3_44100_128"])[0]
        content_type = "audio/mpeg" if output_format.startswith("mp3") else "application/octet-stream"
        return "speech", Scripted(200, MP3, {"Content-Type": content_type})


def _datetime(seconds: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC)


@contextmanager
def serving(fake: Fake) -> Iterator[Fake]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(
                self.command, split.path, parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length),
            )  # fmt: skip
            answer = fake.handle(call)
            time.sleep(answer.delay)
            body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            headers = {"Content-Type": "application/json", **answer.headers, "Content-Length": str(len(body))}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up waiting (a scripted delay)
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    # A short poll: shutdown() waits for the loop to look (half a second by default, per server per test).
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
