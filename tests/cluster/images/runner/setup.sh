#!/bin/sh
# Runs in the image's chroot (network to PyPI): ansible-core, kubernetes.core (the ansible package), the
# kubernetes client and boto3 into /opt/ansible; the user the image runs as; build-time checks.
set -eu
python3 -m venv /opt/ansible
# Every file pip fetches must have the sha256 in requirements.txt (--require-hashes, --no-deps: nothing
# unpinned comes in). That, not TLS, is what vouches for the downloads: build hosts may sit behind a
# TLS-intercepting proxy whose CA the chroot does not have, hence --trusted-host. All are wheels.
/opt/ansible/bin/pip install --no-cache-dir --disable-pip-version-check --no-input \
  --trusted-host pypi.org --trusted-host files.pythonhosted.org \
  --require-hashes --no-deps --only-binary :all: --no-compile -r /opt/ansible/requirements.txt
/opt/ansible/bin/pip check
# The ansible package ships ~100 collections (470 MB); the playbooks use ansible.builtin and
# kubernetes.core only (and statesafe.backup, which runner.sh adds in a layer of its own).
collections=$(/opt/ansible/bin/python -c 'import ansible_collections as c; print(list(c.__path__)[0])')
find "$collections" -mindepth 1 -maxdepth 1 -type d ! -name kubernetes ! -name __pycache__ -exec rm -rf {} +
find "$collections/kubernetes" -mindepth 1 -maxdepth 1 -type d ! -name core -exec rm -rf {} +
# Bytecode for what is left (pip's --no-compile above spared compiling the 100 removed collections): the
# image's user cannot write it at run time, and every run would otherwise compile ansible-core anew.
/opt/ansible/bin/python -m compileall -q -j 0 /opt/ansible/lib >/dev/null

# The user the image runs as: uid 1000, primary group 0 (root group), HOME writable by both.
useradd --uid 1000 --gid 0 --home-dir /home/runner --no-create-home --shell /bin/sh runner
install -d -o 1000 -g 0 -m 0775 /home/runner

# What the CronJob needs must work, or the build fails (not the first scheduled backup).
export PATH=/opt/ansible/bin:$PATH HOME=/tmp/runner-check LC_ALL=C.UTF-8  # build.sh sets LC_ALL=C
mkdir -p "$HOME"
ansible-playbook --version
ansible-galaxy collection list kubernetes.core 2>/dev/null | grep -q '^kubernetes\.core ' \
  || { echo "kubernetes.core is not in /opt/ansible" >&2; exit 1; }
bup --version
command -v par2
ansible-doc kubernetes.core.k8s_info >/dev/null
git --version
age --version
python -c 'import kubernetes, boto3, yaml, websocket'
rm -rf "$HOME"
