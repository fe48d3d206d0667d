"""gunicorn's gevent worker with a time limit on each request's arrival (gunicorn.conf.py's
worker_class), and room for thousands of idle connections.

gunicorn's gevent worker waits for a request's body as long as the client likes: 2,000 connections
that sent their headers and then nothing (1,000 per worker, its worker_connections) left no room
for Twilio, and a body sent one byte every 30 s was still open after ten minutes. Here a
connection must deliver each whole request (headers and body) within REQUEST_SECONDS of being
opened or of its last answer, else it is closed without one. Twilio sends a webhook of under 2 KB
at once and gives up on an answer after 15 s, so 10 s cuts off no real webhook. Idle time between
two requests on one connection is gunicorn's own `keepalive` (2 s).
"""
from __future__ import annotations

import errno
import resource
import socket
import time
from functools import partial

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.sock import ssl_context
from gunicorn.workers.ggevent import GeventWorker

REQUEST_SECONDS = 10.0
# On SIGTERM, how long a worker goes on answering its keep-alive connections as usual after it
# has closed its listening socket, before it answers with "Connection: close": the time the other
# processes (the master, the other workers, all signalled at once) take to close theirs.
DRAIN_SECONDS = 0.5


class Worker(GeventWorker):
    """Also a graceful stop that resets no connection. gunicorn's gevent worker, on SIGTERM, went
    on accepting for up to a second while answering every request with "Connection: close": each
    client connected again at once, and the connections still waiting to be accepted when the
    last process closed the listening socket were reset (29-32 under wrk with 32 connections, one
    per client). Here a worker stops accepting at once, and closes its connections only once every
    process has stopped: a client that connects again is then refused (connection refused, never
    accepted), which Twilio answers with the fallback URL."""

    def init_process(self):
        self.worker_connections = _room_for(self.worker_connections, self.log)
        self._servers = []
        super().init_process()

    def handle(self, listener, client, addr):
        super().handle(listener, _Deadline(client), addr)

    def handle_exit(self, sig, frame):
        gevent.spawn(self._stop_accepting)

    def _stop_accepting(self):
        for server in self._servers:
            server.close()
        gevent.sleep(DRAIN_SECONDS)
        self.alive = False  # from now on each answer closes its connection (gunicorn's force_close)

    def run(self):
        """GeventWorker.run with its servers kept (for _stop_accepting) and the HTTP/1 handler only."""
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        for s in self.sockets:
            s.setblocking(1)
            server = StreamServer(s, handle=partial(self.handle, s), spawn=Pool(self.worker_connections), **ssl_args)
            if self.cfg.workers > 1:
                server.max_accept = 1
            server.start()
            self._servers.append(server)
        while self.alive:
            self.notify()
            gevent.sleep(1.0)
        try:
            for server in self._servers:
                server.close()
            # Answer the connections in progress until graceful_timeout, as GeventWorker does.
            started = time.time()
            while time.time() - started <= self.cfg.graceful_timeout:
                if all(server.pool.free_count() == server.pool.size for server in self._servers):
                    return
                self.notify()
                gevent.sleep(0.1)
            self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
            for server in self._servers:
                server.stop(timeout=1)
        except Exception:
            pass


def _room_for(connections: int, log) -> int:
    """Each connection is a file descriptor: raise this process's soft limit to its hard limit
    (often 1,024 soft for 4,096 or more hard), and accept no more connections than fit in it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 100  # the listening socket, logs, menu files, metrics files...
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(wanted, soft))
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("open files limit %s (ulimit -n): this worker holds %s connections instead of %s",
                    soft, soft - 100, connections)
        return max(soft - 100, 10)
    return connections


class _Deadline:
    """The client's socket, as gunicorn's parser and the app read it, cut off at the deadline."""

    __slots__ = ("_sock", "_until")

    def __init__(self, sock):
        self._sock = sock
        self._until = time.monotonic() + REQUEST_SECONDS

    def recv(self, size, *flags):
        left = self._until - time.monotonic()
        if left > 0:
            self._sock.settimeout(left)
            try:
                return self._sock.recv(size, *flags)
            except TimeoutError:
                pass
        # Too slow: the end of the data, as if the client had gone. gunicorn's parser then drops the
        # connection quietly; a body cut short is refused with 400 by the app. Shut down, so no
        # answer reaches the client and nothing more is read from it.
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return b""

    def sendall(self, data, *flags):
        self._write(self._sock.sendall, data, *flags)

    def sendfile(self, file, offset=0, count=None):
        self._write(self._sock.sendfile, file, offset, count)

    def _write(self, send, *args):
        # A client that reads no answer for this long is gone: gunicorn drops a broken pipe quietly.
        self._sock.settimeout(REQUEST_SECONDS)
        try:
            send(*args)
        except TimeoutError:
            raise BrokenPipeError(errno.EPIPE, "the client read no answer in time") from None
        self._until = time.monotonic() + REQUEST_SECONDS  # the next request on this connection

    def __getattr__(self, name):
        return getattr(self._sock, name)
