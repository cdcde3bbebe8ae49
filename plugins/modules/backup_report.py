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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import run_module
from ansible_collections.statesafe.backup.plugins.module_utils.report.deliver import report

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
