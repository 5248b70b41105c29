#!/usr/bin/env bash
# Let this amd64 machine run arm64 binaries (for ARCH=arm64 test images): qemu-user-static
# registered through binfmt_misc. Needs root; changes nothing under /etc.
set -euo pipefail
command -v qemu-aarch64-static >/dev/null || {
  echo "enable-qemu-binfmt: qemu-user-static is missing (make deps ARCH=arm64 installs it)" >&2
  exit 2
}
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  update-binfmts --enable qemu-aarch64
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64
echo "enable-qemu-binfmt: qemu-aarch64 is enabled"
