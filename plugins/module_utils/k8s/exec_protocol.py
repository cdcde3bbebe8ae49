# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes exec channel protocol over WebSocket, as pure functions.

Kubernetes multiplexes a command's stdin/stdout/stderr and its exit status over
one WebSocket: every binary message starts with a channel byte (0 stdin,
1 stdout, 2 stderr, 3 status JSON, 4 resize). v5.channel.k8s.io adds a close
signal (channel 255 followed by the channel to close) so stdin can reach EOF
without closing the socket. Nothing here does I/O: the session module feeds
bytes in and gets frames, channel payloads and exit codes out, so the parser is
unit-tested byte by byte.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import struct

try:
    from urllib.parse import quote, urlencode, urlsplit, urlunsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    pass

PROTOCOL_V5 = "v5.channel.k8s.io"
PROTOCOL_V4 = "v4.channel.k8s.io"
PREFERRED_PROTOCOLS = (PROTOCOL_V5, PROTOCOL_V4)

STDIN = 0
STDOUT = 1
STDERR = 2
STATUS = 3
RESIZE = 4
CLOSE_SIGNAL = 255

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA
_CONTROL_OPCODES = (OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG)
_DATA_OPCODES = (OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_BINARY)

# A server frame larger than this is a protocol violation for exec streams
# (the API server sends at most a few tens of KiB); refusing it keeps memory bounded.
MAX_FRAME_PAYLOAD = 16 * 1024 * 1024


class ProtocolError(ValueError):
    """The bytes on the socket are not a valid WebSocket / exec channel stream."""


def exec_url(host, namespace, pod, command, container=None, stdin=False, stdout=True, stderr=True):
    """The ws:// or wss:// URL of a pod exec, command given as an argv list."""
    if not command:
        raise ValueError("exec needs a non-empty command")
    scheme, netloc, base_path, _query, _fragment = urlsplit(host)
    ws_scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(scheme)
    if ws_scheme is None:
        raise ValueError("API host must be http(s)://, got {0!r}".format(host))
    path = "{0}/api/v1/namespaces/{1}/pods/{2}/exec".format(
        base_path.rstrip("/"), quote(namespace, safe=""), quote(pod, safe="")
    )
    query = [("command", arg) for arg in command]
    if container:
        query.append(("container", container))
    query.extend(
        [
            ("stdin", "true" if stdin else "false"),
            ("stdout", "true" if stdout else "false"),
            ("stderr", "true" if stderr else "false"),
            ("tty", "false"),
        ]
    )
    return urlunsplit((ws_scheme, netloc, path, urlencode(query, quote_via=quote), ""))


def _mask_payload(payload, mask_key):
    """XOR payload with the 4-byte mask key, whole-buffer at C speed."""
    length = len(payload)
    if not length:
        return b""
    repeated = (mask_key * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(length, "big")


def encode_client_frame(payload, mask_key, opcode=OPCODE_BINARY):
    """One final, masked client-to-server frame (RFC 6455 section 5.2)."""
    if len(mask_key) != 4:
        raise ValueError("mask key must be 4 bytes")
    payload = bytes(payload)
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + mask_key + _mask_payload(payload, mask_key)


def stdin_message(data):
    return bytes((STDIN,)) + bytes(data)


def close_stdin_message():
    """v5 only: tell the server stdin reached EOF."""
    return bytes((CLOSE_SIGNAL, STDIN))


class Frame(object):
    __slots__ = ("fin", "opcode", "payload")

    def __init__(self, fin, opcode, payload):
        self.fin = fin
        self.opcode = opcode
        self.payload = payload

    def __repr__(self):
        return "Frame(fin={0}, opcode={1}, len={2})".format(self.fin, self.opcode, len(self.payload))


class FrameParser(object):
    """Incremental RFC 6455 frame parser: feed() bytes, iterate complete frames.

    Holds at most one incomplete frame in its buffer, so memory is bounded by
    MAX_FRAME_PAYLOAD plus one read.
    """

    def __init__(self, max_payload=MAX_FRAME_PAYLOAD):
        self._buf = bytearray()
        self._max_payload = max_payload

    def feed(self, data):
        self._buf += data
        frames = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    @property
    def pending(self):
        """Bytes buffered that do not yet form a whole frame."""
        return len(self._buf)

    def _next_frame(self):
        buf = self._buf
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise ProtocolError("reserved bits set in frame header (no extension was negotiated)")
        fin = bool(first & 0x80)
        opcode = first & 0x0F
        if opcode not in _DATA_OPCODES and opcode not in _CONTROL_OPCODES:
            raise ProtocolError("unknown WebSocket opcode {0:#x}".format(opcode))
        masked = bool(second & 0x80)
        length = second & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack_from("!H", buf, 2)[0]
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack_from("!Q", buf, 2)[0]
            offset = 10
        if opcode in _CONTROL_OPCODES and (length > 125 or not fin):
            raise ProtocolError("control frame too long or fragmented")
        if length > self._max_payload:
            raise ProtocolError("frame of {0} bytes exceeds the {1} byte limit".format(length, self._max_payload))
        mask_key = None
        if masked:
            if len(buf) < offset + 4:
                return None
            mask_key = bytes(buf[offset:offset + 4])
            offset += 4
        end = offset + length
        if len(buf) < end:
            return None
        payload = bytes(buf[offset:end])
        del buf[:end]
        if mask_key is not None:
            payload = _mask_payload(payload, mask_key)
        return Frame(fin, opcode, payload)


class ChannelDemux(object):
    """Turns data frames into (channel, bytes) pieces.

    The channel byte leads each message; continuation frames of a fragmented
    message belong to the channel of its first frame and are passed on as they
    come, never reassembled.
    """

    def __init__(self):
        self._channel = None  # channel of the message being continued

    def frame(self, frame):
        """(channel, data) for a data frame; data may be empty."""
        if frame.opcode == OPCODE_CONTINUATION:
            if self._channel is None:
                raise ProtocolError("continuation frame without a message to continue")
            channel, data = self._channel, frame.payload
        elif frame.opcode in (OPCODE_BINARY, OPCODE_TEXT):
            if self._channel is not None:
                raise ProtocolError("new message started before the previous one finished")
            if not frame.payload:
                raise ProtocolError("exec message without a channel byte")
            channel, data = frame.payload[0], frame.payload[1:]
        else:
            raise ProtocolError("not a data frame: opcode {0:#x}".format(frame.opcode))
        self._channel = None if frame.fin else channel
        return channel, data


def parse_close_payload(payload):
    """(code, reason) of a close frame; code None when the frame carries none."""
    if len(payload) < 2:
        return None, ""
    code = struct.unpack_from("!H", payload, 0)[0]
    return code, payload[2:].decode("utf-8", "replace")


class ExitStatus(object):
    """What the status channel said: an exit code, or why the command did not run."""

    __slots__ = ("rc", "message", "reason", "started")

    def __init__(self, rc, message, reason=None, started=True):
        self.rc = rc
        self.message = message
        self.reason = reason
        self.started = started

    def __repr__(self):
        return "ExitStatus(rc={0!r}, reason={1!r}, started={2!r})".format(self.rc, self.reason, self.started)


def parse_exit_status(raw):
    """Interpret the metav1.Status JSON sent on channel 3 when the command ends.

    Success is rc 0. NonZeroExitCode carries the code in details.causes
    (reason ExitCode). Any other failure (executable not found, container gone)
    means the command did not run as asked: rc None, started False.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        status = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("status channel did not carry JSON: {0!r}".format(bytes(raw)[:200])) from exc
    if not isinstance(status, dict):
        raise ProtocolError("status channel JSON is not an object: {0!r}".format(status))
    state = status.get("status")
    message = status.get("message") or ""
    reason = status.get("reason")
    if state == "Success":
        return ExitStatus(0, message, reason)
    if state != "Failure":
        raise ProtocolError("status channel has unknown status {0!r}".format(state))
    if reason == "NonZeroExitCode":
        causes = (status.get("details") or {}).get("causes") or []
        for cause in causes:
            if cause.get("reason") == "ExitCode":
                try:
                    return ExitStatus(int(cause.get("message")), message, reason)
                except (TypeError, ValueError) as exc:
                    raise ProtocolError("exit code is not a number: {0!r}".format(cause.get("message"))) from exc
        raise ProtocolError("NonZeroExitCode status without an ExitCode cause: {0}".format(message))
    return ExitStatus(None, message, reason, started=False)


def status_from_http_body(body):
    """Message and reason of a metav1.Status returned with a failed handshake."""
    if not body:
        return "", None
    try:
        status = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return text.strip()[:500], None
    if isinstance(status, dict):
        return status.get("message") or "", status.get("reason")
    return str(status)[:500], None
