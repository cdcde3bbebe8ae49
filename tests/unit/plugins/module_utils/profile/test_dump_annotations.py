"""Dumps declared with annotations (ours and K8up's): what a dump component gets, and every bad input named."""

import shlex

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.profile import dump_annotations as da
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

CONTAINERS = ("app", "db")


def fields(annotations, containers=CONTAINERS):
    return da.dump_fields(annotations, containers, "shop", "pod db-0")


def refused(annotations, containers=CONTAINERS):
    with pytest.raises(InvalidInput) as caught:
        fields(annotations, containers)
    assert caught.value.location == {"namespace": "shop"}
    assert caught.value.message.startswith("pod db-0: ")
    return caught.value.message[len("pod db-0: "):]


def test_no_dump_annotations_is_no_dump():
    assert fields({"app": "x", "pre.hook.backup.velero.io/command": "sync"}) is None


def test_ours_with_every_field():
    got = fields({da.OURS["command"]: "pg_dumpall -U postgres", da.OURS["container"]: "db",
                  da.OURS["extension"]: ".sql", da.OURS["timeout"]: "2m", da.OURS["trailer"]: "-- done\\s*$",
                  da.RESTORE_COMMAND: "psql -U postgres"})
    assert got == {"command": "pg_dumpall -U postgres", "restore_command": "psql -U postgres", "container": "db",
                   "extension": "sql", "timeout": 120, "trailer": "-- done\\s*$", "spelling": "statesafe",
                   "unused": []}


def test_a_json_command_runs_exactly_its_words():
    got = fields({da.OURS["command"]: '["pg_dump", "--dbname", "my db"]', da.RESTORE_COMMAND: '["psql", "-q"]'})
    assert shlex.split(got["command"]) == ["pg_dump", "--dbname", "my db"]
    assert shlex.split(got["restore_command"]) == ["psql", "-q"]


def test_k8up_runs_without_a_shell_so_its_words_are_quoted_for_ours():
    """K8up splits quote-aware and runs no shell: `$HOME` stays a literal word, `sh -c '...'` stays one argument."""
    got = fields({da.K8UP["command"]: "sh -c 'mysqldump -p\"$PW\" --all-databases'",
                  da.K8UP["extension"]: ".sql", da.K8UP["container"]: "db"})
    assert shlex.split(got["command"]) == ["sh", "-c", 'mysqldump -p"$PW" --all-databases']
    assert (got["extension"], got["container"], got["spelling"]) == ("sql", "db", "k8up")
    assert "restore_command" not in got
    assert shlex.split(fields({da.K8UP["command"]: "echo $HOME"})["command"]) == ["echo", "$HOME"]


def test_defaults_follow_kubectl_and_the_extension_is_dump():
    assert fields({da.K8UP["command"]: "dump"})["container"] == "app"
    got = fields({da.K8UP["command"]: "dump", "kubectl.kubernetes.io/default-container": "db"})
    assert (got["container"], got["extension"]) == ("db", "dump")


def test_ours_come_first_and_k8ups_are_reported_unused():
    got = fields({da.OURS["command"]: "ours", da.K8UP["command"]: "theirs", da.K8UP["extension"]: ".sql"})
    assert got["command"] == "ours"
    assert got["extension"] == "dump"
    assert got["unused"] == ["k8up.io/backupcommand, k8up.io/file-extension not used: "
                             "statesafe.backup/dump-command is"]


@pytest.mark.parametrize("annotations, message", [
    ({"statesafe.backup/dump-comand": "x"}, "unknown dump annotation statesafe.backup/dump-comand"),
    ({"k8up.io/backupcomand": "x"}, "unknown dump annotation k8up.io/backupcomand"),
    ({"statesafe.backup/restore-cmd": "x"}, "unknown dump annotation statesafe.backup/restore-cmd"),
    ({da.OURS["container"]: "db"}, "annotation statesafe.backup/dump-command is missing, but "
                                   "statesafe.backup/dump-container is set: a dump needs a command"),
    ({da.K8UP["extension"]: ".sql"}, "annotation k8up.io/backupcommand is missing, but k8up.io/file-extension is "
                                     "set: a dump needs a command"),
    ({da.RESTORE_COMMAND: "psql"}, "annotation statesafe.backup/restore-command is set, but no dump command"),
    ({da.OURS["command"]: "x", da.OURS["container"]: "sidecar"},
     "annotation statesafe.backup/dump-container: there is no container 'sidecar' (there are app, db)"),
    ({da.OURS["command"]: "x", da.OURS["timeout"]: "soon"},
     "annotation statesafe.backup/dump-timeout: timeout 'soon' is not a number of seconds"),
    ({da.OURS["command"]: "x", da.OURS["extension"]: "s q/l"},
     "annotation statesafe.backup/dump-extension: 's q/l' is not a file extension"),
    ({da.OURS["command"]: "x", da.OURS["trailer"]: "(unclosed"},
     "annotation statesafe.backup/dump-trailer: '(unclosed' is not a regular expression"),
    ({da.OURS["command"]: " "}, "annotation statesafe.backup/dump-command: the command is empty"),
    ({da.OURS["command"]: "[not json"}, "annotation statesafe.backup/dump-command: the command starts with '['"),
    ({da.K8UP["command"]: "sh -c 'unbalanced"}, "annotation k8up.io/backupcommand: cannot be split into words"),
])
def test_bad_input_is_refused_naming_the_annotation(annotations, message):
    assert refused(annotations).startswith(message)


def test_k8ups_other_annotations_are_not_errors():
    assert fields({"k8up.io/backup-restic-args": "[]", "k8up.io/hostname": "node1"}) is None


def test_a_pod_without_containers_cannot_run_a_dump():
    assert "has no containers" in refused({da.K8UP["command"]: "dump"}, containers=[])


@pytest.mark.parametrize("value, out", [(None, False), ("false", True), ("0", True), ("F", True), ("true", False),
                                        ("1", False)])
def test_k8up_backup_on_a_claim(value, out):
    annotations = {} if value is None else {da.K8UP_BACKUP: value}
    assert da.claim_opted_out({"metadata": {"name": "data", "annotations": annotations}}) is out


def test_k8up_backup_that_is_no_bool_is_named():
    with pytest.raises(InvalidInput, match=r"claim data: annotation k8up.io/backup is 'no', neither true nor false"):
        da.claim_opted_out({"metadata": {"name": "data", "namespace": "shop", "annotations": {da.K8UP_BACKUP: "no"}}})
