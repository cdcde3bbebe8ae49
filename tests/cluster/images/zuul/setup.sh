#!/bin/sh
# Runs in the image's chroot (network to PyPI): Zuul and its dependencies into /opt/zuul.
set -eu
export GIT_PYTHON_REFRESH=quiet  # as in the image's ENV (recipe): there is no git here
python3 -m venv /opt/zuul
# Every file pip fetches must have the sha256 in requirements.txt (--require-hashes, --no-deps: nothing
# unpinned comes in). That, not TLS, is what vouches for the downloads: build hosts may sit behind a
# TLS-intercepting proxy whose CA the chroot does not have, hence --trusted-host. The two sdists
# (paho-mqtt, jsonpath-rw) are pure Python and build with the venv's own setuptools (no build isolation,
# so no unpinned build dependency is fetched).
/opt/zuul/bin/pip install --no-cache-dir --disable-pip-version-check --no-input \
  --trusted-host pypi.org --trusted-host files.pythonhosted.org \
  --require-hashes --no-deps --no-build-isolation -r /opt/zuul/requirements.txt
/opt/zuul/bin/pip check
# zuul-admin must start: a missing or broken dependency fails the build, not the first test.
/opt/zuul/bin/zuul-admin --help >/dev/null
/opt/zuul/bin/python -c 'import zuul.lib.keystorage, zuul.zk'
ln -s /opt/zuul/bin/zuul-admin /usr/local/bin/zuul-admin
