#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: backup_report
short_description: Report a backup run as Prometheus metrics (textfile, Pushgateway) and to a webhook
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Renders the metrics of one backup run (success or failure) in Prometheus' text format, labelled with the profile
    and namespace (see C(docs/operations.md) for the list).
  - With O(textfile_directory), writes them to C(statesafe_backup_<profile>_<namespace>.prom) there for
    node_exporter's textfile collector, atomically (a temporary file in the same directory, then a rename). A failed
    run carries the last successful run's metrics (last success time, bytes, dedup ratio) over from the previous file.
  - With O(pushgateway_url), pushes them to a Pushgateway under the grouping key job, profile and namespace; with PUT
    after a success (the group is replaced), with POST after a failure or a skipped run (only the metrics pushed are
    replaced, so the last success time stays).
  - With O(webhook_url), POSTs a JSON document (status, profile, namespace, failed step and task, reason, steps)
    when O(notify_on) says so; values in O(secrets) are masked in it.
  - With O(mail_to), sends the same notification as a plain-text mail through the SMTP server O(mail_host), under
    the same O(notify_on) condition (plain SMTP, STARTTLS or TLS; login only when O(mail_username) is set).
  - Everything that can be delivered is delivered; the task then fails naming each destination that failed, unless
    O(fail_on_delivery_error=false).
options:
  profile:
    description: The profile's name (label C(profile)).
    type: str
    required: true
  namespace:
    description: The application's namespace (label C(namespace)).
    type: str
    required: true
  status:
    description:
      - How the run ended. V(skipped) is a run the backup role skipped (nothing changed since the last complete
        archive, or min_interval). It is not a failure, and the last success's metrics are carried over.
    type: str
    required: true
    choices: [success, skipped, failure]
  started:
    description: Unix time at which the run started; no duration metric when unset.
    type: float
  finished:
    description: Unix time at which the run ended; now when unset.
    type: float
  summary:
    description: The backup role's C(backup_summary) of a successful run (C(bytes), C(bytes_added), C(artifacts),
      C(commit), C(steps)).
    type: dict
    default: {}
  components:
    description: The profile's component names in order (the steps between preflight and manifest).
    type: list
    elements: str
    default: []
  steps:
    description: The steps a failed run finished (the backup role's step records, each with C(component) and
      C(duration)); taken from O(summary) after a success.
    type: list
    elements: dict
    default: []
  retention:
    description: Whether the run includes a retention step.
    type: bool
    default: false
  failed_task:
    description: Name of the task that failed (C(ansible_failed_task.name)); says which step failed.
    type: str
  error:
    description: Why the run failed (C(ansible_failed_result.msg)).
    type: str
  textfile_directory:
    description: Directory read by node_exporter's textfile collector (C(--collector.textfile.directory)).
    type: path
  pushgateway_url:
    description: Base URL of a Pushgateway, for example V(http://pushgateway:9091).
    type: str
  pushgateway_job:
    description: The C(job) of the grouping key.
    type: str
    default: statesafe_backup
  webhook_url:
    description: URL the notification is POSTed to (it often holds a token, so it is not logged).
    type: str
  webhook_headers:
    description: Extra HTTP headers for the webhook, for example an C(Authorization) header (not logged).
    type: dict
    default: {}
  notify_on:
    description: When to call the webhook.
    type: str
    choices: [failure, always, never]
    default: failure
  secrets:
    description: Values that must never appear in the notification (masked as C(********)).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds for each HTTP request.
    type: int
    default: 10
  validate_certs:
    description: Verify TLS certificates of the Pushgateway and the webhook.
    type: bool
    default: true
  mail_to:
    description: Recipients of the notification mail; empty means no mail.
    type: list
    elements: str
    default: []
  mail_from:
    description: The sender address of the notification mail.
    type: str
    default: statesafe-backup@localhost
  mail_host:
    description: The SMTP server (required with O(mail_to)).
    type: str
  mail_port:
    description: The SMTP server's port; 0 picks 25, or 465 with O(mail_security=tls).
    type: int
    default: 0
  mail_security:
    description: C(none) (plain SMTP, for a relay on the same host or network), C(starttls) or C(tls).
    type: str
    choices: [none, starttls, tls]
    default: none
  mail_username:
    description: Log in to the SMTP server as this user (after STARTTLS or over TLS).
    type: str
  mail_password:
    description: The SMTP password for O(mail_username).
    type: str
  fail_on_delivery_error:
    description: Fail the task when the textfile, the push or the webhook could not be delivered.
    type: bool
    default: true
attributes:
  check_mode:
    description: Renders the metrics and the notification but writes, pushes and sends nothing.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Each call reports one run; calling it again reports it again.
    support: none
"""

EXAMPLES = r"""
- name: Metrics for node_exporter and the Pushgateway; a webhook call when the run failed
  statesafe.backup.backup_report:
    profile: softwarefactory
    namespace: sf
    status: failure
    started: 1795000000
    components: [config, workloads, mariadb, zookeeper, softwarefactory]
    failed_task: "Preflight | the API answers, the namespace exists, every verb the plan needs is allowed"
    error: namespace sf not found
    textfile_directory: /var/lib/prometheus/node-exporter
    pushgateway_url: http://pushgateway.monitoring:9091
    webhook_url: "{{ lookup('ansible.builtin.env', 'STATESAFE_WEBHOOK') }}"
    mail_to: [oncall@example.com]
    mail_host: smtp.example.com
    mail_security: starttls
    mail_username: statesafe
    mail_password: "{{ lookup('ansible.builtin.env', 'STATESAFE_SMTP_PASSWORD') }}"
"""

RETURN = r"""
status:
  description: The run's status as reported.
  returned: always
  type: str
metrics:
  description: The metrics in Prometheus' text format, as written and pushed.
  returned: always
  type: str
textfile:
  description: The file written (C(null) without O(textfile_directory)).
  returned: always
  type: str
pushed:
  description: Whether the Pushgateway accepted the metrics.
  returned: always
  type: bool
push_url:
  description: The Pushgateway URL of the group (C(null) without O(pushgateway_url)).
  returned: always
  type: str
notified:
  description: Whether the webhook accepted the notification.
  returned: always
  type: bool
mailed:
  description: Whether the SMTP server accepted the notification mail for every recipient.
  returned: always
  type: bool
notification:
  description: The JSON document sent (or that would be sent) to the webhook; the mail carries the same values.
  returned: always
  type: dict
errors:
  description: The destinations that failed, each with the reason.
  returned: always
  type: list
  elements: str
"""

import json
import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import run_module
from ansible_collections.statesafe.backup.plugins.module_utils.report import metrics as bm

ARGUMENT_SPEC = dict(
    profile=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    status=dict(type="str", required=True, choices=["success", "skipped", "failure"]),
    started=dict(type="float"),
    finished=dict(type="float"),
    summary=dict(type="dict", default={}),
    components=dict(type="list", elements="str", default=[]),
    steps=dict(type="list", elements="dict", default=[]),
    retention=dict(type="bool", default=False),
    failed_task=dict(type="str"),
    error=dict(type="str"),
    textfile_directory=dict(type="path"),
    pushgateway_url=dict(type="str"),
    pushgateway_job=dict(type="str", default="statesafe_backup"),
    webhook_url=dict(type="str", no_log=True),
    webhook_headers=dict(type="dict", default={}, no_log=True),
    notify_on=dict(type="str", choices=["failure", "always", "never"], default="failure"),
    secrets=dict(type="list", elements="str", default=[], no_log=True),
    timeout=dict(type="int", default=10),
    validate_certs=dict(type="bool", default=True),
    mail_to=dict(type="list", elements="str", default=[]),
    mail_from=dict(type="str", default="statesafe-backup@localhost"),
    mail_host=dict(type="str"),
    mail_port=dict(type="int", default=0),
    mail_security=dict(type="str", choices=["none", "starttls", "tls"], default="none"),
    mail_username=dict(type="str"),
    mail_password=dict(type="str", no_log=True),
    fail_on_delivery_error=dict(type="bool", default=True),
)


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


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_by={"mail_username": ["mail_password"]})
    result = run_module(module, lambda: report(module.params, module.check_mode), catch=(OSError, ValueError),
                        describe=lambda exc: {"msg": "reporting the backup run of {0} in namespace {1} failed: {2}".format(
                            module.params["profile"], module.params["namespace"], exc)})
    if result["errors"] and module.params["fail_on_delivery_error"]:
        module.fail_json(msg="the report of the backup run of {0} in namespace {1} was not delivered to: {2}".format(
            module.params["profile"], module.params["namespace"], "; ".join(result["errors"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
