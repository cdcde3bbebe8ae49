from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import struct
from urllib.parse import parse_qsl, urlsplit

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import exec_protocol as proto


def server_frame(payload, opcode=proto.OPCODE_BINARY, fin=True, mask_key=None):
    """A frame as a server (or, with mask_key, a client) would put it on the wire."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask_key else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask_key:
        masked = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
        return header + mask_key + masked
    return header + payload


class TestExecUrl:
    def test_https_becomes_wss_with_repeated_command(self):
        url = proto.exec_url("https://api.example:6443", "ns", "pod-0", ["sh", "-c", "echo a b&c"],
                             container="db", stdin=True)
        parts = urlsplit(url)
        assert parts.scheme == "wss"
        assert parts.path == "/api/v1/namespaces/ns/pods/pod-0/exec"
        query = parse_qsl(parts.query)
        assert [v for k, v in query if k == "command"] == ["sh", "-c", "echo a b&c"]
        assert ("container", "db") in query
        assert ("stdin", "true") in query and ("tty", "false") in query

    def test_http_and_base_path_kept(self):
        url = proto.exec_url("http://proxy:8001/k8s/", "a", "b", ["ls"])
        assert url.startswith("ws://proxy:8001/k8s/api/v1/namespaces/a/pods/b/exec?command=ls")
        assert "container=" not in url

    @pytest.mark.parametrize("host", ["ftp://x", "localhost:6443"])
    def test_refuses_other_schemes(self, host):
        with pytest.raises(ValueError):
            proto.exec_url(host, "a", "b", ["ls"])

    def test_refuses_empty_command(self):
        with pytest.raises(ValueError):
            proto.exec_url("https://x", "a", "b", [])


class TestClientFrames:
    @pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200000])
    def test_roundtrip_through_parser(self, size):
        payload = os.urandom(size)
        frame = proto.encode_client_frame(payload, b"\x01\x02\x03\x04")
        assert frame[0] == 0x80 | proto.OPCODE_BINARY
        assert frame[1] & 0x80, "client frames must be masked"
        frames = proto.FrameParser().feed(frame)
        assert len(frames) == 1
        assert frames[0].payload == payload and frames[0].fin

    def test_mask_key_must_be_four_bytes(self):
        with pytest.raises(ValueError):
            proto.encode_client_frame(b"x", b"abc")

    def test_stdin_and_close_messages(self):
        assert proto.stdin_message(b"abc") == b"\x00abc"
        assert proto.close_stdin_message() == b"\xff\x00"


class TestFrameParser:
    def test_byte_by_byte_feeding_yields_each_frame_once(self):
        wire = server_frame(b"\x01hello") + server_frame(b"\x02oops") + server_frame(b"\x03{}")
        parser = proto.FrameParser()
        frames = []
        for i in range(len(wire)):
            frames.extend(parser.feed(wire[i:i + 1]))
        assert [f.payload for f in frames] == [b"\x01hello", b"\x02oops", b"\x03{}"]
        assert parser.pending == 0

    @pytest.mark.parametrize("size", [125, 126, 65535, 65536, 1 << 20])
    def test_length_encodings(self, size):
        payload = b"\x01" + b"x" * (size - 1)
        [frame] = proto.FrameParser().feed(server_frame(payload))
        assert len(frame.payload) == size

    def test_control_frames(self):
        wire = server_frame(b"hi", proto.OPCODE_PING) + server_frame(struct.pack("!H", 1000) + b"bye", proto.OPCODE_CLOSE)
        ping, close = proto.FrameParser().feed(wire)
        assert ping.opcode == proto.OPCODE_PING and ping.payload == b"hi"
        assert proto.parse_close_payload(close.payload) == (1000, "bye")
        assert proto.parse_close_payload(b"") == (None, "")

    @pytest.mark.parametrize("wire, message", [
        (b"\xc2\x00", "reserved bits"),
        (b"\x83\x00", "unknown WebSocket opcode"),
        (b"\x89\x7e\x00\x80" + b"x" * 128, "control frame"),
        (b"\x09\x00", "control frame"),
    ])
    def test_protocol_violations(self, wire, message):
        with pytest.raises(proto.ProtocolError, match=message):
            proto.FrameParser().feed(wire)

    def test_oversized_frame_refused_before_buffering_it(self):
        parser = proto.FrameParser(max_payload=1000)
        with pytest.raises(proto.ProtocolError, match="exceeds"):
            parser.feed(struct.pack("!BBH", 0x82, 126, 1001))

    def test_masked_server_frame_is_unmasked(self):
        [frame] = proto.FrameParser().feed(server_frame(b"\x01data", mask_key=b"\x10\x20\x30\x40"))
        assert frame.payload == b"\x01data"


class TestChannelDemux:
    def test_channels(self):
        demux = proto.ChannelDemux()
        assert demux.frame(proto.Frame(True, proto.OPCODE_BINARY, b"\x01out")) == (1, b"out")
        assert demux.frame(proto.Frame(True, proto.OPCODE_BINARY, b"\x02err")) == (2, b"err")
        assert demux.frame(proto.Frame(True, proto.OPCODE_TEXT, b"\x03{}")) == (3, b"{}")
        assert demux.frame(proto.Frame(True, proto.OPCODE_BINARY, b"\x01")) == (1, b"")

    def test_continuation_keeps_first_channel_and_is_not_reassembled(self):
        demux = proto.ChannelDemux()
        assert demux.frame(proto.Frame(False, proto.OPCODE_BINARY, b"\x02ab")) == (2, b"ab")
        assert demux.frame(proto.Frame(False, proto.OPCODE_CONTINUATION, b"\x01cd")) == (2, b"\x01cd")
        assert demux.frame(proto.Frame(True, proto.OPCODE_CONTINUATION, b"ef")) == (2, b"ef")
        assert demux.frame(proto.Frame(True, proto.OPCODE_BINARY, b"\x01x")) == (1, b"x")

    @pytest.mark.parametrize("frames", [
        [proto.Frame(True, proto.OPCODE_CONTINUATION, b"x")],
        [proto.Frame(False, proto.OPCODE_BINARY, b"\x01a"), proto.Frame(True, proto.OPCODE_BINARY, b"\x01b")],
        [proto.Frame(True, proto.OPCODE_BINARY, b"")],
        [proto.Frame(True, proto.OPCODE_PING, b"")],
    ])
    def test_violations(self, frames):
        demux = proto.ChannelDemux()
        with pytest.raises(proto.ProtocolError):
            for frame in frames:
                demux.frame(frame)


class TestExitStatus:
    def test_success(self):
        status = proto.parse_exit_status(b'{"metadata":{},"status":"Success"}')
        assert (status.rc, status.started) == (0, True)

    @pytest.mark.parametrize("code", [1, 2, 124, 137, 255])
    def test_non_zero_exit_code(self, code):
        raw = json.dumps({
            "metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command [false], exit code %d" % code,
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        })
        status = proto.parse_exit_status(raw.encode())
        assert status.rc == code and status.started

    def test_command_not_found_did_not_start(self):
        raw = {"metadata": {}, "status": "Failure", "reason": "InternalError",
               "message": 'exec: "nope": executable file not found in $PATH'}
        status = proto.parse_exit_status(json.dumps(raw))
        assert status.rc is None and not status.started and "nope" in status.message

    @pytest.mark.parametrize("raw", [
        b"not json",
        b"[]",
        b'{"status":"Pending"}',
        b'{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[]}}',
        b'{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"x"}]}}',
        b"\xff\xfe",
    ])
    def test_garbage_is_a_protocol_error(self, raw):
        with pytest.raises(proto.ProtocolError):
            proto.parse_exit_status(raw)

    @pytest.mark.parametrize("body, expected", [
        (b'{"kind":"Status","message":"pods \\"x\\" is forbidden","reason":"Forbidden"}', ('pods "x" is forbidden', "Forbidden")),
        (b"plain text error\n", ("plain text error", None)),
        (None, ("", None)),
    ])
    def test_status_from_http_body(self, body, expected):
        assert proto.status_from_http_body(body) == expected
