#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the emulated host once and run only the given programs, each argument
# one line of a test list ("program [args]"), in that order.  Does not build
# the kernel: it boots a snapshot of the last build (KOUT, default build/out)
# taken under build/.kbuild.lock, and rebuilds only the selftests.
#
# Usage: harness/run-one.sh 'zpci_rpcit_nested' ['zpci_rpcit_replay -m pinned-parent ...' ...]
# Env:   TAG=name (default "one": logs build/logs/run-check-<TAG>.{log,results}),
#        KOUT, SMP, MEM, BOOT_TIMEOUT, TEST_TIMEOUT, ZPCI_FUNCS, KERNEL_CMDLINE
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
H=$TOP/harness
TAG=${TAG:-one}
KO=${KOUT:-$B/out}
[ $# -gt 0 ] || { echo "usage: run-one.sh 'program [args]' ..." >&2; exit 2; }
S=$B/run-one/$TAG
mkdir -p "$S/kout/arch/s390/boot" "$S/kout/arch/s390/kvm" "$S/kout/drivers/iommu" "$S/kout/include/generated" "$B/logs"

# kernel snapshot: never boot a bzImage a concurrent build is writing
exec 8>"$B/.kbuild.lock"
flock -s 8
for f in arch/s390/boot/bzImage arch/s390/kvm/kvm.ko drivers/iommu/s390-kvm-shadow-test.ko .config \
	 include/generated/utsversion.h; do
	if [ -f "$KO/$f" ]; then cp "$KO/$f" "$S/kout/$f"; else rm -f "$S/kout/$f"; fi
done
flock -u 8
[ -f "$S/kout/arch/s390/boot/bzImage" ] || { echo "run-one: ERROR: no kernel in $KO (make kernel)"; exit 1; }

# one emulated-host run at a time (the disk image is shared)
exec 7>"$B/.run.lock"
flock -n 7 || { echo "run-one: waiting for build/.run.lock (another emulated-host run)"; flock 7; }
"$H/build-selftests.sh" || echo "run-one: WARNING: some selftests failed to build"
printf '%s\n' "$@" > "$S/tests.list"
TEST_LIST=$S/tests.list INITRAMFS_OUT=$S/initramfs.cpio.gz "$H/mkinitramfs.sh" > "$S/mkinitramfs.log" 2>&1 ||
	{ cat "$S/mkinitramfs.log"; exit 1; }
ZPCI_RUN_LOCKED=1 INITRD_BASE=$S/initramfs.cpio.gz KERNEL=$S/kout/arch/s390/boot/bzImage \
	KERNEL_CMDLINE="zpci.only_listed=1 ${KERNEL_CMDLINE:-}" RUN_TAG=-$TAG "$H/run-qemu.sh" check
