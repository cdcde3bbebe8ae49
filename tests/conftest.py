"""Make this checkout importable as ansible_collections.statesafe.backup.

ansible-test runs from <root>/ansible_collections/statesafe/backup already; a
plain checkout gets a temporary ansible_collections tree holding a symlink to
it. kubernetes.core comes from the installed 'ansible' package (or from the
tree ansible-test prepared).
"""

import atexit
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root():
    parts = REPO.split(os.sep)
    if len(parts) >= 3 and parts[-3] == "ansible_collections" and parts[-2:] == ["statesafe", "backup"]:
        return os.sep.join(parts[:-3])
    root = tempfile.mkdtemp(prefix="statesafe-collections-")
    atexit.register(shutil.rmtree, root, True)
    os.makedirs(os.path.join(root, "ansible_collections", "statesafe"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "statesafe", "backup"))
    return root


COLLECTIONS_ROOT = _collections_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
os.environ.setdefault("STATESAFE_COLLECTIONS_ROOT", COLLECTIONS_ROOT)
