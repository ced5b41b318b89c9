#!/usr/bin/env bash
# Installs the Debian packages the lab needs, only those missing. Needs root (as on the lab machines).
set -euo pipefail
packages=(
  debootstrap systemd-container  # lab hosts: Debian root filesystems booted with systemd-nspawn
  openssh-client                 # Ansible reaches the lab hosts over SSH
  nftables                       # lab hosts: the egress guard in each host's network namespace
  iproute2 iputils-ping bridge-utils
  openvswitch-switch             # userspace datapath for bonds and VLAN tags the kernel here lacks
  rsync git make
  apt-utils gnupg                # the lab mirror's Debian repository: apt-ftparchive, and gpg to sign its Release
  graphviz                       # dot, which kmetal.platform.fleet_report draws with
  libseccomp-dev                 # make artifacts: runc links libseccomp statically, as its releases do
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "apt-deps: missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "apt-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
