"""One webhook POST: SSRF checks at send time (stub resolver), Host and SNI kept, no redirects, no proxy,
a hard timeout and a capped read. Only loopback is ever connected to."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from execution_api.webhooks.transport import MAX_RESPONSE_BYTES, WebhookTransport
from tests.webhooks.receiver import ScriptedAnswer, receiver


class StubResolver:
    """Answers from a script, one list per call, and counts the calls."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def no_connection(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("a refused address must never be connected to")


@pytest.mark.parametrize(
    ("addresses", "allow_insecure"),
    [
        (["169.254.169.254"], True),  # the cloud metadata endpoint
        (["10.0.0.1"], True),
        (["::1"], False),  # loopback, only for local experiments
        (["127.0.0.1"], False),
        (["93.184.216.34", "10.0.0.1"], True),  # a mix: one private address is enough to refuse
        (["2606:2800:220:1::1", "fd00::1"], True),
        (["::ffff:169.254.169.254"], True),  # IPv4-mapped
        (["100.64.0.1"], True),  # shared (carrier-grade NAT)
        (["0.0.0.0"], True),  # noqa: S104 - an address under test, not a bind
    ],
)
def test_a_public_name_that_resolves_to_a_refused_address_is_not_called(
    addresses: list[str], allow_insecure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a public-looking name whose DNS answer holds a refused address
    resolver = StubResolver(addresses)
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    transport = WebhookTransport(allow_insecure=allow_insecure, resolver=resolver)
    # When posting to it
    result = transport.post("https://hooks.example.com/in", b"{}", {})
    # Then nothing is sent, and why is said
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("refused: hooks.example.com resolves to")
    assert resolver.calls == [("hooks.example.com", 443)]
    assert not result.delivered


def test_the_url_itself_is_checked_again_at_send_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    resolver = StubResolver(["93.184.216.34"])
    transport = WebhookTransport(allow_insecure=False, resolver=resolver)
    for url in ("http://hooks.example.com/", "https://127.0.0.1/", "https://[::ffff:10.0.0.1]/", "https://localhost/"):
        result = transport.post(url, b"{}", {})
        assert str(result.error).startswith("refused"), url
    assert resolver.calls == []


def test_an_unresolvable_name_is_a_failed_attempt() -> None:
    def failing(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = WebhookTransport(allow_insecure=False, resolver=failing).post("https://nowhere.example/", b"{}", {})
    assert result.status is None
    assert result.error == "refused: nowhere.example could not be resolved (gaierror)"


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host() -> None:
    # Given a name that resolves to the receiver's loopback address, and would resolve elsewhere afterwards
    with receiver(ScriptedAnswer(204)) as hook:
        resolver = StubResolver(["127.0.0.1"], ["10.0.0.1"])
        transport = WebhookTransport(allow_insecure=True, resolver=resolver)
        # When posting
        result = transport.post(f"http://hooks.example.test:{hook.port}/in?x=1", b'{"a":1}', {"X-Test": "yes"})
    # Then the one resolution was used (no rebinding window), and Host names the host, not the address
    assert result.status == 204
    assert result.delivered
    assert len(resolver.calls) == 1
    [request] = hook.received
    assert request.path == "/in?x=1"
    assert request.headers["Host"] == f"hooks.example.test:{hook.port}"
    assert request.headers["X-Test"] == "yes"
    assert request.body == b'{"a":1}'


def test_a_redirect_is_not_followed() -> None:
    with receiver(ScriptedAnswer(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})) as hook:
        result = WebhookTransport(allow_insecure=True).post(hook.url, b"{}", {})
    assert result.status == 302
    assert not result.delivered
    assert len(hook.received) == 1


def test_a_slow_receiver_times_out() -> None:
    with receiver(ScriptedAnswer(200, delay=5)) as hook:
        result = WebhookTransport(allow_insecure=True, timeout_seconds=0.3).post(hook.url, b"{}", {})
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("timeout")


def test_a_trickling_answer_is_cut_at_the_deadline() -> None:
    # Given a receiver that sends its headers, then the body a chunk at a time, slowly
    stop = threading.Event()
    server = socket.create_server(("127.0.0.1", 0))

    def trickle() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        while not stop.wait(0.05):
            try:
                connection.sendall(b"x")
            except OSError:
                break
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        result = WebhookTransport(allow_insecure=True, timeout_seconds=0.5).post(url, b"{}", {})
    finally:
        stop.set()
        server.close()
    # Then each byte came within the socket timeout, but the whole attempt still ended at the deadline
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("timeout")


def test_at_most_64_kib_of_an_answer_is_read() -> None:
    with receiver(ScriptedAnswer(200, body=b"", stream_bytes=20 * 1024 * 1024)) as hook:
        result = WebhookTransport(allow_insecure=True).post(hook.url, b"{}", {})
    assert result.delivered
    assert result.body_bytes_read == MAX_RESPONSE_BYTES


def test_proxy_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing would answer
    with receiver(ScriptedAnswer(200)) as hook:
        result = WebhookTransport(allow_insecure=True).post(hook.url, b"{}", {})
    assert result.delivered
    assert len(hook.received) == 1


def test_no_listener_is_a_failed_attempt() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = WebhookTransport(allow_insecure=True).post(f"http://127.0.0.1:{port}/", b"{}", {})
    assert result.status is None
    assert result.error == "no valid answer: ConnectionRefusedError"


# ---- TLS: the certificate is checked against the host name while the socket goes to the checked address


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[tuple[int, list[str | None], list[bytes]]]:
    """A one-request HTTPS receiver on 127.0.0.1 that records the SNI name it was asked for."""
    cert_path, key_path = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server_names: list[str | None] = []
    requests: list[bytes] = []

    def remember(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        server_names.append(name)

    context.sni_callback = remember  # type: ignore[assignment]
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        try:
            raw, _ = server.accept()
            with context.wrap_socket(raw, server_side=True) as connection:
                request = b""
                while not request.endswith(b"\r\n\r\n{}"):  # the tests post the body {}
                    request += connection.recv(65536)
                requests.append(request)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass  # the client refused the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], server_names, requests
    server.close()
    thread.join(timeout=5)


def test_https_keeps_sni_and_verifies_the_certificate_on_the_name(
    certificate: tuple[Path, Path], tls_receiver: tuple[int, list[str | None], list[bytes]]
) -> None:
    port, server_names, requests = tls_receiver
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    transport = WebhookTransport(allow_insecure=True, resolver=StubResolver(["127.0.0.1"]), tls_context=trust)
    result = transport.post(f"https://hooks.example.test:{port}/in", b"{}", {})
    assert result.status == 200
    assert server_names == ["hooks.example.test"]
    assert f"Host: hooks.example.test:{port}\r\n".encode() in requests[0]


def test_a_certificate_for_another_name_is_refused(
    certificate: tuple[Path, Path], tls_receiver: tuple[int, list[str | None], list[bytes]]
) -> None:
    port, _server_names, requests = tls_receiver
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    transport = WebhookTransport(allow_insecure=True, resolver=StubResolver(["127.0.0.1"]), tls_context=trust)
    result = transport.post(f"https://other.example.test:{port}/in", b"{}", {})
    assert result.status is None
    assert result.error == "no valid answer: SSLCertVerificationError"
    assert requests == []
