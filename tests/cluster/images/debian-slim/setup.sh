#!/bin/sh
# Run in the image's chroot at build time: the tools plugins/module_utils/volume/pod_scripts.py runs, with the
# GNU options it relies on. A missing one fails the build, naming it.
set -eu
for tool in sh sleep find tar sort head xargs sha256sum timeout mkdir mv rm rmdir cat; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
find --version | head -n1 | grep -q 'GNU findutils' || { echo "find is not GNU find" >&2; exit 1; }
tar --version | head -n1 | grep -q 'GNU tar' || { echo "tar is not GNU tar" >&2; exit 1; }
dir=$(mktemp -d)
printf 'abc' >"$dir/a"
find "$dir" -mindepth 1 -readable -printf '%y\0%s\0%T@\0%m\0%U\0%G\0%P\0%l\0' | grep -qa a
printf 'a\0' | (cd "$dir" && LC_ALL=C sort -z | xargs -0 -r sha256sum -z --) \
  | grep -qa ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
printf 'a\0' | (cd "$dir" && tar -c -f - --format=gnu --numeric-owner --no-recursion --hard-dereference --null \
  --verbatim-files-from -T -) | tar -x -f - -C "$dir" --numeric-owner --no-same-owner -p --no-overwrite-dir
timeout 5 cat </dev/null
rm -rf "$dir"
