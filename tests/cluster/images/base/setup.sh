#!/bin/sh
# Runs inside the freshly debootstrapped base rootfs (chroot, /proc mounted).
# Makes it image-like: no services started by maintainer scripts, no docs or
# translations shipped by later installs, no host identity left behind.
set -eu

# Maintainer scripts (mariadb-server, zookeeper) must not try to start
# daemons in the chroot; 101 = "action forbidden by policy".
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

# Keep licences (copyright files) but drop everything else nobody reads in a
# container. dpkg honours this for every package installed from now on.
cat > /etc/dpkg/dpkg.cfg.d/90-statesafe-slim <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
CFG
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/* /usr/share/linda/*
# openjdk's postinst registers man pages as alternatives' slaves and fails if
# the directory itself is missing.
mkdir -p /usr/share/man/man1
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

cat > /etc/apt/apt.conf.d/90-statesafe <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CFG

printf '%s\n' "$STATESAFE_SOURCES" > /etc/apt/sources.list
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Dpkg::Use-Pty=0 dist-upgrade >/dev/null

# The runtime bind-mounts its own hostname, hosts and resolv.conf; leave
# neutral files instead of this build host's.
echo localhost > /etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
: > /etc/resolv.conf
