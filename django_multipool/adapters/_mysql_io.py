"""Two system calls per query, not twenty, on pooled mysql-connector connections.

mysql-connector's pure-Python protocol reads each packet with two
``recv_into()`` calls (the 4-byte header, then the body), and calls
``settimeout()`` before each packet it sends or reads; CPython makes that an
``ioctl()`` even when the timeout does not change. A one-row, two-column
SELECT is six packets from the server: 12 reads, 7 ioctls and a send, and
each of them lets go of the GIL and must win it back. In one ASGI process
with a thread per request, that is CPU the whole process waits for
(the storm on docs/benchmarks.md measures it).

For the connections the pool opens, once the handshake is done:

- :class:`BufferedBroker` reads whatever the server has sent, up to
  ``READ_SIZE`` bytes per ``recv()``, and hands packets out of that buffer:
  one read per response, usually;
- the socket's class becomes a subclass whose ``settimeout()`` returns at once
  when the socket already has that timeout.

The packets, their order and their sequence numbers are the connector's own.
Bytes past the end of a response can only be something the server sent
unasked (an error before it closes an idle session); they wait in the buffer
as they would have waited in the kernel, and :func:`has_buffered_bytes` lets
the pool's idle check see them. A compressed session keeps the connector's
own broker.
"""

from __future__ import annotations

# First: a mysql-connector release without a name used here fails with the fix.
from . import _mysql_privates  # noqa: F401  # isort: skip

import socket
import ssl
from typing import Any

from mysql.connector.errors import InterfaceError, OperationalError, ReadTimeoutError
from mysql.connector.network import NetworkBrokerPlain, _strioerror

__all__ = ["READ_SIZE", "BufferedBroker", "has_buffered_bytes", "install"]

#: Most responses fit in one read of this size; a larger packet is read to
#: its end, however long.
READ_SIZE = 64 * 1024

_HEADER = 4  # 3 bytes of payload length, 1 of sequence number


class BufferedBroker(NetworkBrokerPlain):
    """The connector's plain packet broker, reading ahead instead of per packet."""

    def __init__(self, packet_number: int = -1) -> None:
        super().__init__()
        self._pktnr = packet_number
        #: Received and not yet handed out. A packet leaves it only once it is
        #: whole: a read that times out part-way loses nothing, and the next
        #: recv() carries on from the same byte.
        self._buffer = bytearray()

    def recv(self, sock: socket.socket, address: str) -> bytearray:
        buffer = self._buffer
        try:
            if len(buffer) < _HEADER:
                _fill(sock, buffer, _HEADER)
            end = _HEADER + (buffer[0] | buffer[1] << 8 | buffer[2] << 16)  # no slice
            if len(buffer) < end:
                _fill(sock, buffer, end)
        # The connector's own translations, in its own order.
        except TimeoutError as err:  # socket.timeout too
            raise ReadTimeoutError(errno=3024, msg=err.strerror) from err
        except OSError as err:
            raise OperationalError(errno=2055, values=(address, _strioerror(err))) from err
        self._pktnr = buffer[3]
        packet = buffer[:end]
        del buffer[:end]  # cheap: a bytearray drops its head without moving the rest
        return packet


def _fill(sock: socket.socket, buffer: bytearray, size: int) -> None:
    """Read until ``buffer`` holds ``size`` bytes."""
    while len(buffer) < size:
        chunk = sock.recv(max(size - len(buffer), READ_SIZE))
        if not chunk:
            raise InterfaceError(errno=2013)  # the server closed the connection
        buffer += chunk


def _quiet_socket_class(cls: type[socket.socket]) -> type[socket.socket]:
    def settimeout(self: socket.socket, value: float | None) -> None:
        # gettimeout() reads an attribute; settimeout() makes a system call.
        # A value settimeout() would refuse differs from any current one, and
        # still gets its error.
        if value != self.gettimeout():
            cls.settimeout(self, value)

    # No new slots: instances keep their layout, so __class__ can change.
    return type(f"Quiet{cls.__name__}", (cls,), {"__slots__": (), "settimeout": settimeout})


#: For the socket classes the connector makes; an instance of any other (a
#: subclass from elsewhere) is left as it is.
_QUIET_CLASSES: dict[type, type] = {
    cls: _quiet_socket_class(cls) for cls in (socket.socket, ssl.SSLSocket)
}


def install(conn: Any) -> None:
    """Fewer system calls for this connection's queries, from now on."""
    wrapper = getattr(conn, "_socket", None)
    if wrapper is None:
        return
    broker = getattr(wrapper, "_netbroker", None)
    if type(broker) is NetworkBrokerPlain:
        wrapper._netbroker = BufferedBroker(broker._pktnr)
    sock = getattr(wrapper, "sock", None)
    quiet = _QUIET_CLASSES.get(type(sock))
    if quiet is not None:
        sock.__class__ = quiet


def has_buffered_bytes(conn: Any) -> bool:
    """Bytes the server sent that nobody has read yet, held by the broker."""
    broker = getattr(getattr(conn, "_socket", None), "_netbroker", None)
    return isinstance(broker, BufferedBroker) and bool(broker._buffer)
