#!/usr/bin/env bash
# make demo: the sample Software Factory stack backed up, lost and restored, told as a short story.
# Needs the local cluster (make cluster). Work files go to $DEMO_DIR (default: a new temporary directory).
# The stack runs as on a production cluster: namespace sf-demo enforces PodSecurity `restricted`, every pod runs
# as a non-root uid, and an operator owns the StatefulSets and Services (sample.sh deploy --operator;
# the operator is the TEST STAND-IN for sf-operator, tests/cluster/images/sf-operator-standin, since sf-operator
# cannot be built here). The restore recreates the namespace with its label and orders itself around the operator
# (profiles/softwarefactory-operator.yml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv=$("$root/tests/venv.sh")
export KUBECONFIG=${KUBECONFIG:-$("$here/../cluster.sh" kubeconfig)}
export KUBECTL=${KUBECTL:-$(dirname "$KUBECONFIG")/bin/kubectl}
work=${DEMO_DIR:-$(mktemp -d /tmp/statesafe-demo.XXXXXX)}
mkdir -p "$work"
collections=$(mktemp -d /tmp/statesafe-demo-collections.XXXXXX)
trap 'rm -rf "$collections"' EXIT
mkdir -p "$collections/ansible_collections/statesafe"
ln -s "$root" "$collections/ansible_collections/statesafe/backup"
export ANSIBLE_COLLECTIONS_PATH=$collections ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
export ANSIBLE_NOCOLOR=1
# A namespace of its own: the tests deploy the default shape into sf, and a namespace keeps its shape.
ns=${SAMPLE_NAMESPACE:-sf-demo}
export SAMPLE_NAMESPACE=$ns
profile=softwarefactory-operator

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
playbook() {  # playbook <name> <log> [-e ...]: run quietly, show the role's summary line, keep the log
  local name=$1 log=$2
  shift 2
  if ! "$venv/bin/ansible-playbook" "$root/playbooks/$name" -e "kubeconfig=$KUBECONFIG" \
      -e "app_namespace=$ns" -e "profile=$profile" -e "repository=$work/repo" \
      -e "ansible_python_interpreter=$venv/bin/python" "$@" >"$log" 2>&1; then
    grep -E 'fatal|msg' "$log" | tail -5
    echo "$name failed; the whole log is $log" >&2
    return 1
  fi
  grep -E '"msg": "(Backup of|Restored)' "$log" | sed -e 's/^ *"msg": "//' -e 's/"$//' | fold -s -w 100
}
sample() { "$here/sample.sh" "$@" 2>/dev/null; }

say "1. The sample Software Factory stack in namespace $ns: MariaDB, ZooKeeper, Zuul, Secrets, ConfigMaps, the CR"
echo "   (PodSecurity restricted enforced, every pod non-root, as sf-operator's pods run on OpenShift;"
echo "   the StatefulSets and Services belong to an operator: a TEST STAND-IN for sf-operator)"
"$here/sample.sh" deploy --operator 2>&1 | sed 's/^/   /'
"$here/sample.sh" seed 2>&1 | sed 's/^/   /'
before=$(sample fingerprint)
echo "   fingerprint of everything a restore must bring back: $before"

say "2. Back up (playbooks/backup.yml) into the bup repository $work/repo"
start=$SECONDS
playbook backup.yml "$work/backup.log" -e "staging=$work/staging"
echo "   ($((SECONDS - start)) s with Ansible start-up; staging tree kept in $work/staging for the next run)"
"$venv/bin/ansible-playbook" "$root/playbooks/list.yml" -e "repository=$work/repo" -e "profile=$profile" \
  -e "ansible_python_interpreter=$venv/bin/python" 2>/dev/null \
  | sed -n '/"msg": \[/,/\]/p' | grep -v -E '"msg"|\]' | sed -e 's/^ */   archive: /' -e 's/[",]//g'

say "3. Disaster: a late change, then the whole namespace is deleted"
# shellcheck disable=SC2016  # expanded in the container, from its own environment
"$KUBECTL" exec -n "$ns" mariadb-0 -c mariadb -- sh -c \
  'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -e "DELETE FROM zuul.zuul_build WHERE id <= 100"'
changed=$(sample fingerprint)
echo "   deleted 100 builds after the backup: fingerprint now $changed"
if [ "$changed" = "$before" ]; then
  echo "   the change did not change the fingerprint: the comparison below could not tell a restore" >&2
  echo "   from no restore" >&2
  exit 1
fi
"$here/sample.sh" destroy 2>&1 | sed 's/^/   /'

say "4. Restore the latest complete archive into a new namespace enforcing restricted (playbooks/restore.yml)"
echo "   The administrator installs the operator first, as before any restore; the restore stops it while the"
echo "   data goes in and starts it again."
"$here/sample.sh" operator 2>&1 | sed 's/^/   /'
start=$SECONDS
playbook restore.yml "$work/restore.log" -e "staging=$work/restore" -e archive=latest
echo "   namespace $ns: $("$KUBECTL" get namespace "$ns" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}') enforced"
echo "   ($((SECONDS - start)) s with Ansible start-up)"

say "5. Compare"
after=$(sample fingerprint)
echo "   before backup: $before"
echo "   after restore: $after"
if [ "$before" = "$after" ]; then
  echo "   identical: databases, znodes, Secrets, ConfigMaps and the SoftwareFactory resource are back,"
  echo "   and the change made after the backup is gone."
else
  echo "   DIFFERENT: see '$here/sample.sh fingerprint --verbose'" >&2
  exit 1
fi

echo
echo "Logs and the repository are in $work."
