"""k8s_pv_copy receiving a hostile tar stream from a real pod, against the local cluster.

The copy asks the pod for a listing, then for a tar stream of the files it chose. Here the pod's `tar`
is replaced (an earlier `tar` on its PATH) by one that sends a crafted archive instead: a name that
climbs out of the mirror, an absolute name, a file that was not asked for, and the asked-for file
turned into a symlink, a hard link or a device. Each stream is refused naming the member; nothing is
written outside the mirror and the mirror keeps what the last honest copy wrote, byte for byte.
"""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from k8s_helpers import make_pod, pod_exec

FAKE_TAR = r"""#!/bin/sh
# Stands in for tar when asked to create an archive: swallow the file list, send the crafted stream.
case " $* " in *" -c "*) cat >/dev/null; exec cat /tmp/hostile.tar;; esac
exec /bin/tar "$@"
"""


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"evil\n", link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data) if kind == tarfile.REGTYPE else 0, link, 0o644
    return info


def archive(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buffer.getvalue()


def regular(name: str, data: bytes = b"evil\n") -> tuple[tarfile.TarInfo, bytes]:
    return member(name, data=data), data


# case: (the stream the pod sends, what the refusal must say, the path it must name)
HOSTILE = {
    "climbs out of the mirror": (archive(regular("../outside")), "member name with '..' refused",
                                 "/data/../outside"),
    "absolute name": (archive(regular("/tmp/statesafe-hostile-absolute")), "absolute member name refused",
                      "/tmp/statesafe-hostile-absolute"),
    "a file not asked for": (archive(regular("a", b"new\n"), regular("planted")), "not asked for", "/data/planted"),
    "symlink instead of the file": (archive((member("a", tarfile.SYMTYPE, link="/etc"), b"")),
                                    "member of type '2' refused", "/data/a"),
    "hard link instead of the file": (archive((member("a", tarfile.LNKTYPE, link="/etc/passwd"), b"")),
                                      "member of type '1' refused", "/data/a"),
    "device instead of the file": (archive((member("a", tarfile.CHRTYPE), b"")), "member of type '3' refused",
                                   "/data/a"),
}


def local_files(root) -> dict[str, bytes]:
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


@pytest.fixture(scope="module")
def hostile_pod(core, kubectl, ns, toolbox_image):
    make_pod(core, ns, "hostile", toolbox_image)
    pod_exec(kubectl, ns, "hostile", "mkdir -p /data && printf 'honest\\n' > /data/a")
    return ns


@pytest.fixture(scope="module")
def mirror(run_module, hostile_pod, tmp_path_factory):
    """A first copy made with the pod's real tar; then the pod's tar is replaced."""
    root = tmp_path_factory.mktemp("hostile")
    run = run_module("k8s_pv_copy", {"namespace": hostile_pod, "pod": "hostile", "remote_path": "/data",
                                     "local_path": str(root / "mirror")})
    assert run.rc == 0 and run["files_transferred"] == 1, run
    assert local_files(root / "mirror") == {"a": b"honest\n"}
    return root


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_stream_is_refused_naming_the_member(run_module, kubectl, hostile_pod, mirror, case):
    stream, refusal, path = HOSTILE[case]
    pod_exec(kubectl, hostile_pod, "hostile", "cat > /tmp/hostile.tar", stdin=stream)
    pod_exec(kubectl, hostile_pod, "hostile",
             f"cat > /usr/local/bin/tar <<'EOF'\n{FAKE_TAR}EOF\nchmod 755 /usr/local/bin/tar")
    # The file changes in the pod, so the copy asks for it (and receives the crafted stream).
    pod_exec(kubectl, hostile_pod, "hostile", "echo more >> /data/a")
    try:
        run = run_module("k8s_pv_copy", {"namespace": hostile_pod, "pod": "hostile", "remote_path": "/data",
                                         "local_path": str(mirror / "mirror")})
    finally:
        pod_exec(kubectl, hostile_pod, "hostile", "rm -f /usr/local/bin/tar; printf 'honest\\n' > /data/a")
    assert run.failed, run
    assert refusal in run.msg, run.msg
    assert f"namespace={hostile_pod} pod=hostile container=main path={path})" in run.msg, run.msg
    assert local_files(mirror / "mirror") == {"a": b"honest\n"}, "the mirror changed"
    assert sorted(os.listdir(mirror)) == ["mirror"], "something was written beside the mirror"
    assert not os.path.lexists("/tmp/statesafe-hostile-absolute")


def test_the_pod_s_real_tar_is_used_again(run_module, hostile_pod, mirror):
    """Control: with the pod's own tar back, the same copy succeeds (the refusals came from the streams)."""
    run = run_module("k8s_pv_copy", {"namespace": hostile_pod, "pod": "hostile", "remote_path": "/data",
                                     "local_path": str(mirror / "mirror")})
    assert run.rc == 0, run
    assert local_files(mirror / "mirror") == {"a": b"honest\n"}
