# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delivering the report of a backup run: the metrics textfile, the Pushgateway, a webhook and a mail.

report() is what statesafe.backup.backup_report does; metrics.py says what is
reported, this module sends it. A delivery that fails is named in the result's
errors rather than raised, so one unreachable receiver does not hide the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url
from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.report import metrics as bm


def _http(url, method, body, headers, params):
    try:
        response = open_url(url, data=body, method=method, headers=headers, timeout=params["timeout"],
                            validate_certs=params["validate_certs"], follow_redirects="safe")
        return None, response.getcode()
    except HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace") if hasattr(exc, "read") else ""
        return "HTTP {0} {1}{2}".format(exc.code, exc.reason, (": " + detail.strip()) if detail else ""), exc.code
    except (URLError, socket.error, ValueError) as exc:
        return str(getattr(exc, "reason", exc)), None


def _mail(document, params):
    """Send the notification mail; returns None or the reason it was not accepted."""
    subject, body = bm.mail_text(document)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = params["mail_from"]
    message["To"] = ", ".join(params["mail_to"])
    message.set_content(body)
    security = params["mail_security"]
    port = params["mail_port"] or (465 if security == "tls" else 25)
    context = ssl.create_default_context()
    if not params["validate_certs"]:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if security == "tls":
            server = smtplib.SMTP_SSL(params["mail_host"], port, timeout=params["timeout"], context=context)
        else:
            server = smtplib.SMTP(params["mail_host"], port, timeout=params["timeout"])
        try:
            if security == "starttls":
                server.starttls(context=context)
            if params["mail_username"]:
                server.login(params["mail_username"], params["mail_password"] or "")
            refused = server.send_message(message)
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except (smtplib.SMTPException, OSError) as exc:
        return str(exc) or exc.__class__.__name__
    if refused:
        return "refused recipients: " + ", ".join(sorted(refused))
    return None


def report(params, check_mode):
    if params["mail_to"] and not params["mail_host"]:
        raise ValueError("mail_to is set but mail_host is not: name the SMTP server that sends the notification mail")
    run = {
        "profile": params["profile"], "namespace": params["namespace"], "status": params["status"],
        "started": params["started"], "finished": params["finished"] or time.time(),
        "summary": params["summary"], "components": params["components"],
        "steps": (params["summary"] or {}).get("steps") or params["steps"] if params["status"] == "success"
        else params["steps"],
        "retention": params["retention"], "failed_task": params["failed_task"], "error": params["error"],
    }
    labels = {"profile": params["profile"], "namespace": params["namespace"]}
    result = {"status": params["status"], "textfile": None, "pushed": False, "push_url": None, "notified": False,
              "mailed": False, "errors": [], "changed": False}
    previous = {}
    name = bm.textfile_name(params["profile"], params["namespace"])
    directory = params["textfile_directory"]
    if directory and os.path.isfile(os.path.join(directory, name)):
        with open(os.path.join(directory, name)) as stream:
            previous = bm.carry_over(stream.read(), labels)
    text = bm.render(bm.run_samples(run, previous), labels)
    result["metrics"] = text
    result["notification"] = bm.notification(run, host=socket.gethostname(), secrets=params["secrets"])
    if directory:
        result["textfile"] = os.path.join(directory, name)
        if not check_mode:
            try:
                local_files.atomic_write(os.path.join(directory, name), text.encode("utf-8"), 0o644, fsync=True)
                result["changed"] = True
            except (IOError, OSError) as exc:
                result["errors"].append("textfile {0}: {1}".format(result["textfile"], exc))
    if params["pushgateway_url"]:
        url = params["pushgateway_url"].rstrip("/") + bm.pushgateway_path(params["pushgateway_job"], labels)
        result["push_url"] = url
        if not check_mode:
            # The grouping key carries profile and namespace; the pushed samples must not repeat them.
            body = bm.render(bm.run_samples(run, previous), {})
            error, _code = _http(url, "PUT" if params["status"] == "success" else "POST", body.encode("utf-8"),
                                 {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, params)
            if error:
                result["errors"].append("pushgateway {0}: {1}".format(url, error))
            else:
                result["pushed"] = result["changed"] = True
    if params["webhook_url"] and bm.should_notify(params["notify_on"], params["status"]) and not check_mode:
        headers = {"Content-Type": "application/json"}
        headers.update(params["webhook_headers"])
        error, _code = _http(params["webhook_url"], "POST", json.dumps(result["notification"]).encode("utf-8"),
                             headers, params)
        if error:
            # The URL may hold a token: name the host only.
            host = params["webhook_url"].split("//", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
            result["errors"].append("webhook on {0}: {1}".format(host, error))
        else:
            result["notified"] = result["changed"] = True
    if params["mail_to"] and bm.should_notify(params["notify_on"], params["status"]) and not check_mode:
        error = _mail(result["notification"], params)
        if error:
            result["errors"].append("mail via {0}: {1}".format(params["mail_host"], error))
        else:
            result["mailed"] = result["changed"] = True
    return result
