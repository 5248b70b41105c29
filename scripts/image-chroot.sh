#!/usr/bin/env bash
# Open (mount) or close (umount) an image root for the roles' chroot connection: /proc, /sys,
# /dev and /dev/pts bound from this machine, the machine's resolv.conf for apt, and a
# policy-rc.d so that packages installed there start nothing. close undoes all of it and
# leaves nothing of this machine in the root. Idempotent both ways.
#
#   scripts/image-chroot.sh open|close ROOT
set -euo pipefail
action=${1:-}
root=${2:-}
[[ -d "$root/etc" ]] || { echo "image-chroot: '$root' is not a root file system" >&2; exit 2; }
root=$(cd "$root" && pwd)
case "$action" in
  open)
    for fs in proc sys dev dev/pts; do
      mountpoint -q "$root/$fs" || { mkdir -p "$root/$fs" && mount --bind "/$fs" "$root/$fs"; }
    done
    if [[ ! -e "$root/etc/resolv.conf.needledrop-image" ]]; then
      if [[ -e "$root/etc/resolv.conf" || -L "$root/etc/resolv.conf" ]]; then
        mv "$root/etc/resolv.conf" "$root/etc/resolv.conf.needledrop-image"
      else
        touch "$root/etc/resolv.conf.needledrop-image.absent"
        : >"$root/etc/resolv.conf.needledrop-image"
      fi
      cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    fi
    printf '#!/bin/sh\n# needledrop image build: start nothing in the chroot\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    ;;
  close)
    for fs in dev/pts dev sys proc; do
      if mountpoint -q "$root/$fs"; then umount -l "$root/$fs"; fi
    done
    if [[ -e "$root/etc/resolv.conf.needledrop-image" ]]; then
      rm -f "$root/etc/resolv.conf"
      if [[ -e "$root/etc/resolv.conf.needledrop-image.absent" ]]; then
        rm -f "$root/etc/resolv.conf.needledrop-image" "$root/etc/resolv.conf.needledrop-image.absent"
      else
        mv "$root/etc/resolv.conf.needledrop-image" "$root/etc/resolv.conf"
      fi
    fi
    rm -f "$root/usr/sbin/policy-rc.d"
    ;;
  *) echo "image-chroot: open or close, not '$action'" >&2; exit 2 ;;
esac
