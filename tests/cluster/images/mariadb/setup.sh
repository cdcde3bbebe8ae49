#!/bin/sh
# Runs in the image's chroot after the packages are installed.
set -eu
# The package's postinst initialised a datadir; the entrypoint does that on
# the (usually empty) volume instead, with a password.
rm -rf /var/lib/mysql
install -d -o mysql -g mysql -m 0755 /var/lib/mysql /run/mysqld
# A uid other than root and mysql (runAsUser under PodSecurity restricted, OpenShift's arbitrary uids) runs with
# group 0: it needs /run/mysqld (socket, pid file) writable through that group.
chgrp 0 /run/mysqld
chmod 0775 /run/mysqld
