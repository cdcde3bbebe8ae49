from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import remote as bup_remote
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import BadInput


@pytest.mark.parametrize("spec, parsed", [
    ("backup:/srv/bup", ("ssh", "backup", None, "/srv/bup")),
    ("backup:relative/bup", ("ssh", "backup", None, "relative/bup")),
    (":/srv/bup", ("file", None, None, "/srv/bup")),
    ("file:///srv/bup", ("file", None, None, "/srv/bup")),
    ("ssh://backup:2222/srv/bup", ("ssh", "backup", "2222", "/srv/bup")),
    ("ssh://[::1]:22/srv/bup", ("ssh", "::1", "22", "/srv/bup")),
])
def test_parse_remote(spec, parsed):
    assert bup_remote.parse_remote(spec) == parsed


@pytest.mark.parametrize("spec, message", [
    ("/srv/bup", "is not host:path"),
    ("bup://backup/srv/bup", "not supported here"),
])
def test_parse_remote_rejects(spec, message):
    with pytest.raises(BadInput, match=message):
        bup_remote.parse_remote(spec)


def test_server_argv():
    assert bup_remote.server_argv("file:///x") == ["bup", "server"]
    assert bup_remote.server_argv("ssh://h:2222/x", "/opt/bup") == ["ssh", "-p", "2222", "h", "--", "/opt/bup server"]
    assert bup_remote.server_argv("h:/x") == ["ssh", "h", "--", "bup server"]


def test_parse_tree_reads_raw_git_trees():
    oid1, oid2 = bytes(range(20)), bytes(range(20, 40))
    data = b"40000 dir\0" + oid1 + b"100644 f\xffile\0" + oid2
    assert bup_remote.parse_tree(data) == [("040000", "dir", oid1.hex()),
                                           ("100644", "f\udcffile", oid2.hex())]
