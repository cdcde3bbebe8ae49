#!/bin/sh
# Runs in the image's chroot (network to PyPI): MLflow and its dependencies into /opt/mlflow; the user the image
# runs as; build-time checks.
set -eu
export GIT_PYTHON_REFRESH=quiet MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true  # as in the image's ENV (recipe)
python3 -m venv /opt/mlflow
# Every file pip fetches must have the sha256 in requirements.txt (--require-hashes, --no-deps: nothing unpinned
# comes in). That, not TLS, is what vouches for the downloads: build hosts may sit behind a TLS-intercepting proxy
# whose CA the chroot does not have, hence --trusted-host. All are wheels.
/opt/mlflow/bin/pip install --no-cache-dir --disable-pip-version-check --no-input \
  --trusted-host pypi.org --trusted-host files.pythonhosted.org \
  --require-hashes --no-deps --only-binary :all: --no-compile -r /opt/mlflow/requirements.txt
/opt/mlflow/bin/pip check
# Bytecode now: the image's user cannot write it at run time, and every start would compile MLflow anew
# (a minute of CPU on a small node before the server answers).
/opt/mlflow/bin/python -m compileall -q -j 0 /opt/mlflow/lib >/dev/null

# The user the image runs as: uid 1000, primary group 0 (OpenShift runs images as an arbitrary uid in group 0),
# HOME writable by both.
useradd --uid 1000 --gid 0 --home-dir /home/mlflow --no-create-home --shell /bin/sh mlflow
install -d -o 1000 -g 0 -m 0775 /home/mlflow

# The server must start: a missing or broken dependency fails the build, not the first test. The SQL store is
# created on a scratch SQLite database (all of MLflow's migrations run) and written and read through.
[ "$(/opt/mlflow/bin/mlflow --version)" = "mlflow, version 3.17.2" ]
/opt/mlflow/bin/mlflow server --help >/dev/null
cd /tmp
/opt/mlflow/bin/python - <<'PY'
import shutil, tempfile
import mlflow.server.handlers  # noqa: F401 (the REST handlers the server mounts)
from mlflow.entities import Param
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
d = tempfile.mkdtemp()
store = SqlAlchemyStore(f"sqlite:///{d}/check.db", f"{d}/artifacts")
run = store.create_run(store.create_experiment("check"), "", 0, [], "check")
store.log_param(run.info.run_id, Param("p", "1"))
assert store.get_run(run.info.run_id).data.params == {"p": "1"}
store.engine.dispose()
shutil.rmtree(d)
PY
[ -x /usr/bin/tini ]
