#!/bin/sh
# Runs in the image's chroot after the packages are installed.
set -eu
# The package's postinst created a cluster in /var/lib/postgresql/15/main; the entrypoint initialises PGDATA on
# the volume instead.
pg_dropcluster 15 main 2>/dev/null || rm -rf /var/lib/postgresql/15 /etc/postgresql/15
# A fixed uid/gid (999) for the postgres user, so a pod spec can name it (runAsUser, fsGroup) and initdb finds
# the running uid in /etc/passwd.
old_uid=$(id -u postgres); old_gid=$(id -g postgres)
if [ "$old_uid" != 999 ] || [ "$old_gid" != 999 ]; then
  groupmod -g 999 postgres
  usermod -u 999 -g 999 postgres
  find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:999 {} +
fi
install -d -o 999 -g 999 -m 0775 /var/run/postgresql /var/lib/postgresql /var/lib/postgresql/data
