"""The read-ahead packet broker and the quiet socket, over local sockets, no server.

The broker must hand out exactly the packets the connector's own broker
would, however the bytes arrive: one packet split over many reads, many
packets in one read, packets larger than a read. Against MariaDB, with the
connector's protocol on top, see tests/vendors/test_mysql_pool.py.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mysql.connector.errors import InterfaceError, OperationalError, ReadTimeoutError
from mysql.connector.network import NetworkBrokerPlain

from django_multipool.adapters import _mysql_io
from django_multipool.adapters._mysql_io import READ_SIZE, BufferedBroker


def packet(number: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([number]) + payload


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, server = socket.socketpair()
    ours.settimeout(5)
    yield ours, server
    ours.close()
    server.close()


def receive_all(
    broker: NetworkBrokerPlain, sock: socket.socket, count: int
) -> list[tuple[int, bytes]]:
    received = []
    for _ in range(count):
        got = broker.recv(sock, "test")
        assert isinstance(got, bytearray)  # as the connector's own broker returns
        received.append((broker._pktnr, bytes(got)))
    return received


PAYLOADS = [b"\x01", b"", b"x" * 250, b"\xfe\x00\x00\x02\x00", b"y" * (3 * READ_SIZE + 17)]


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 4096, 10**9], ids=lambda c: f"chunks-of-{c}")
def test_the_same_packets_as_the_connectors_broker_however_the_bytes_arrive(
    pair: tuple[socket.socket, socket.socket], chunk: int
) -> None:
    ours, server = pair
    stream = b"".join(packet(n, p) for n, p in enumerate(PAYLOADS))
    expected = [(n, packet(n, p)) for n, p in enumerate(PAYLOADS)]

    def send_in_chunks() -> None:
        for start in range(0, len(stream), chunk):
            server.sendall(stream[start : start + chunk])

    for broker in (NetworkBrokerPlain(), BufferedBroker()):
        sender = threading.Thread(target=send_in_chunks)
        sender.start()
        assert receive_all(broker, ours, len(PAYLOADS)) == expected
        sender.join()


def test_a_burst_of_packets_costs_one_read(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    server.sendall(b"".join(packet(n, b"row %d" % n) for n in range(6)))
    reads = 0
    real_recv = ours.recv

    class Counting:
        def recv(self, size: int) -> bytes:
            nonlocal reads
            reads += 1
            return real_recv(size)

    broker = BufferedBroker()
    got = receive_all(broker, Counting(), 6)  # type: ignore[arg-type]
    assert [number for number, _ in got] == list(range(6))
    assert reads == 1
    assert not broker._buffer


def test_a_read_that_times_out_part_way_loses_nothing(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    ours.settimeout(0.05)
    whole = packet(7, b"z" * 1000)
    server.sendall(whole[:600])
    broker = BufferedBroker()
    with pytest.raises(ReadTimeoutError):
        broker.recv(ours, "test")
    server.sendall(whole[600:])
    assert bytes(broker.recv(ours, "test")) == whole
    assert broker._pktnr == 7


def test_a_closed_connection_is_the_connectors_lost_connection_error(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    server.sendall(packet(1, b"abcdef")[:5])
    server.close()
    with pytest.raises(InterfaceError) as raised:
        BufferedBroker().recv(ours, "test")
    assert raised.value.errno == 2013


def test_a_socket_error_is_the_connectors_operational_error() -> None:
    sock = socket.socket()
    sock.close()
    with pytest.raises(OperationalError) as raised:
        BufferedBroker().recv(sock, "127.0.0.1:3306")
    assert raised.value.errno == 2055
    assert "127.0.0.1:3306" in str(raised.value)


def test_a_packet_larger_than_a_read_is_read_to_its_end(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    big = packet(3, bytes(range(256)) * (5 * READ_SIZE // 256))
    sender = threading.Thread(target=server.sendall, args=(big + packet(4, b"next"),))
    sender.start()
    broker = BufferedBroker()
    assert bytes(broker.recv(ours, "test")) == big
    assert bytes(broker.recv(ours, "test")) == packet(4, b"next")
    sender.join()


# -- the quiet socket -------------------------------------------------------------


class Recorder:
    """Counts the settimeout() calls that reach CPython's socket (a system call each)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[float | None] = []
        real = socket.socket.settimeout

        def recording(sock: socket.socket, value: float | None) -> None:
            self.calls.append(value)
            real(sock, value)

        monkeypatch.setattr(socket.socket, "settimeout", recording)


def quiet(sock: socket.socket) -> socket.socket:
    sock.__class__ = _mysql_io._QUIET_CLASSES[type(sock)]
    return sock


def test_settimeout_reaches_the_socket_only_when_the_timeout_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        quiet(sock)
        recorder = Recorder(monkeypatch)
        for value in [None, None, 5, 5.0, 5, 0, 0.0, None, None]:
            sock.settimeout(value)
            assert sock.gettimeout() == (None if value is None else float(value))
        assert recorder.calls == [5, 0, None]
        assert isinstance(sock, socket.socket)


@pytest.mark.parametrize("value", [-1, float("nan"), "soon"])
def test_settimeout_still_refuses_what_the_socket_refuses(value: object) -> None:
    with socket.socket() as sock:
        quiet(sock)
        with pytest.raises((ValueError, TypeError)):
            sock.settimeout(value)  # type: ignore[arg-type]


def test_a_tls_socket_can_be_made_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.create_default_context()
    with context.wrap_socket(socket.socket(), server_hostname="db") as sock:
        assert type(sock) is ssl.SSLSocket
        quiet(sock)
        recorder = Recorder(monkeypatch)
        sock.settimeout(3)
        sock.settimeout(3)
        assert recorder.calls == [3]
        assert isinstance(sock, ssl.SSLSocket)


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ssl.SSLContext, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl's command line is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [openssl, *request, *subject],
        check=True,
        capture_output=True,
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    yield server_context, cert


def test_the_broker_reads_a_tls_session_the_same_way(
    tls_pair: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, cert = tls_pair
    client_context = ssl.create_default_context(cafile=str(cert))
    raw_client, raw_server = socket.socketpair()
    payloads = [b"a" * 10, b"b" * (2 * READ_SIZE), b"c"]

    def serve() -> None:
        with server_context.wrap_socket(raw_server, server_side=True) as tls:
            tls.sendall(b"".join(packet(n, p) for n, p in enumerate(payloads)))
            tls.recv(1)  # until the client is done

    server = threading.Thread(target=serve)
    server.start()
    with client_context.wrap_socket(raw_client, server_hostname="localhost") as tls:
        tls.settimeout(5)
        quiet(tls)
        recorder = Recorder(monkeypatch)
        tls.settimeout(5)
        assert recorder.calls == []  # the timeout it already had
        got = receive_all(BufferedBroker(), tls, len(payloads))
        tls.sendall(b"!")
    server.join()
    assert got == [(n, packet(n, p)) for n, p in enumerate(payloads)]
