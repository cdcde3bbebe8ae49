#!/bin/sh
# Runs in the image's chroot after the packages are installed.
set -eu
# The package's postinst initialised a datadir; the entrypoint does that on
# the (usually empty) volume instead, with a password.
rm -rf /var/lib/mysql
install -d -o mysql -g mysql -m 0755 /var/lib/mysql /run/mysqld
