#!/usr/bin/env bash
# Install the Debian packages the local cluster, the images and the tests need.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail
packages=(
  containerd runc containernetworking-plugins   # container runtime + CNI bridge/host-local/loopback
  iptables conntrack ethtool iproute2 socat     # what kubelet and CNI plugins call
  openssl debootstrap catatonit                 # certificates, image rootfs, pause process
  shellcheck                                    # ansible-test sanity runs it on shell scripts
  bup par2 python3-venv rsync                   # the backup repository and the test tooling
  prometheus prometheus-pushgateway             # promtool for the alert rules, a real Pushgateway for tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -o APT::Install-Recommends=false)
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq "${missing[@]}" >&2
