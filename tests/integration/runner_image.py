"""The runner image (tests/cluster/images/runner.sh) for integration tests: ansible-core, kubernetes.core,
bup and this work tree's statesafe.backup, imported into the local cluster's containerd.

    from runner_image import runner_image_ref
    ref = runner_image_ref(kubeconfig)   # localhost/statesafe-runner:<hash>

runner.sh builds what is missing (the base once; the collection layer when the collection changed), imports
the image if containerd does not hold that ref already, and prints the ref. `make integration` runs it
before the tests, so a test normally only reads the ref; pytest-xdist workers take turns (a file lock),
so two never build or import at once. The result is kept for the rest of the pytest process: the work
tree is not expected to change under a test run.
"""

from __future__ import annotations

import fcntl
import subprocess
from functools import lru_cache
from pathlib import Path

RUNNER_SH = Path(__file__).resolve().parents[1] / "cluster" / "images" / "runner.sh"


@lru_cache(maxsize=None)
def runner_image_ref(kubeconfig: str) -> str:
    """Build (if needed) and import the runner image into the cluster whose kubeconfig this is."""
    socket = Path(kubeconfig).parent / "containerd" / "containerd.sock"
    with open(Path(kubeconfig).parent / "runner-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([str(RUNNER_SH), "--socket", str(socket)], capture_output=True, text=True,
                                check=False, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{RUNNER_SH} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    ref = result.stdout.strip()
    if not ref.startswith("localhost/statesafe-runner:"):
        raise RuntimeError(f"{RUNNER_SH} printed {ref!r}, not an image ref; stderr:\n{result.stderr[-4000:]}")
    return ref
