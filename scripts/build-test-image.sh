#!/usr/bin/env bash
# Build the podman test image shaped like Raspberry Pi OS Lite of one release: debootstrap
# minbase with python3, systemd as PID 1, sudo, a default login user `pi`, and the release's
# boot partition on /boot/firmware: config.txt and a one-line cmdline.txt with stock contents,
# and on trixie the cloud-init files Raspberry Pi Imager 2 writes (user-data, network-config,
# meta-data). Files come from molecule/shared/image/<suite>/.
#
#   scripts/build-test-image.sh [amd64|arm64] [trixie|bookworm]     (or ARCH=, SUITE=)
#
# The image is <NEEDLEDROP_IMAGE_NAME or localhost/needledrop-pios>:<suite>-<arch>.
# Cached: the image carries a label with the hash of its recipe (this script and
# molecule/shared/image/<suite>/*); it is rebuilt only when that hash changes. FORCE=1 rebuilds
# anyway. arm64 runs under qemu-user-static through binfmt_misc (about ten times slower).
set -euo pipefail

arch=${1:-${ARCH:-amd64}}
suite=${2:-${SUITE:-trixie}}
case "$arch" in
  amd64 | arm64) ;;
  *) echo "build-test-image: unsupported ARCH '$arch' (use amd64 or arm64)" >&2; exit 2 ;;
esac
case "$suite" in
  trixie | bookworm) ;;
  *) echo "build-test-image: unsupported SUITE '$suite' (use trixie or bookworm)" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$top/containers.conf}
files=$top/molecule/shared/image/$suite
image=${NEEDLEDROP_IMAGE_NAME:-localhost/needledrop-pios}:$suite-$arch
recipe=$( (cat "$0" && cd "$files" && for f in *; do echo "$f" && cat "$f"; done) | sha256sum | cut -c1-16)

if [[ -z "${FORCE:-}" ]] && podman image exists "$image" &&
  [[ "$(podman image inspect --format '{{ index .Labels "needledrop.recipe" }}' "$image")" == "$recipe" ]]; then
  echo "build-test-image: $image is current (recipe $recipe)"
  exit 0
fi

for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "build-test-image: $tool is missing (make deps installs it)" >&2; exit 2; }
done

if [[ "$arch" == arm64 && "$(dpkg --print-architecture)" != arm64 ]]; then
  "$top"/scripts/enable-qemu-binfmt.sh
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/needledrop-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
start=$(date +%s)
echo "build-test-image: debootstrap $suite ($arch) into $root"
debootstrap --variant=minbase --arch="$arch" \
  --include=python3,systemd,systemd-sysv,sudo,dbus,iproute2 \
  "$suite" "$root" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

# Raspberry Pi OS Lite look-alike: boot partition files, the default user, a hostname.
# The boot partition is FAT on a Pi: every file there reads as mode 0755, owned by root.
install -d -m 0755 "$root/boot/firmware"
for f in "$files"/*; do
  install -m 0755 "$f" "$root/boot/firmware/$(basename "$f")"
done
echo raspberrypi >"$root/etc/hostname"
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo pi
echo 'pi ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/010_pi-nopasswd"
chmod 0440 "$root/etc/sudoers.d/010_pi-nopasswd"
# Units that make no sense in a container and would leave systemd "degraded".
for unit in systemd-remount-fs.service getty@tty1.service console-getty.service \
  systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
if [[ "$arch" == arm64 && "$(dpkg --print-architecture)" != arm64 ]]; then
  # Under qemu-user, LoadCredential= fails (no credentials fs); these units don't need it.
  for unit in systemd-sysusers.service systemd-tmpfiles-setup.service \
    systemd-tmpfiles-setup-dev.service systemd-tmpfiles-setup-dev-early.service; do
    install -d "$root/etc/systemd/system/$unit.d"
    printf '[Service]\nLoadCredential=\n' >"$root/etc/systemd/system/$unit.d/10-no-credentials.conf"
  done
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

echo "build-test-image: importing as $image"
tar -C "$root" -c . | podman import \
  --change 'CMD=["/sbin/init"]' \
  --change "LABEL needledrop.recipe=$recipe" \
  --change 'STOPSIGNAL=SIGRTMIN+3' \
  - "$image" >/dev/null
echo "build-test-image: $image built in $(($(date +%s) - start)) s (recipe $recipe)"
