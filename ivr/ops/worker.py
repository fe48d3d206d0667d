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

from gunicorn.workers.ggevent import GeventWorker

REQUEST_SECONDS = 10.0


class Worker(GeventWorker):
    def init_process(self):
        self.worker_connections = _room_for(self.worker_connections, self.log)
        super().init_process()

    def handle(self, listener, client, addr):
        super().handle(listener, _Deadline(client), addr)


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
