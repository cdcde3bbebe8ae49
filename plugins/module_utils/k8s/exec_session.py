# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pod exec over one WebSocket, reading frames straight off the socket.

websocket-client only performs the HTTP upgrade (TLS, proxy, subprotocol
negotiation). After that this module reads the socket in large chunks and
parses frames itself (exec_protocol), so throughput is linear in the volume
and memory is bounded: stdout is handed to the caller as it arrives (pull via
read_stdout(), or into a sink), stderr is kept up to a limit, nothing else is
accumulated. Writes (stdin) go out as masked frames built by exec_protocol.

Single-threaded on purpose: an SSL socket must not be read and written from two
threads at once. While stdin is being sent, whatever the server already sent is
drained without blocking, so a command that talks while reading cannot deadlock
us as long as its output fits the socket buffers (the pod scripts keep it small).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import select
import socket
import ssl
import time

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import exec_protocol as proto
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ApiError,
    ExecTimeout,
    ObjectNotFound,
    PodNotReady,
    StatesafeError,
    StreamError,
)

try:
    import websocket
except ImportError:  # reported by the module's requirement check
    websocket = None

READ_CHUNK = 256 * 1024
# A command that has not taken any input for this long is taken for dead: when a
# command dies while reading, some API server versions neither read the rest of
# stdin nor report the exit, and the sender would wait forever.
STDIN_STALL_SECONDS = 120
STDIN_FRAME = 64 * 1024
DEFAULT_STDERR_LIMIT = 64 * 1024


class BoundedBuffer(object):
    """Keeps the first `limit` bytes written and counts the rest."""

    def __init__(self, limit):
        self.limit = limit
        self._parts = []
        self._kept = 0
        self.total = 0

    def write(self, data):
        self.total += len(data)
        room = self.limit - self._kept
        if room > 0 and data:
            piece = data[:room]
            self._parts.append(bytes(piece))
            self._kept += len(piece)

    @property
    def truncated(self):
        return self.total > self._kept

    def getvalue(self):
        return b"".join(self._parts)


def _auth_headers(configuration, api_client):
    """Headers the REST client would send: auth, impersonation, user agent."""
    headers = []
    auth = configuration.auth_settings().get("BearerToken") if hasattr(configuration, "auth_settings") else None
    if auth and auth.get("value"):
        headers.append("Authorization: {0}".format(auth["value"]))
    elif getattr(configuration, "username", None) and getattr(configuration, "password", None):
        headers.append("Authorization: {0}".format(configuration.get_basic_auth_token()))
    for name, value in (getattr(api_client, "default_headers", None) or {}).items():
        if str(name).lower() in ("authorization", "content-type", "accept"):
            continue
        headers.append("{0}: {1}".format(str(name), value))
    return headers


def _ssl_options(configuration, url):
    if url.startswith("wss://") and configuration.verify_ssl:
        opts = {"cert_reqs": ssl.CERT_REQUIRED}
        if configuration.ssl_ca_cert:
            opts["ca_certs"] = configuration.ssl_ca_cert
        if configuration.assert_hostname is not None:
            opts["check_hostname"] = configuration.assert_hostname
    else:
        opts = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    if configuration.cert_file:
        opts["certfile"] = configuration.cert_file
    if configuration.key_file:
        opts["keyfile"] = configuration.key_file
    server_name = getattr(configuration, "tls_server_name", None)
    if server_name:
        opts["server_hostname"] = server_name
    return opts


def _proxy_options(configuration):
    opts = {}
    if getattr(configuration, "proxy", None):
        from urllib.parse import urlsplit

        proxy = urlsplit(configuration.proxy)
        opts["http_proxy_host"] = proxy.hostname
        opts["http_proxy_port"] = proxy.port
        opts["proxy_type"] = "http"
        if proxy.username:
            opts["http_proxy_auth"] = (proxy.username, proxy.password or "")
    if getattr(configuration, "no_proxy", None):
        opts["http_no_proxy"] = [h.strip() for h in configuration.no_proxy.split(",") if h.strip()]
    return opts


def _handshake_error(exc, location):
    status = getattr(exc, "status_code", None)
    message, reason = proto.status_from_http_body(getattr(exc, "resp_body", None))
    message = message or str(exc)
    if status == 404:
        return ObjectNotFound("pod not found: {0}".format(message), **location)
    if status == 400 and "container" in message:
        return PodNotReady("cannot exec: {0}".format(message), **location)
    if status == 403:
        return ApiError("exec forbidden: {0}".format(message), status=403, reason=reason, **location)
    return ApiError("exec request failed (HTTP {0}): {1}".format(status, message), status=status, reason=reason, **location)


class ExecSession(object):
    """One running command in a container.

    Use open(), then send_stdin()/close_stdin() if stdin was requested, then
    read_stdout() until it returns b"" (or drain_to()), then finish() for the
    exit status. close() always, e.g. in a finally.
    """

    def __init__(self, ws, protocol, location, deadline=None, stderr_limit=DEFAULT_STDERR_LIMIT):
        self._ws = ws
        self._sock = ws.sock
        self.protocol = protocol
        self.location = location
        self.deadline = deadline
        self._parser = proto.FrameParser()
        self._demux = proto.ChannelDemux()
        self._stdout = []  # pieces not yet handed to the reader
        self.stderr = BoundedBuffer(stderr_limit)
        self._status = bytearray()
        self.closed_by_server = False
        self.close_code = None
        self.stdout_bytes = 0
        self.stdin_bytes = 0
        self.stdin_stall_seconds = STDIN_STALL_SECONDS
        self._recv_buffer = bytearray(READ_CHUNK)
        self._read_timeout_set = None  # when the socket's read timeout was last set

    @classmethod
    def open(cls, k8s_client, namespace, pod, command, container=None, stdin=False,
             timeout=None, stderr_limit=DEFAULT_STDERR_LIMIT, protocols=proto.PREFERRED_PROTOCOLS,
             connect_timeout=30):
        """Start `command` (argv list) in the container; raises on handshake failure."""
        if websocket is None:
            raise StreamError("the websocket-client Python library is required")
        location = dict(namespace=namespace, pod=pod, container=container)
        configuration = k8s_client.configuration
        api_client = k8s_client.client.client
        url = proto.exec_url(configuration.host, namespace, pod, command, container=container, stdin=stdin)
        deadline = None if timeout is None else time.monotonic() + timeout
        ws = websocket.WebSocket(sslopt=_ssl_options(configuration, url), skip_utf8_validation=True)
        ws.settimeout(connect_timeout)
        options = dict(header=_auth_headers(configuration, api_client), subprotocols=list(protocols))
        options.update(_proxy_options(configuration))
        try:
            ws.connect(url, **options)
        except websocket.WebSocketBadStatusException as exc:
            raise _handshake_error(exc, location) from exc
        except (websocket.WebSocketException, socket.error, ssl.SSLError) as exc:
            raise StreamError("cannot open exec stream: {0}".format(exc), **location) from exc
        protocol = ws.getsubprotocol() or proto.PROTOCOL_V4
        ws.sock.settimeout(None)
        return cls(ws, protocol, location, deadline=deadline, stderr_limit=stderr_limit)

    # -- reading -------------------------------------------------------------

    def _remaining(self):
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def _readable_now(self):
        return self._readable_within(0)

    def _readable_within(self, seconds):
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True
        ready, _w, _x = select.select([self._sock], [], [], seconds)
        return bool(ready)

    def _pump(self, block=True):
        """Read one chunk from the socket and dispatch its frames.

        Returns False once the server closed the stream.
        """
        if self.closed_by_server:
            return False
        if not block and not self._readable_now():
            return True
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise ExecTimeout("command did not finish in time", **self.location)
        self._set_read_timeout(remaining)
        try:
            count = self._sock.recv_into(self._recv_buffer)
        except socket.timeout as exc:
            raise ExecTimeout("command did not finish in time", **self.location) from exc
        except (socket.error, ssl.SSLError) as exc:
            raise StreamError("exec stream broke: {0}".format(exc), **self.location) from exc
        if count == 0:
            self.closed_by_server = True
            return False
        try:
            frames = self._parser.feed(memoryview(self._recv_buffer)[:count])
        except proto.ProtocolError as exc:
            raise StreamError("invalid exec stream: {0}".format(exc), **self.location) from exc
        for frame in frames:
            self._dispatch(frame)
        return not self.closed_by_server

    def _set_read_timeout(self, remaining):
        """The socket's timeout for the next read: what is left until the deadline.

        Setting it costs a system call, which per frame of a fast stream was a
        tenth of the module's CPU: it is renewed only when a second has gone
        since, so a read may wait up to a second past the deadline.
        """
        now = time.monotonic()
        if self._read_timeout_set is not None and now - self._read_timeout_set < 1.0:
            return
        self._sock.settimeout(remaining)
        self._read_timeout_set = now

    def _dispatch(self, frame):
        if frame.opcode == proto.OPCODE_PING:
            self._send_frame(frame.payload, proto.OPCODE_PONG)
            return
        if frame.opcode == proto.OPCODE_PONG:
            return
        if frame.opcode == proto.OPCODE_CLOSE:
            self.close_code = proto.parse_close_payload(frame.payload)[0]
            self.closed_by_server = True
            return
        try:
            channel, data = self._demux.frame(frame)
        except proto.ProtocolError as exc:
            raise StreamError("invalid exec stream: {0}".format(exc), **self.location) from exc
        if not data:
            return
        if channel == proto.STDOUT:
            self._stdout.append(data)
            self.stdout_bytes += len(data)
        elif channel == proto.STDERR:
            self.stderr.write(data)
        elif channel == proto.STATUS:
            if len(self._status) + len(data) > 1024 * 1024:
                raise StreamError("status channel larger than 1 MiB", **self.location)
            self._status += data
        # channel 0 echoes and resize are not sent by the server for non-tty exec

    def read_stdout(self, size=-1):
        """Up to `size` bytes of stdout (all buffered if -1); b"" at end of stream."""
        while not self._stdout:
            if not self._pump(block=True):
                return b""
        if size is None or size < 0:
            data = b"".join(self._stdout)
            self._stdout = []
            return data
        first = self._stdout[0]
        if len(first) <= size:
            self._stdout.pop(0)
            return first
        self._stdout[0] = first[size:]
        return first[:size]

    # file-like alias so tarfile can read the stream directly
    read = read_stdout

    def read_stdout_available(self, size, linger=0.0):
        """Up to `size` bytes of stdout: waits for the first bytes, then takes what else arrives before `size` is
        reached or nothing came for `linger` seconds; b"" at end of stream.

        A fast stream comes in frames of a few KiB; taking them a megabyte at a time lets the caller write and hash
        once per megabyte, while a stream that pauses is still passed on as far as it came, `linger` later.
        """
        while not self._stdout:
            if not self._pump(block=True):
                return b""
        buffered = sum(len(piece) for piece in self._stdout)
        while buffered < size and self._readable_within(linger):
            before = self.stdout_bytes
            if not self._pump(block=True):
                break
            buffered += self.stdout_bytes - before
        pieces, count = [], 0
        while self._stdout and count < size:
            piece = self._stdout[0]
            if count + len(piece) <= size:
                pieces.append(self._stdout.pop(0))
                count += len(piece)
            else:
                pieces.append(piece[:size - count])
                self._stdout[0] = piece[size - count:]
                count = size
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def drain_to(self, sink):
        """Copy all remaining stdout into sink.write()."""
        while True:
            data = self.read_stdout()
            if not data:
                return
            sink.write(data)

    def finish(self):
        """Read to the end; the ExitStatus from the status channel.

        Raises StreamError when the stream ended without one: a command whose
        status we never saw cannot be called successful.
        """
        while self._pump(block=True):
            if self._stdout:
                raise StreamError("unread stdout left when finishing the exec", **self.location)
        if self._stdout:
            raise StreamError("unread stdout left when finishing the exec", **self.location)
        if not self._status:
            raise StreamError(
                "exec stream ended without an exit status (connection cut, close code {0})".format(self.close_code),
                **self.location
            )
        try:
            return proto.parse_exit_status(bytes(self._status))
        except proto.ProtocolError as exc:
            raise StreamError(str(exc), **self.location) from exc

    def status_after_error(self):
        """The exit status after reading or sending failed, or None when the stream is gone too.

        What the command says (tar's error, a kill) explains a failure better
        than the broken stream does.
        """
        try:
            while self.read_stdout():
                pass
            return self.finish()
        except StatesafeError:
            return None

    # -- writing -------------------------------------------------------------

    def _send_frame(self, payload, opcode=proto.OPCODE_BINARY):
        frame = proto.encode_client_frame(payload, os.urandom(4), opcode)
        remaining = self._remaining()
        stall = self.stdin_stall_seconds
        self._sock.settimeout(stall if remaining is None else min(remaining, stall))
        self._read_timeout_set = None  # the next read sets its own
        try:
            self._sock.sendall(frame)
        except socket.timeout as exc:
            if remaining is not None and remaining <= stall:
                raise ExecTimeout("command did not read its input in time", **self.location) from exc
            raise StreamError("command took no input for {0} s; it probably died".format(stall), **self.location) from exc
        except (socket.error, ssl.SSLError) as exc:
            raise StreamError("exec stream broke while sending: {0}".format(exc), **self.location) from exc

    def send_stdin(self, data):
        view = memoryview(data)
        for start in range(0, len(view), STDIN_FRAME):
            # Drain what the server sent so far; this also notices an early exit.
            while self._readable_now() and self._pump(block=False):
                pass
            if self.closed_by_server:
                raise StreamError("command ended before reading all of its input", **self.location)
            chunk = view[start:start + STDIN_FRAME]
            self._send_frame(proto.stdin_message(chunk))
            self.stdin_bytes += len(chunk)

    def close_stdin(self):
        """Signal EOF on stdin (v5); with v4 the command must stop reading by itself."""
        if self.protocol == proto.PROTOCOL_V5 and not self.closed_by_server:
            self._send_frame(proto.close_stdin_message())

    def diagnostics(self):
        """What this session saw, for an error message: bytes, exit status frame, close."""
        status = bytes(self._status)
        return {
            "protocol": self.protocol,
            "stdout_bytes": self.stdout_bytes,
            "stdin_bytes": self.stdin_bytes,
            "stderr_bytes": self.stderr.total,
            "status_arrived": bool(status),
            "status": status[:1024].decode("utf-8", "replace") if status else None,
            "closed_by_server": self.closed_by_server,
            "close_code": self.close_code,
        }

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, tb):
        self.close()
        return False

    def close(self):
        try:
            self._ws.close(timeout=1)
        except Exception:  # pylint: disable=broad-except
            # Closing a socket that already broke must not mask the real error.
            pass
