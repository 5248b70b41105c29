#!/usr/bin/env bash
# Pack a root directory (boot partition files under <root>/boot/firmware) into a disk image
# shaped like Raspberry Pi OS: MBR, partition 1 FAT32 "bootfs" from 4 MiB, partition 2 ext4
# "rootfs" after it. Nothing is mounted: FAT with mtools, ext4 with `mkfs.ext4 -d`.
#
#   scripts/image-assemble.sh ROOT OUT.img [DISK_ID]
#
# Writes OUT.img (raw, sparse), OUT.img.xz or .zst (IMAGE_COMPRESS=xz|zstd, default xz),
# OUT.img.<ext>.sha256 and OUT.img.bmap (when bmaptool is installed). DISK_ID (0x1234abcd)
# keeps the source image's disk identifier, which Raspberry Pi OS's cmdline.txt and fstab
# name as PARTUUID=<id>-01/-02. BOOT_MIB (512) sizes the boot partition; ROOT_FREE_MIB (512)
# is the free space left on the root.
set -euo pipefail

die() {
  echo "image-assemble: $*" >&2
  exit 2
}
root=${1:-}
out=${2:-}
disk_id=${3:-}
[[ -d "$root/boot/firmware" && -n "$out" ]] || die "usage: image-assemble.sh ROOT OUT.img [DISK_ID] (ROOT must hold boot/firmware)"
[[ -z "$disk_id" || "$disk_id" =~ ^0x[0-9a-fA-F]{8}$ ]] || die "DISK_ID must look like 0x1234abcd, not '$disk_id'"
compress=${IMAGE_COMPRESS:-xz}
case "$compress" in
  xz) ext=xz ;;
  zstd) ext=zst ;;
  *) die "IMAGE_COMPRESS must be xz or zstd, not '$compress'" ;;
esac
boot_mib=${BOOT_MIB:-512}
free_mib=${ROOT_FREE_MIB:-512}
for tool in mkfs.fat mcopy mkfs.ext4 sfdisk "$compress"; do
  command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/assemble.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# Boot partition: a FAT32 file filled with mtools (the kernel here may have no vfat).
mkfs.fat -C -F 32 -n bootfs "$work/boot.fat" $((boot_mib * 1024)) >/dev/null
if [[ -n "$(ls -A "$root/boot/firmware")" ]]; then
  MTOOLS_SKIP_CHECK=1 mcopy -s -p -Q -i "$work/boot.fat" "$root"/boot/firmware/* ::/ ||
    die "could not copy $root/boot/firmware onto the FAT boot partition (a name FAT cannot hold, such as one with ':'?)"
fi

# Root partition: ext4 from the directory, without the boot files (they live on the FAT).
mkdir "$work/bootfiles"
mv "$root/boot/firmware" "$work/bootfiles/firmware"
mkdir -m 0755 "$root/boot/firmware"
restore() { rmdir "$root/boot/firmware" && mv "$work/bootfiles/firmware" "$root/boot/firmware"; }
used_kib=$(du -sx --apparent-size -k "$root" | cut -f1)
root_mib=$(((used_kib * 12 / 10) / 1024 + free_mib))
if ! mkfs.ext4 -q -L rootfs -d "$root" -E root_owner=0:0 "$work/root.ext4" "${root_mib}M"; then
  restore
  die "mkfs.ext4 -d failed for $root"
fi
restore

# The disk: 4 MiB gap, FAT32 (LBA) then Linux, as Raspberry Pi OS lays it out.
boot_sectors=$((boot_mib * 2048))
root_sectors=$((root_mib * 2048))
total_sectors=$((8192 + boot_sectors + root_sectors))
rm -f "$out"
truncate -s $((total_sectors * 512)) "$out"
{
  echo "label: dos"
  [[ -z "$disk_id" ]] || echo "label-id: $disk_id"
  echo "start=8192, size=$boot_sectors, type=c"
  echo "start=$((8192 + boot_sectors)), size=$root_sectors, type=83"
} | sfdisk -q "$out"
dd if="$work/boot.fat" of="$out" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$out" bs=1M seek=$((4 + boot_mib)) conv=notrunc,sparse status=none

if command -v bmaptool >/dev/null; then
  bmaptool create -o "$out.bmap" "$out"
else
  echo "image-assemble: bmaptool is missing: no $out.bmap (apt-get install bmap-tools)" >&2
fi
case "$compress" in
  xz) xz -T0 -3 -kfc "$out" >"$out.xz" ;;
  zstd) zstd -q -T0 -10 -f "$out" -o "$out.zst" ;;
esac
(cd "$(dirname "$out")" && sha256sum "$(basename "$out").$ext" >"$(basename "$out").$ext.sha256")
echo "image-assemble: $out.$ext ($(du -m --apparent-size "$out.$ext" | cut -f1) MiB compressed," \
  "$((total_sectors / 2048)) MiB raw) in $(($(date +%s) - start)) s"
