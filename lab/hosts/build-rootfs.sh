#!/usr/bin/env bash
# Builds the lab hosts' Debian bookworm root filesystem once with debootstrap, into $1 (a cache directory).
# Usage: build-rootfs.sh DEST [MIRROR]. Writes DEST.partial first and renames it when complete.
set -euo pipefail
dest=$1
mirror=${2:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
include=$(grep -v -e '^#' -e '^$' "$here/packages.txt" | paste -sd, -)
tmp=$dest.partial
rm -rf "$tmp"
mkdir -p "$(dirname "$dest")"
start=$SECONDS
debootstrap --variant=minbase --include="$include" bookworm "$tmp" "$mirror"
# What is baked in but not on a fresh server stays off at boot (the roles enable what they manage). Nothing is
# masked: the wait-online units are left as Debian ships them, so a role that leaves one enabled is seen.
chroot "$tmp" systemctl disable NetworkManager.service NetworkManager-wait-online.service chrony.service \
  containerd.service >/dev/null 2>&1 || true
# ifupdown manages the management NIC at first (its stanza is written per host by bin/lab hosts up).
chroot "$tmp" systemctl enable networking.service >/dev/null
chroot "$tmp" apt-get clean
# Empty package lists, as Debian's cloud images ship: a role that installs anything must refresh the index first.
find "$tmp/var/lib/apt/lists" -mindepth 1 -delete
mkdir -p "$tmp/var/lib/apt/lists/partial"
rm -f "$tmp"/etc/ssh/ssh_host_*   # every host generates its own keys at first boot (ssh-keygen -A below)
rm -f "$tmp"/etc/machine-id && : >"$tmp"/etc/machine-id
echo "debootstrap: $((SECONDS - start))s" >"$tmp/.kmetal-rootfs-build"
mv "$tmp" "$dest"
echo "build-rootfs: $dest ready in $((SECONDS - start))s"
