"""backup_report's notification mail, delivered over a real SMTP exchange to a receiver on a localhost port.

The receiver is a small SMTP server (socketserver thread) that records each accepted message and can refuse a
recipient; smtplib in report/deliver.py talks to it exactly as it would to a relay. No part of it is replaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email
import email.policy
import socket
import socketserver
import threading

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.report import metrics as bm
from ansible_collections.statesafe.backup.plugins.module_utils.report import deliver

SECRET = "hunter2-db-password"


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        server = self.server
        self.reply("220 test-receiver ESMTP")
        sender, recipients = None, []
        while True:
            line = self.rfile.readline().decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if not line or verb == "QUIT":
                self.reply("221 bye")
                return
            if verb in ("EHLO", "HELO"):
                self.reply("250 test-receiver")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].strip(" <>"), []
                self.reply("250 ok")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip(" <>")
                if address in server.refuse:
                    self.reply("550 no such user " + address)
                else:
                    recipients.append(address)
                    self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = []
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b""):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                server.messages.append((sender, recipients, email.message_from_bytes(b"".join(data), policy=email.policy.default)))
                self.reply("250 queued")
            elif verb == "RSET":
                self.reply("250 ok")
            else:
                self.reply("502 not implemented")


@pytest.fixture
def receiver():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.messages, server.refuse = [], set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def params(port, **overrides):
    base = {
        "profile": "softwarefactory", "namespace": "sf", "status": "failure", "started": 1795000000.0,
        "finished": 1795000100.0, "summary": {}, "components": ["config", "mariadb"],
        "steps": [{"step": "preflight", "status": "ok", "duration": 1.0}], "retention": False,
        "failed_task": "Dump | mariadb", "error": "mariadb-dump: Got error: 1045 password=" + SECRET,
        "textfile_directory": None, "pushgateway_url": None, "pushgateway_job": "statesafe_backup",
        "webhook_url": None, "webhook_headers": {}, "notify_on": "failure", "secrets": [SECRET], "timeout": 5,
        "validate_certs": True, "fail_on_delivery_error": True,
        "mail_to": ["oncall@example.com", "backup-team@example.com"], "mail_from": "statesafe@example.com",
        "mail_host": "127.0.0.1", "mail_port": port, "mail_security": "none", "mail_username": None,
        "mail_password": None,
    }
    base.update(overrides)
    return base


def test_a_failure_is_mailed_to_every_recipient_with_secrets_masked(receiver):
    result = deliver.report(params(receiver.server_address[1]), check_mode=False)
    assert result["mailed"] is True and result["errors"] == []
    [(sender, recipients, message)] = receiver.messages
    assert sender == "statesafe@example.com"
    assert recipients == ["oncall@example.com", "backup-team@example.com"]
    assert message["Subject"].startswith("[statesafe] statesafe backup of softwarefactory in namespace sf FAILED at step ")
    body = message.get_content()
    assert "Failed task: Dump | mariadb" in body
    assert "Reason: mariadb-dump: Got error: 1045" in body
    assert SECRET not in body and SECRET not in message.as_string()


def test_a_success_is_not_mailed_unless_asked(receiver):
    port = receiver.server_address[1]
    quiet = deliver.report(params(port, status="success", error=None, failed_task=None), check_mode=False)
    assert quiet["mailed"] is False and receiver.messages == []
    loud = deliver.report(params(port, status="success", error=None, failed_task=None, notify_on="always"),
                          check_mode=False)
    assert loud["mailed"] is True
    assert receiver.messages[0][2]["Subject"].endswith("in namespace sf succeeded")


def test_check_mode_sends_nothing(receiver):
    result = deliver.report(params(receiver.server_address[1]), check_mode=True)
    assert result["mailed"] is False and receiver.messages == []


def test_a_refused_recipient_is_named(receiver):
    receiver.refuse.add("backup-team@example.com")
    result = deliver.report(params(receiver.server_address[1]), check_mode=False)
    assert result["mailed"] is False
    assert result["errors"] == ["mail via 127.0.0.1: refused recipients: backup-team@example.com"]
    # The other recipient still got it.
    assert [r for _s, r, _m in receiver.messages] == [["oncall@example.com"]]


def test_an_unreachable_server_is_an_error_naming_it():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = deliver.report(params(port), check_mode=False)
    assert result["mailed"] is False
    [error] = result["errors"]
    assert error.startswith("mail via 127.0.0.1: ") and "refused" in error.lower()


def test_mail_to_without_a_server_is_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="mail_to is set but mail_host is not"):
        deliver.report(params(25, mail_host=None), check_mode=False)


def test_mail_text_lists_the_steps():
    subject, body = bm.mail_text(bm.notification({
        "profile": "p", "namespace": "n", "status": "failure", "finished": 1.0, "error": "boom",
        "steps": [{"step": "preflight", "status": "ok"}], "failed_task": "Preflight | x"}))
    assert subject.startswith("[statesafe] statesafe backup of p in namespace n FAILED")
    assert "Reason: boom" in body and "Steps:" in body
