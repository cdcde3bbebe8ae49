"""`molecule test` of molecule/default against the local cluster (what `make molecule` runs).

The scenario (namespace `sf-molecule`, enforcing PodSecurity restricted) deploys a small application in prepare (a
ConfigMap, a Secret, a Deployment writing to a claim), backs it up with the backup role in namespace mode in
converge, deletes the namespace, restores with the restore role and compares fingerprints in verify, and deletes
the namespace in cleanup and destroy. Its repository and staging trees live in this test's tmp directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from role_helpers import REPO, namespace_exists

NS = "sf-molecule"


# A whole backup and restore in one test: more than pytest.ini's 600 s may be needed on a busy machine.
@pytest.mark.timeout(1500)
def test_molecule_default_scenario(kubeconfig, core, image_refs, tmp_path):
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, STATESAFE_KUBECONFIG=kubeconfig, STATESAFE_MOLECULE_WORK=str(tmp_path),
               STATESAFE_MOLECULE_IMAGE=image_refs["toolbox"],
               ANSIBLE_COLLECTIONS_PATH=os.environ["STATESAFE_COLLECTIONS_ROOT"],
               PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"), ANSIBLE_NOCOLOR="1", NO_COLOR="1")
    try:
        run = subprocess.run([str(Path(bindir) / "molecule"), "test", "--scenario-name", "default"], cwd=REPO,
                             env=env, capture_output=True, text=True, check=False, timeout=1400)
    finally:  # molecule's own cleanup does not run when it is killed
        if namespace_exists(core, NS):
            core.delete_namespace(NS)
    output = run.stdout + run.stderr
    fatal = "\n".join(line[:2000] for line in output.splitlines() if line.startswith("fatal:"))
    assert run.returncode == 0, fatal + "\n...\n" + output[-4000:]
    # Each step ran: the backup, the restore and the comparison are in the log, and the namespace is gone.
    for step in ("Converge | back up", "Verify | restore the latest complete archive",
                 "Verify | what was restored is what was backed up", "Delete the namespace and wait until it is gone"):
        assert step in output, f"{step!r} is not in molecule's output:\n{output[-3000:]}"
    assert (tmp_path / "repo").is_dir() and (tmp_path / "fingerprint-before").is_file()
    assert not namespace_exists(core, NS)
