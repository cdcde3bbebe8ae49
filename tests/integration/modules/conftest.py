"""Run the collection's modules with ansible-playbook against the local cluster.

Each test module gets its own namespace, deleted afterwards whatever happened.
The kubeconfig comes from the shared `kubeconfig` fixture
(tests/integration/conftest.py): without a cluster these tests fail, they never
skip silently. Objects are set up with the kubernetes client; the modules under
test only ever run through ansible-playbook, as a user runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cluster_helpers import exists, wait_until

TOOLBOX = "localhost/toolbox:bookworm-1"


@pytest.fixture(scope="session")
def toolbox_image(image_refs) -> str:
    return image_refs.get("toolbox", TOOLBOX)


class Run:
    """One ansible-playbook run of one task: its result dict, exit code and duration."""

    def __init__(self, rc: int, result: dict, duration: float, output: str):
        self.rc = rc
        self.result = result
        self.duration = duration
        self.output = output

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))

    def __getitem__(self, key):
        return self.result[key]

    def __repr__(self):
        return f"Run(rc={self.rc}, result={json.dumps(self.result, default=str)[:3000]})"


@pytest.fixture(scope="session")
def run_module(kubeconfig, tmp_path_factory):
    """run_module(name, args, check=False, diff=False, connection=None, extra_tasks=None, extra_env=None,
    venv=None) -> Run.

    connection: dict of connection options; default is module_defaults with the
    admin kubeconfig through group/statesafe.backup.k8s. venv: another virtualenv
    (tests/compat/venv.sh) whose ansible-playbook and Python run the task.
    """
    collections = os.environ["STATESAFE_COLLECTIONS_ROOT"]
    workdir = tmp_path_factory.mktemp("playbooks")

    def run(name: str, args: dict, check: bool = False, diff: bool = False, connection: dict | None = None,
            extra_tasks: list | None = None, extra_env: dict | None = None, venv: Path | None = None) -> Run:
        task = {"name": "under test", f"statesafe.backup.{name}": args}
        play = {"hosts": "localhost", "gather_facts": False, "tasks": [task] + (extra_tasks or [])}
        if connection is None:
            play["module_defaults"] = {"group/statesafe.backup.k8s": {"kubeconfig": kubeconfig}}
        else:
            task[f"statesafe.backup.{name}"] = dict(args, **connection)
        playbook = workdir / f"{name}-{uuid.uuid4().hex[:8]}.yml"
        playbook.write_text(yaml.safe_dump([play], sort_keys=False))
        env = dict(os.environ)
        for var in list(env):
            if var.startswith("K8S_AUTH_") or var == "KUBECONFIG":
                del env[var]
        env.update(
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_NOCOLOR="1",
            HOME=os.environ.get("HOME", "/root"),
        )
        env.update(extra_env or {})
        python = str(Path(venv) / "bin" / "python") if venv else sys.executable
        command = [os.path.join(os.path.dirname(python), "ansible-playbook"), str(playbook),
                   "-e", f"ansible_python_interpreter={python}"]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=1800)
        elapsed = time.monotonic() - started
        try:
            report = json.loads(done.stdout)
            results = [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]]
            durations = report["plays"][0]["tasks"][0]["task"]["duration"]
        except (ValueError, KeyError, IndexError) as exc:
            raise AssertionError(f"no JSON result from ansible-playbook ({exc}):\n{done.stdout}\n{done.stderr}")
        result = results[0]
        if extra_tasks:
            result = dict(result, extra=results[1:])
        task_seconds = _seconds(durations) if durations else elapsed
        return Run(done.returncode, result, task_seconds, done.stdout + done.stderr)

    return run


def _seconds(duration: dict) -> float:
    from datetime import datetime
    start = datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


@pytest.fixture(scope="module")
def ns(core, request):
    """A namespace for the whole test module, always deleted afterwards."""
    module = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-").replace("test-", "")
    name = f"it-{module[:30]}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)), timeout=60)
    yield name
    try:
        core.delete_namespace(name, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def limited_connection(core, api_client, ns, kubeconfig):
    """Connection options of a ServiceAccount allowed only what `rules` grants (a factory)."""
    rbac = client.RbacAuthorizationV1Api(api_client)
    made = []

    def connect(name, rules):
        core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name)))
        rbac.create_namespaced_role(ns, client.V1Role(metadata=client.V1ObjectMeta(name=name), rules=[
            client.V1PolicyRule(api_groups=r.get("api_groups", [""]), resources=r["resources"], verbs=r["verbs"])
            for r in rules]))
        rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=ns)]))
        token = core.create_namespaced_service_account_token(
            name, ns, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
                audiences=[], expiration_seconds=3600))).status.token
        made.append(name)
        configuration = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        options = {"host": configuration.host, "api_key": token}
        if configuration.ssl_ca_cert:
            ca_copy = Path(tempfile.mkdtemp()) / "ca.crt"
            ca_copy.write_bytes(Path(configuration.ssl_ca_cert).read_bytes())
            options["ca_cert"] = str(ca_copy)
        else:
            options["validate_certs"] = False
        return options

    return connect
