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
# Services the lab does not want at boot: the roles enable what they manage.
chroot "$tmp" systemctl disable NetworkManager.service chrony.service containerd.service >/dev/null 2>&1 || true
chroot "$tmp" systemctl mask NetworkManager-wait-online.service systemd-networkd-wait-online.service >/dev/null 2>&1 || true
chroot "$tmp" apt-get clean
rm -f "$tmp"/etc/ssh/ssh_host_*   # every host generates its own keys at first boot (ssh-keygen -A below)
rm -f "$tmp"/etc/machine-id && : >"$tmp"/etc/machine-id
echo "debootstrap: $((SECONDS - start))s" >"$tmp/.kmetal-rootfs-build"
mv "$tmp" "$dest"
echo "build-rootfs: $dest ready in $((SECONDS - start))s"
