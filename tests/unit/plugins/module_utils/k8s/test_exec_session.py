"""ExecSession over a real socket pair: the frame reader's I/O, no API server involved."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import struct
import threading
import time
import tracemalloc

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import exec_protocol as proto
from ansible_collections.statesafe.backup.plugins.module_utils.errors import ExecTimeout, StreamError
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import BoundedBuffer, ExecSession

SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()


def frame(payload, opcode=proto.OPCODE_BINARY, fin=True):
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        header = struct.pack("!BB", first, len(payload))
    elif len(payload) < 65536:
        header = struct.pack("!BBH", first, 126, len(payload))
    else:
        header = struct.pack("!BBQ", first, 127, len(payload))
    return header + payload


class _FakeWebSocket:
    """Just what ExecSession uses of websocket-client after the handshake."""

    def __init__(self, sock):
        self.sock = sock

    def close(self, timeout=None):
        self.sock.close()


@pytest.fixture
def pair():
    client, server = socket.socketpair()
    yield client, server
    for sock in (client, server):
        try:
            sock.close()
        except OSError:
            pass


def session_for(client, protocol=proto.PROTOCOL_V5, timeout=None, stderr_limit=1024):
    import time
    deadline = None if timeout is None else time.monotonic() + timeout
    return ExecSession(_FakeWebSocket(client), protocol, {"namespace": "ns", "pod": "p", "container": "c"},
                       deadline=deadline, stderr_limit=stderr_limit)


def serve(server, data, close=True):
    def run():
        server.sendall(data)
        if close:
            server.shutdown(socket.SHUT_WR)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_stdout_stderr_status(pair):
    client, server = pair
    wire = frame(b"\x01hello ") + frame(b"\x02warn") + frame(b"\x01world") + frame(b"\x03" + SUCCESS)
    thread = serve(server, wire)
    session = session_for(client)
    sink = BoundedBuffer(1 << 20)
    session.drain_to(sink)
    status = session.finish()
    thread.join()
    assert sink.getvalue() == b"hello world"
    assert session.stderr.getvalue() == b"warn"
    assert status.rc == 0


def test_read_stdout_respects_size(pair):
    client, server = pair
    thread = serve(server, frame(b"\x01abcdef") + frame(b"\x03" + SUCCESS))
    session = session_for(client)
    assert session.read(2) == b"ab"
    assert session.read(10) == b"cdef"
    assert session.read(10) == b""
    assert session.finish().rc == 0
    thread.join()


def test_non_zero_exit(pair):
    client, server = pair
    status = {"status": "Failure", "reason": "NonZeroExitCode", "message": "x",
              "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    thread = serve(server, frame(b"\x03" + json.dumps(status).encode()))
    session = session_for(client)
    assert session.read_stdout() == b""
    assert session.finish().rc == 3
    thread.join()


def test_stream_without_status_is_an_error_even_after_all_output(pair):
    client, server = pair
    thread = serve(server, frame(b"\x01all the data"))
    session = session_for(client)
    assert session.read_stdout() == b"all the data"
    with pytest.raises(StreamError, match="without an exit status"):
        session.finish()
    thread.join()


def test_close_frame_ends_the_stream(pair):
    client, server = pair
    thread = serve(server, frame(b"\x03" + SUCCESS) + frame(struct.pack("!H", 1000), proto.OPCODE_CLOSE), close=False)
    session = session_for(client)
    assert session.finish().rc == 0
    assert session.close_code == 1000
    thread.join()


def test_ping_is_answered_with_pong(pair):
    client, server = pair
    thread = serve(server, frame(b"p1", proto.OPCODE_PING) + frame(b"\x03" + SUCCESS))
    session = session_for(client)
    assert session.finish().rc == 0
    thread.join()
    [pong] = proto.FrameParser().feed(server.recv(100))
    assert pong.opcode == proto.OPCODE_PONG and pong.payload == b"p1"


def test_garbage_on_the_wire(pair):
    client, server = pair
    thread = serve(server, b"\xf2\x00")
    session = session_for(client)
    with pytest.raises(StreamError, match="invalid exec stream"):
        session.read_stdout()
    thread.join()


def test_timeout_while_waiting(pair):
    client, _server = pair
    session = session_for(client, timeout=0.2)
    with pytest.raises(ExecTimeout):
        session.read_stdout()


def test_stderr_is_bounded(pair):
    client, server = pair
    thread = serve(server, frame(b"\x02" + b"e" * 5000) + frame(b"\x03" + SUCCESS))
    session = session_for(client, stderr_limit=100)
    session.finish()
    thread.join()
    assert session.stderr.getvalue() == b"e" * 100
    assert session.stderr.truncated and session.stderr.total == 5000


def test_stdin_frames_and_v5_close(pair):
    client, server = pair
    received = []

    def read_all():
        while True:
            chunk = server.recv(65536)
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    session = session_for(client, protocol=proto.PROTOCOL_V5)
    data = bytes(range(256)) * 600  # 153600 bytes: three frames
    session.send_stdin(data)
    session.close_stdin()
    client.shutdown(socket.SHUT_WR)
    reader.join()
    frames = proto.FrameParser().feed(b"".join(received))
    assert all(f.payload[0] in (proto.STDIN, proto.CLOSE_SIGNAL) for f in frames)
    assert b"".join(f.payload[1:] for f in frames[:-1]) == data
    assert frames[-1].payload == b"\xff\x00"
    assert session.stdin_bytes == len(data)


def test_v4_sends_no_close_signal(pair):
    client, server = pair
    session = session_for(client, protocol=proto.PROTOCOL_V4)
    session.close_stdin()
    client.shutdown(socket.SHUT_WR)
    assert server.recv(10) == b""


def test_send_after_command_ended_is_reported(pair):
    client, server = pair
    server.sendall(frame(b"\x03" + SUCCESS))
    server.shutdown(socket.SHUT_WR)
    session = session_for(client)
    with pytest.raises(StreamError, match="ended before reading all of its input"):
        session.send_stdin(b"x" * 200000)


def test_large_stream_memory_is_bounded(pair):
    """32 MiB through the reader while the consumer discards it: peak memory stays small."""
    client, server = pair
    chunk = b"\x01" + b"z" * 32768
    total_frames = 1024

    def run():
        data = frame(chunk)
        for _index in range(total_frames):
            server.sendall(data)
        server.sendall(frame(b"\x03" + SUCCESS))
        server.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run)
    tracemalloc.start()
    thread.start()
    session = session_for(client)
    received = 0
    while True:
        data = session.read_stdout(1 << 20)
        if not data:
            break
        received += len(data)
    status = session.finish()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    thread.join()
    assert status.rc == 0
    assert received == total_frames * 32768
    assert peak < 4 * 1024 * 1024, "reader held %d bytes" % peak


def test_bounded_buffer():
    buf = BoundedBuffer(5)
    buf.write(b"abc")
    assert not buf.truncated
    buf.write(b"defg")
    assert buf.getvalue() == b"abcde" and buf.truncated and buf.total == 7


def test_send_that_makes_no_progress_is_a_stream_error(pair):
    client, _server = pair  # the server never reads
    session = session_for(client)
    session.stdin_stall_seconds = 0.5
    with pytest.raises(StreamError, match="took no input"):
        session.send_stdin(b"x" * (8 * 1024 * 1024))


def test_send_past_the_deadline_is_a_timeout(pair):
    client, _server = pair
    session = session_for(client, timeout=0.5)
    with pytest.raises(ExecTimeout):
        session.send_stdin(b"x" * (8 * 1024 * 1024))


def test_a_read_after_a_send_waits_by_the_deadline_not_by_the_send_stall(pair):
    """A read keeps the socket timeout it set for up to a second; a send in between sets its own (the stall bound),
    which the next read must replace."""
    client, server = pair

    def run():
        server.sendall(frame(b"\x01first"))
        server.recv(1 << 16)  # the stdin frame
        time.sleep(0.6)  # longer than the send's stall bound
        server.sendall(frame(b"\x01second") + frame(b"\x03" + SUCCESS))
        server.shutdown(socket.SHUT_WR)
    thread = threading.Thread(target=run)
    thread.start()
    session = session_for(client, timeout=30)
    session.stdin_stall_seconds = 0.3
    assert session.read_stdout() == b"first"
    session.send_stdin(b"input")
    assert session.read_stdout() == b"second"
    assert session.finish().rc == 0
    thread.join()


def test_read_stdout_available_joins_the_frames_that_arrived_up_to_its_size(pair):
    client, server = pair
    pieces = [os.urandom(8192) for frame_number in range(10)]  # 80 KiB: within the socket pair's buffer
    thread = serve(server, b"".join(frame(b"\x01" + piece) for piece in pieces) + frame(b"\x03" + SUCCESS))
    thread.join()  # everything is on the wire before the first read
    session = session_for(client)
    got = []
    while True:
        data = session.read_stdout_available(30000)
        if not data:
            break
        got.append(data)
    assert b"".join(got) == b"".join(pieces)
    assert [len(data) for data in got] == [30000, 30000, 21920]  # not one read per 8 KiB frame
    assert session.finish().rc == 0


def test_read_stdout_available_passes_on_what_came_when_the_stream_pauses(pair):
    """A command that writes 64 KiB and then pauses: the reader gets the 64 KiB without waiting for more."""
    client, server = pair
    first = os.urandom(65536)

    def run():
        server.sendall(b"".join(frame(b"\x01" + first[i:i + 8192]) for i in range(0, len(first), 8192)))
        time.sleep(1.5)
        server.sendall(frame(b"\x01rest") + frame(b"\x03" + SUCCESS))
        server.shutdown(socket.SHUT_WR)
    thread = threading.Thread(target=run)
    thread.start()
    session = session_for(client, timeout=30)
    started = time.monotonic()
    got = b""
    while len(got) < len(first):
        got += session.read_stdout_available(1 << 20, linger=0.2)
    assert time.monotonic() - started < 1.0, "the reader waited for the rest of the stream"
    assert got == first
    assert session.read_stdout_available(1 << 20, linger=0.2) == b"rest"
    assert session.read_stdout_available(1 << 20) == b""
    assert session.finish().rc == 0
    thread.join()


def test_read_stdout_available_waits_up_to_linger_for_more(pair):
    """Frames 0.05 s apart are one piece when the reader lingers 0.5 s for more."""
    client, server = pair

    def run():
        for number in range(4):
            server.sendall(frame(b"\x01" + bytes([65 + number]) * 1000))
            time.sleep(0.05)
        server.sendall(frame(b"\x03" + SUCCESS))
        server.shutdown(socket.SHUT_WR)
    thread = threading.Thread(target=run)
    thread.start()
    session = session_for(client, timeout=30)
    assert session.read_stdout_available(1 << 20, linger=0.5) == b"A" * 1000 + b"B" * 1000 + b"C" * 1000 + b"D" * 1000
    assert session.finish().rc == 0
    thread.join()
