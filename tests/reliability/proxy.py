"""A TCP proxy on loopback that can stall or cut the connections it carries.

Tests put it between a pool and a real server (HOST/PORT point at the proxy)
to play network faults the server itself cannot:

- :meth:`FaultyProxy.stall`: nothing moves in either direction and new
  connections wait unanswered, as with a hung server or a partitioned
  network whose TCP connections stay open. :meth:`FaultyProxy.resume` lets
  everything through again, buffered bytes included, as a healed network does.
- :meth:`FaultyProxy.cut`: every open connection ends abruptly (both ends
  see it closed, the client mid-session), as when a firewall or a load
  balancer drops them. New connections are carried as before.
- :meth:`FaultyProxy.refuse`: the port stops listening, so new connections
  are refused (ECONNREFUSED), as by a host whose server is down; the open
  ones are carried on (:meth:`cut` them too for a server that died).
  :meth:`FaultyProxy.admit` listens on the same port again.

Real sockets and threads, no mocking: two pump threads per connection, so a
peer that stops reading blocks only its own direction. Never touches the
server beyond opening and closing connections to it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from types import TracebackType

# How often blocked threads look up from a wait to see whether they must stop.
_POLL = 0.05


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.ended = threading.Event()
        self._pumps_left = 2
        self._lock = threading.Lock()

    def end(self, *, abort: bool) -> None:
        """Wake both pumps; ``abort`` makes the final close a reset (RST)."""
        self.ended.set()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if abort:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # shutdown, not close: it wakes a pump blocked in recv() or
                # sendall() on this socket, and the fd stays the pump's to close.
                sock.shutdown(socket.SHUT_RDWR)

    def pump_done(self) -> bool:
        """Called by each pump as it exits; True for the last one (it closes)."""
        with self._lock:
            self._pumps_left -= 1
            return self._pumps_left == 0


class FaultyProxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; stall or cut on demand."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener: socket.socket | None = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self._flowing = threading.Event()
        self._flowing.set()
        # Cleared by refuse(); the accept loop alone opens and closes the
        # listener, and sets _gate_moved when it has.
        self._admitting = threading.Event()
        self._admitting.set()
        self._gate_moved = threading.Event()
        self._closed = threading.Event()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        #: Connections accepted so far (a test can tell that a pool reconnected).
        self.accepted = 0
        self._acceptor = threading.Thread(target=self._accept_loop, name="proxy-accept")
        self._acceptor.daemon = True
        self._acceptor.start()

    def __repr__(self) -> str:
        state = "stalled" if not self._flowing.is_set() else "flowing"
        return f"<FaultyProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]} {state}>"

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- faults ----------------------------------------------------------------------

    def stall(self) -> None:
        """Stop carrying bytes both ways and stop answering new connections."""
        self._flowing.clear()

    def resume(self) -> None:
        """Carry everything again, what waited during the stall first."""
        self._flowing.set()

    @contextlib.contextmanager
    def stalled(self) -> Iterator[None]:
        self.stall()
        try:
            yield
        finally:
            self.resume()

    def cut(self) -> int:
        """End every open connection abruptly; return how many there were."""
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.end(abort=True)
        return len(links)

    def refuse(self) -> None:
        """Stop listening: new connections are refused until :meth:`admit`."""
        self._move_gate(admit=False)

    def admit(self) -> None:
        """Listen on the same port again."""
        self._move_gate(admit=True)

    def _move_gate(self, *, admit: bool) -> None:
        if self._admitting.is_set() == admit:
            return
        self._gate_moved.clear()
        if admit:
            self._admitting.set()
        else:
            self._admitting.clear()
        if not self._gate_moved.wait(5):
            raise RuntimeError(f"{self!r}: the accept loop did not follow")

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()  # wake every waiting pump, so it sees the close
        self.cut()
        self._acceptor.join(5)
        if self._listener is not None:
            self._listener.close()

    # -- the machinery ------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            if self._gate_needs_moving():
                continue
            listener = self._listener
            if listener is None:
                self._admitting.wait(_POLL)
                continue
            if not self._flowing.wait(_POLL):
                continue  # stalled: new connections wait in the listen backlog
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                # The server is down: the client sees its connection end.
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            link = _Link(client, upstream)
            with self._lock:
                if self._closed.is_set():
                    link.end(abort=True)
                self._links.add(link)
                self.accepted += 1
            for src, dst, name in ((client, upstream, "up"), (upstream, client, "down")):
                pump = threading.Thread(
                    target=self._pump, args=(link, src, dst), name=f"proxy-{name}-{self.port}"
                )
                pump.daemon = True
                pump.start()

    def _gate_needs_moving(self) -> bool:
        """Open or close the listener as refuse()/admit() asked; True if it did."""
        admitting = self._admitting.is_set()
        if admitting == (self._listener is not None):
            return False
        if admitting:
            listener = socket.create_server(("127.0.0.1", self.port))
            listener.settimeout(_POLL)
            self._listener = listener
        else:
            assert self._listener is not None
            self._listener.close()
            self._listener = None
        self._gate_moved.set()
        return True

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not link.ended.is_set():
                try:
                    data = src.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                # Stalled: hold what was read; the rest stays in the kernel's
                # buffers. The peer's TCP stack still acknowledges it, as a
                # hung server's or a middlebox's does.
                while not self._flowing.wait(_POLL):
                    if link.ended.is_set():
                        return
                try:
                    dst.sendall(data)
                except OSError:
                    break
        finally:
            # Either side closing ends the whole link, as a real peer would.
            with self._lock:
                self._links.discard(link)
            if not link.ended.is_set():
                link.end(abort=False)
            if link.pump_done():
                link.client.close()
                link.upstream.close()
