#!/usr/bin/env bash
# The root file system of the appliance image (docs/image.md), unpacked into a directory with
# the boot partition's files under <dir>/boot/firmware, the way a running Pi sees them.
#
#   scripts/image-root.sh debian DIR           debootstrap trixie arm64 from Debian's packages
#                                              (linux-image-arm64, raspi-firmware): air-gapped
#                                              builds and tests
#   IMAGE_ARCH=amd64 scripts/image-root.sh debian DIR
#                                              the same root for this machine's architecture,
#                                              without kernel or Pi firmware: CI's quick build
#                                              (no qemu; it boots nothing)
#   scripts/image-root.sh pios DIR IMAGE SHA   a Raspberry Pi OS Lite image (.img, .img.xz or
#                                              .img.zst) checked against its sha256
#
# debian is cached as a tarball under .cache/image/ keyed by this script's recipe; FORCE=1
# rebuilds it. Needs root, debootstrap, mtools, qemu-user-static with binfmt_misc (arm64 on
# amd64); nothing is loop-mounted but, for pios, the ext4 root (read-only).
set -euo pipefail

die() {
  echo "image-root: $*" >&2
  exit 2
}
kind=${1:-}
dir=${2:-}
[[ -n "$kind" && -n "$dir" ]] || die "usage: image-root.sh debian DIR | pios DIR IMAGE SHA256"
arch=${IMAGE_ARCH:-arm64}
case "$arch" in
  arm64 | amd64) ;;
  *) die "IMAGE_ARCH must be arm64 (a Pi's image) or amd64 (CI's quick build), not '$arch'" ;;
esac
[[ "$arch" == arm64 || "$kind" == debian ]] || die "a Raspberry Pi OS image is arm64: drop IMAGE_ARCH=$arch"
[[ "$arch" == arm64 || "$(dpkg --print-architecture)" == "$arch" ]] ||
  die "IMAGE_ARCH=$arch builds natively only (on an $arch machine); leave it out for a Pi's arm64 image"

top=$(cd "$(dirname "$0")/.." && pwd)
cache=$top/.cache/image
mkdir -p "$cache"
[[ ! -e "$dir" ]] || [[ -z "$(ls -A "$dir")" ]] || die "$dir exists and is not empty; remove it first"
mkdir -p "$dir"

# The roles run arm64 programs in the root: qemu-user through binfmt_misc on other machines.
if [[ "$arch" != "$(dpkg --print-architecture)" && -z "${IMAGE_NO_BINFMT:-}" ]]; then
  "$top"/scripts/enable-qemu-binfmt.sh >/dev/null
fi

# The packages of the Debian-built root: what a Raspberry Pi OS Lite has that the roles and
# the first boot need, Debian's kernel and the Pi's firmware, networking for the first boot.
packages=python3,python3-apt,python3-venv,python3-pil,python3-yaml,systemd,systemd-sysv,systemd-timesyncd
packages+=,systemd-resolved,udev,kmod,dbus,iproute2,sudo,ca-certificates,openssh-server,locales
packages+=,zstd,wpasupplicant,tzdata
# A Pi boots Debian's arm64 kernel through raspi-firmware; CI's amd64 root boots nothing.
if [[ "$arch" == arm64 ]]; then packages+=,linux-image-arm64,raspi-firmware,initramfs-tools; fi

debian_root() {
  local recipe tarball work
  recipe=$( (sed -n '/^debian_root()/,/^}/p' "$0" && echo "$packages") | sha256sum | cut -c1-12)
  tarball=$cache/debian-trixie-$arch-$recipe.tar
  if [[ -z "${FORCE:-}" && -s "$tarball" ]]; then
    echo "image-root: unpacking the cached Debian root $tarball"
    tar -C "$dir" --numeric-owner -xpf "$tarball"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap is missing (make deps installs it)"
  work=$(mktemp -d "$cache/debootstrap.XXXXXX")
  echo "image-root: debootstrap trixie $arch into $work"
  # raspi-firmware's hooks copy the kernel, the initrd and the device trees to
  # /boot/firmware: it must be a directory before they run.
  mkdir -p "$work/root/boot/firmware"
  debootstrap --arch="$arch" --variant=minbase --components=main,non-free-firmware \
    --include="$packages" trixie "$work/root" >"$work/debootstrap.log" 2>&1 || {
    tail -n 40 "$work/debootstrap.log" >&2
    die "debootstrap failed; the whole log is $work/debootstrap.log"
  }
  local r=$work/root
  # Shaped like Raspberry Pi OS: root on the second partition by label, the boot partition
  # on /boot/firmware, the default user pi (locked password: first boot or SSH keys set one).
  cat >"$r/etc/fstab" <<'EOF'
LABEL=rootfs  /               ext4  defaults,noatime  0  1
LABEL=bootfs  /boot/firmware  vfat  defaults          0  2
EOF
  echo raspberrypi >"$r/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n' >"$r/etc/hosts"
  chroot "$r" useradd --create-home --shell /bin/bash --groups sudo pi
  # Wired networks by DHCP (the qemu boot test, an Ethernet Pi); Wi-Fi from the first boot.
  cat >"$r/etc/systemd/network/80-needledrop-wired.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
  chroot "$r" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
  # Boot files as raspi-firmware writes them, with the root on partition 2 by label.
  printf 'console=serial0,115200 console=tty1 root=LABEL=rootfs rootfstype=ext4 fsck.repair=yes rootwait\n' \
    >"$r/boot/firmware/cmdline.txt"
  if [[ ! -s "$r/boot/firmware/config.txt" ]]; then
    printf '[all]\narm_64bit=1\ndtparam=audio=on\nenable_uart=1\n' >"$r/boot/firmware/config.txt"
  fi
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/etc/ssh/ssh_host_*
  tar -C "$r" --numeric-owner -cpf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  mv "$work/debootstrap.log" "$cache/debian-trixie-$arch-$recipe.log"
  rm -rf "$work"
  tar -C "$dir" --numeric-owner -xpf "$tarball"
}

pios_root() {
  local image=${3:-} sha=${4:-} work raw start size
  [[ -f "$image" ]] || die "the Raspberry Pi OS image '$image' is missing (image_source_path in the inventory)"
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "image_source_sha256 must be 64 hex digits (sha256sum of the download), not '$sha'"
  echo "image-root: checking $image against its sha256"
  [[ "$(sha256sum <"$image" | cut -d' ' -f1)" == "$sha" ]] ||
    die "$image does not match image_source_sha256 $sha; download it again or fix the checksum"
  work=$(mktemp -d "$cache/pios.XXXXXX")
  trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' RETURN
  raw=$work/source.img
  case "$image" in
    *.xz) xz -dc "$image" >"$raw" ;;
    *.zst) zstd -qdc "$image" >"$raw" ;;
    *) cp --sparse=always "$image" "$raw" ;;
  esac
  # Partition 1 (FAT): copied out with mtools; partition 2 (ext4): loop-mounted read-only.
  read -r start size < <(sfdisk -J "$raw" | python3 -c '
import json, sys
p = json.load(sys.stdin)["partitiontable"]["partitions"]
print(p[1]["start"], p[1]["size"])') || die "$image has no second partition: is it a Raspberry Pi OS image?"
  mkdir -p "$work/mnt"
  mount -o ro,loop,offset=$((start * 512)),sizelimit=$((size * 512)) -t ext4 "$raw" "$work/mnt" ||
    die "could not open the root partition of $image (ext4 on partition 2)"
  tar -C "$work/mnt" --numeric-owner -cpf - . | tar -C "$dir" --numeric-owner -xpf -
  umount "$work/mnt"
  read -r start < <(sfdisk -J "$raw" | python3 -c '
import json, sys
print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"])')
  # The disk identifier: Raspberry Pi OS names its partitions PARTUUID=<id>-01/-02.
  sfdisk --disk-id "$raw" >"$dir.disk-id"
  mkdir -p "$dir/boot/firmware"
  MTOOLS_SKIP_CHECK=1 mcopy -s -p -n -i "$raw@@$((start * 512))" '::/*' "$dir/boot/firmware/"
}

case "$kind" in
  debian) debian_root ;;
  pios) pios_root "$@" ;;
  *) die "unknown kind '$kind' (debian or pios)" ;;
esac
echo "image-root: $kind root ready in $dir"
