#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the emulated IBM Z host (QEMU TCG) with the kernel from build/out,
# build/initramfs.cpio.gz plus the kvm.ko of that kernel (mkinitramfs.sh
# boot), and zPCI virtio-blk functions (function 0 on build/disk.img).
# Usage: run-qemu.sh main|check|shell   (BOOT_TIMEOUT=seconds, default 600;
#        KERNEL=bzImage, SMP=, MEM=, RUN_TAG=suffix for the log names,
#        ZPCI_FUNCS=number of functions)
# Console goes to build/logs/run-<mode>.log; results to build/logs/run-<mode>.results
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
mode=${1:-check}
KERNEL=${KERNEL:-$B/out/arch/s390/boot/bzImage}
INITRD=${INITRD_BASE:-$B/initramfs.cpio.gz}
TAG=${RUN_TAG:-}		# e.g. -kasan: separate log/result files
LOG=$B/logs/run-$mode$TAG.log
RES=$B/logs/run-$mode$TAG.results
TMO=${BOOT_TIMEOUT:-600}
TEST_TMO=${TEST_TIMEOUT:-300}
mkdir -p "$B/logs"
# no results of an earlier boot survive a run that stops before parse-log.sh
rm -f "$RES" "$LOG.clean" "${RES%.results}.mainjob" "$B/logs/run-$mode$TAG.writeback"
[ -f "$KERNEL" ] || { echo "run: ERROR: $KERNEL missing (make kernel)"; exit 1; }
[ -f "$INITRD" ] || { echo "run: ERROR: $INITRD missing (make initramfs)"; exit 1; }
# One boot at a time: build/disk.img is shared (the main job writes to it
# and the write-back check reads it after QEMU exits).
# (harness/run-one.sh holds it already and says so with ZPCI_RUN_LOCKED=1)
if [ "${ZPCI_RUN_LOCKED:-0}" != 1 ]; then
	exec 7>"$B/.run.lock"
	flock -n 7 || { echo "run: waiting for build/.run.lock (another emulated-host run)"; flock 7; }
fi
# fresh disk image every boot (the main job writes to it)
python3 "$TOP/harness/mkdisk.py" create "$B/disk.img"
rm -f "$B/logs/run-$mode$TAG.writeback"
# the initramfs with the kvm.ko built with this kernel (KASAN, bench: their own)
BOOT_INITRD=$B/initramfs-boot$TAG.cpio.gz
INITRAMFS_BASE=$INITRD "$TOP/harness/mkinitramfs.sh" boot "$KERNEL" "$BOOT_INITRD" || exit 1
INITRD=$BOOT_INITRD

# ZPCI_FUNCS=N zPCI virtio-blk functions (default: what the trace packed by
# mkinitramfs.sh needs, build/initramfs.funcs, and at least 2: the nested
# tests use vfio1 as a second device); function 0 is build/disk.img, the
# others get small scratch images (vfio1, vfio2, ...)
NF=${ZPCI_FUNCS:-$(cat "$B/initramfs.funcs" 2>/dev/null || echo 1)}
[ -n "${ZPCI_FUNCS:-}" ] || [ "$NF" -ge 2 ] || NF=2
# ICOUNT=1: the emulated clock counts executed instructions (1 ns each),
# deterministic figures for make bench
ICOUNT_ARGS=()
[ "${ICOUNT:-0}" = 1 ] && ICOUNT_ARGS=(-icount shift=0,align=off,sleep=off)
QEMU=(qemu-system-s390x -M s390-ccw-virtio -accel tcg "${ICOUNT_ARGS[@]}" -smp ${SMP:-2} -m ${MEM:-5120}
      -nographic -no-reboot -net none -action panic=exit-failure
      -kernel "$KERNEL" -initrd "$INITRD"
      -append "console=ttysclp0 panic=-1 zpci.mode=$mode zpci.test_timeout=$TEST_TMO ${KERNEL_CMDLINE:-}"
      -drive if=none,id=d0,file="$B/disk.img",format=raw,cache=writeback
      -device zpci,uid=1,fid=1,target=blk0
      -device virtio-blk-pci,id=blk0,drive=d0,iommu_platform=on,disable-legacy=on)
for ((i = 1; i < NF; i++)); do
	[ -f "$B/disk$i.img" ] || truncate -s 1M "$B/disk$i.img"
	QEMU+=(-drive if=none,id=d$i,file="$B/disk$i.img",format=raw,cache=writeback
	       -device zpci,uid=$((i + 1)),fid=$((i + 1)),target=blk$i
	       -device virtio-blk-pci,id=blk$i,drive=d$i,iommu_platform=on,disable-legacy=on)
done

if [ "$mode" = shell ]; then exec "${QEMU[@]}"; fi
echo "run: booting (mode=$mode, timeout ${TMO}s), console -> build/logs/run-$mode$TAG.log"
t0=$(date +%s.%N)
timeout --foreground -k 10 "$TMO" "${QEMU[@]}" < /dev/null > "$LOG" 2>&1
qrc=$?
t1=$(date +%s.%N)
dur=$(echo "$t1 - $t0" | bc)
echo "run: qemu exited rc=$qrc after ${dur}s"
[ $qrc = 124 ] && echo "run: ERROR: boot timed out after ${TMO}s"
"$TOP/harness/parse-log.sh" "$LOG" "$RES" "$qrc"
prc=$?
# write-back check while still holding the run lock
python3 "$TOP/harness/mkdisk.py" check "$B/disk.img" > "$B/logs/run-$mode$TAG.writeback"
echo "rc=$?" >> "$B/logs/run-$mode$TAG.writeback"
exit $prc
