# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backup run reports: Prometheus metrics and a failure notification. Pure functions.

A run is described by a dict (see run_record): profile, namespace, status
(success, skipped or failure), start and end times, the backup summary of a successful
run, the steps done, and for a failed run the failed task and its message.

Metrics (all gauges, labels profile and namespace):

  statesafe_backup_success                         1 when the last run succeeded (or was skipped), 0 when it failed
  statesafe_backup_skipped                         1 when the last run was skipped (unchanged, min_interval), else 0
  statesafe_backup_last_current_timestamp_seconds  last time the newest complete archive was known current: the end
                                                   of a successful run, or of a run skipped because nothing changed
  statesafe_backup_last_run_timestamp_seconds      end of the last run
  statesafe_backup_last_success_timestamp_seconds  end of the last successful run
  statesafe_backup_last_failure_timestamp_seconds  end of the last failed run
  statesafe_backup_duration_seconds                length of the last run
  statesafe_backup_bytes_staged                    bytes of the staging tree (last successful run)
  statesafe_backup_bytes_added                     bytes the repository grew by (last successful run)
  statesafe_backup_dedup_ratio                     1 - bytes_added / bytes_staged (last successful run)
  statesafe_backup_artifacts                       artifacts in the archive (last successful run)
  statesafe_backup_step_status{step}               1 ok, 0 failed, -1 not run (last run)
  statesafe_backup_step_duration_seconds{step}     per step of the last run that finished it

A failed or skipped run knows nothing new about the "last success" metrics: they are
carried over from the previous textfile (carry_over) and, on a Pushgateway,
kept by pushing the failed run with POST, which replaces only the metrics
pushed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import math
import re

PREFIX = "statesafe_backup_"

# Metrics a failed run does not know and carries over from the previous run.
CARRIED_OVER = ("last_success_timestamp_seconds", "bytes_staged", "bytes_added", "dedup_ratio", "artifacts",
                "last_failure_timestamp_seconds", "last_current_timestamp_seconds")

HELP = {
    "success": "1 when the last backup run succeeded (archive saved, validated and marked complete) or was skipped, "
               "0 when it failed.",
    "skipped": "1 when the last backup run was skipped (nothing changed, or min_interval), 0 otherwise.",
    "last_current_timestamp_seconds": "Unix time at which the newest complete archive was last known current (end of "
                                      "a successful run, or of a run skipped because nothing changed).",
    "last_run_timestamp_seconds": "Unix time at which the last backup run ended.",
    "last_success_timestamp_seconds": "Unix time at which the last successful backup run ended.",
    "last_failure_timestamp_seconds": "Unix time at which the last failed backup run ended.",
    "duration_seconds": "Seconds the last backup run took.",
    "bytes_staged": "Bytes of the staging tree saved by the last successful run.",
    "bytes_added": "Bytes the bup repository grew by in the last successful run.",
    "dedup_ratio": "Share of the staged bytes that did not grow the repository in the last successful run "
                   "(1 - bytes_added / bytes_staged; deduplication and compression).",
    "artifacts": "Artifacts (files) in the archive of the last successful run.",
    "step_status": "Status of each step in the last run: 1 ok, 0 failed, -1 not run.",
    "step_duration_seconds": "Seconds each step took in the last run.",
}

ORDER = ("success", "skipped", "last_run_timestamp_seconds", "last_success_timestamp_seconds",
         "last_current_timestamp_seconds", "last_failure_timestamp_seconds",
         "duration_seconds", "bytes_staged", "bytes_added", "dedup_ratio", "artifacts", "step_status",
         "step_duration_seconds")

# The backup role names its tasks "<Phase> | ..."; the phase says which step failed.
# Capture tasks ("Capture", and "Dump", "Volume", "Resources" per component) fail the first component not done.
_PHASES = (("Preflight", "preflight"), ("Lock", "lock"), ("Lease", "lock"), ("Changes", "lock"), ("Capture", None),
           ("Dump", None), ("Volume", None), ("Resources", None), ("Manifest", "manifest"), ("Save", "save"),
           ("State", "save"),
           ("Retention", "retention"), ("Unlock", "unlock"), ("Summary", "summary"))

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def escape_label(value):
    """A label value as the text exposition format wants it."""
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _unescape_label(value):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def format_value(value):
    """Numbers as Prometheus reads them: integers without a decimal point, floats with repr precision."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def failed_step(task_name, step_names, steps_done):
    """The step a failed task belongs to: preflight, a component's name, manifest, save, ... or 'run'."""
    name = (task_name or "").strip()
    for prefix, step in _PHASES:
        if name.startswith(prefix):
            if step is not None:
                return step
            for candidate in step_names:
                if candidate not in steps_done:
                    return candidate
            return "capture"
    return "run"


def step_statuses(run):
    """[(step, status, duration or None)] for every step of the run, in order; status 1, 0 or -1."""
    components = list(run.get("components") or [])
    done = dict((step.get("component"), step) for step in run.get("steps") or [] if step.get("component"))
    tail = ["manifest", "save"] + (["retention"] if run.get("retention") else [])
    order = ["preflight"] + components + tail
    if run["status"] == "success":
        return [(step, 1, (done.get(step) or {}).get("duration")) for step in order]
    if run["status"] == "skipped":
        return [(step, 1 if step == "preflight" else -1, None) for step in order]
    failed = failed_step(run.get("failed_task"), components, done)
    if failed not in order:
        # lock comes right after preflight, capture (hooks) right after the components; the rest at the end.
        position = {"lock": 1, "capture": 1 + len(components)}.get(failed, len(order))
        order.insert(position, failed)
    out, reached = [], False
    for step in order:
        if step == failed:
            out.append((step, 0, None))
            reached = True
        elif reached:
            out.append((step, -1, None))
        else:
            out.append((step, 1, (done.get(step) or {}).get("duration")))
    return out


def run_samples(run, previous=None):
    """[(metric suffix, extra labels, value)] for a run; previous: {suffix: value} carried over by a failed run."""
    finished = float(run["finished"])
    samples = [("success", {}, 0 if run["status"] == "failure" else 1),
               ("skipped", {}, 1 if run["status"] == "skipped" else 0),
               ("last_run_timestamp_seconds", {}, finished)]
    started = run.get("started")
    duration = max(0.0, finished - float(started)) if started not in (None, "") else None
    if run["status"] == "success":
        summary = run.get("summary") or {}
        staged = int(summary.get("bytes") or 0)
        added = summary.get("bytes_added")
        samples.append(("last_success_timestamp_seconds", {}, finished))
        samples.append(("bytes_staged", {}, staged))
        if added is not None:
            samples.append(("bytes_added", {}, int(added)))
            ratio = 1.0 - float(added) / staged if staged > 0 else 0.0
            samples.append(("dedup_ratio", {}, round(min(1.0, max(0.0, ratio)), 6)))
        samples.append(("artifacts", {}, int(summary.get("artifacts") or 0)))
        samples.append(("last_current_timestamp_seconds", {}, finished))
        if (previous or {}).get("last_failure_timestamp_seconds") is not None:
            samples.append(("last_failure_timestamp_seconds", {}, previous["last_failure_timestamp_seconds"]))
    elif run["status"] == "skipped":
        # Nothing was saved: the last success's metrics stay; the archive is known current only when every
        # revision was compared equal (a min_interval skip may have seen changes).
        current = bool((run.get("summary") or {}).get("unchanged"))
        for suffix in CARRIED_OVER:
            if suffix == "last_current_timestamp_seconds" and current:
                samples.append((suffix, {}, finished))
            elif (previous or {}).get(suffix) is not None:
                samples.append((suffix, {}, previous[suffix]))
    else:
        samples.append(("last_failure_timestamp_seconds", {}, finished))
        for suffix in CARRIED_OVER:
            if suffix != "last_failure_timestamp_seconds" and (previous or {}).get(suffix) is not None:
                samples.append((suffix, {}, previous[suffix]))
    if duration is not None:
        samples.append(("duration_seconds", {}, round(duration, 3)))
    for step, status, seconds in step_statuses(run):
        samples.append(("step_status", {"step": step}, status))
        if seconds is not None:
            samples.append(("step_duration_seconds", {"step": step}, float(seconds)))
    return samples


def render(samples, labels):
    """The text exposition format (node_exporter's textfile collector, Pushgateway), grouped and ordered."""
    lines = []
    by_suffix = {}
    for suffix, extra, value in samples:
        by_suffix.setdefault(suffix, []).append((extra, value))
    for suffix in ORDER:
        if suffix not in by_suffix:
            continue
        name = PREFIX + suffix
        lines.append("# HELP {0} {1}".format(name, HELP[suffix]))
        lines.append("# TYPE {0} gauge".format(name))
        for extra, value in by_suffix[suffix]:
            merged = dict(labels)
            merged.update(extra)
            label_text = ",".join('{0}="{1}"'.format(key, escape_label(merged[key])) for key in sorted(merged))
            lines.append("{0}{1} {2}".format(name, "{" + label_text + "}" if label_text else "", format_value(value)))
    return "\n".join(lines) + "\n"


def parse_samples(text):
    """[(name, {labels}, value)] of a text exposition; comments and unparsable lines are skipped."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        labels = dict((key, _unescape_label(val)) for key, val in _LABEL.findall(match.group(3) or ""))
        out.append((match.group(1), labels, value))
    return out


def carry_over(text, labels):
    """{suffix: value} of the CARRIED_OVER metrics for these labels in a previous textfile."""
    found = {}
    for name, sample_labels, value in parse_samples(text):
        if not name.startswith(PREFIX):
            continue
        suffix = name[len(PREFIX):]
        if suffix in CARRIED_OVER and all(sample_labels.get(k) == v for k, v in labels.items()):
            found[suffix] = int(value) if value.is_integer() else value
    return found


def pushgateway_path(job, grouping):
    """/metrics/job/<job>/<label>/<value>... with values that may hold '/' in the base64 form."""
    def part(key, value):
        value = str(value)
        if not value or "/" in value:
            encoded = base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii").rstrip("=") or "="
            return "{0}@base64/{1}".format(key, encoded)
        return "{0}/{1}".format(key, value)

    parts = [part("job", job)] + [part(key, grouping[key]) for key in sorted(grouping)]
    return "/metrics/" + "/".join(parts)


def textfile_name(profile, namespace):
    """statesafe_backup_<profile>_<namespace>.prom: one file per application, as the textfile collector reads *.prom."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", "{0}_{1}".format(profile, namespace))
    return "statesafe_backup_{0}.prom".format(safe)


def _scrub(text, secrets):
    text = str(text or "")
    for secret in secrets or ():
        if secret:
            text = text.replace(secret, "********")
    return text


def notification(run, host=None, secrets=()):
    """The JSON document POSTed to a webhook; values listed in secrets are masked wherever they appear."""
    steps = step_statuses(run)
    failed = [step for step, status, _seconds in steps if status == 0]
    summary = run.get("summary") or {}
    status = run["status"]
    subject = "statesafe backup of {0} in namespace {1} {2}".format(
        run["profile"], run["namespace"], {"success": "succeeded", "skipped": "skipped"}.get(status, "FAILED"))
    if status == "failure":
        subject += " at step {0}".format(failed[0] if failed else "run")
    document = {
        "source": "statesafe.backup",
        "event": "backup_" + status,
        "status": status,
        "summary": subject,
        "profile": run["profile"],
        "namespace": run["namespace"],
        "host": host,
        "started": run.get("started"),
        "finished": run["finished"],
        "failed_step": failed[0] if failed else None,
        "failed_task": run.get("failed_task") or None,
        "reason": _scrub(run.get("error") or (summary.get("reason") if status == "skipped" else None), secrets) or None,
        "steps": [{"step": step, "status": {1: "ok", 0: "failed", -1: "not run"}[status_value]}
                  for step, status_value, _seconds in steps],
        "commit": summary.get("commit"),
    }
    # Slack, Mattermost and Rocket.Chat incoming webhooks show "text"; others read the fields.
    document["text"] = subject + (": " + document["reason"] if document["reason"] else "")
    return document


def should_notify(notify_on, status):
    """notify_on: failure (default), always or never."""
    return notify_on == "always" or (notify_on == "failure" and status == "failure")


def mail_text(document):
    """The notification as a plain-text mail: (subject, body). Built from the webhook document, so the same values
    are masked in it."""
    lines = [document["summary"] + ".", ""]
    for label, key in (("Profile", "profile"), ("Namespace", "namespace"), ("Host", "host"),
                       ("Failed step", "failed_step"), ("Failed task", "failed_task"), ("Reason", "reason"),
                       ("Archive", "commit")):
        if document.get(key):
            lines.append("{0}: {1}".format(label, document[key]))
    if document.get("steps"):
        lines += ["", "Steps:"] + ["  {0}: {1}".format(s["step"], s["status"]) for s in document["steps"]]
    lines += ["", "-- ", "statesafe.backup (docs/operations.md: metrics, alerts and notifications)"]
    return "[statesafe] " + document["summary"], "\n".join(lines) + "\n"
