#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Pack build/initramfs.cpio.gz: static busybox (s390x), harness/init,
# build/selftests/* and harness/zpci_tests.list.
#
#   mkinitramfs.sh boot BZIMAGE OUT   OUT = build/initramfs.cpio.gz followed by
#                                     a second archive with the kvm.ko built
#                                     with BZIMAGE (<kernel out>/arch/s390/kvm/
#                                     kvm.ko) as /lib/modules/kvm.ko, and its
#                                     kernel's `uname -v` in
#                                     /lib/modules/kvm.ko.uts (harness/init
#                                     refuses a kvm.ko of another build).
#                                     harness/run-qemu.sh does this for every
#                                     boot, so the KASAN and bench kernels get
#                                     their own kvm.ko.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build

if [ "${1:-}" = boot ]; then
	img=$2; out=$3
	kout=${img%/arch/s390/boot/bzImage}
	BASE=${INITRAMFS_BASE:-$B/initramfs.cpio.gz}
	[ -f "$BASE" ] || { echo "initramfs: ERROR: $BASE missing" >&2; exit 1; }
	ko=$kout/arch/s390/kvm/kvm.ko
	O=$out.kmod; rm -rf "$O"; mkdir -p "$O/lib/modules"
	if [ "$kout" != "$img" ] && [ -f "$ko" ] && grep -qx CONFIG_KVM=m "$kout/.config" 2>/dev/null; then
		cp "$ko" "$O/lib/modules/kvm.ko"
		sed -n 's/^#define UTS_VERSION "\(.*\)"$/\1/p' "$kout/include/generated/utsversion.h" \
			> "$O/lib/modules/kvm.ko.uts" 2>/dev/null || true
		[ -s "$O/lib/modules/kvm.ko.uts" ] || rm -f "$O/lib/modules/kvm.ko.uts"
		# the KUnit suite of the same build (harness/kunit_s390_kvm_shadow)
		kt=$kout/drivers/iommu/s390-kvm-shadow-test.ko
		[ -f "$kt" ] && cp "$kt" "$O/lib/modules/"
	else
		echo "initramfs: note: no kvm.ko next to $img (KVM built in?): none packed"
	fi
	{ cat "$BASE"
	  (cd "$O" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1
	} > "$out.new"
	mv "$out.new" "$out"
	rm -rf "$O"
	exit 0
fi

BB=$B/busybox/bin/busybox
[ -x "$BB" ] || "$TOP/harness/deps.sh" busybox
# INITRAMFS_OUT: another output (harness/run-one.sh); TEST_LIST: another list
OUTF=${INITRAMFS_OUT:-$B/initramfs.cpio.gz}
R=$OUTF.root
rm -rf "$R"; mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tests,etc,lib/modules}
cp "$BB" "$R/bin/busybox"
cp "$TOP/harness/init" "$R/init"; chmod +x "$R/init"
n=0
if [ -d "$B/selftests" ]; then
	for f in "$B"/selftests/*; do [ -f "$f" ] && cp "$f" "$R/tests/" && n=$((n + 1)); done
fi
# the KUnit suite's runner (loads the test module packed with the kernel)
cp "$TOP/harness/kunit_s390_kvm_shadow" "$R/tests/"
LIST=${TEST_LIST:-$TOP/harness/zpci_tests.list}
if [ -f "$LIST" ]; then cp "$LIST" "$R/tests/zpci_tests.list"; else
	echo "initramfs: note: $LIST missing: the check run will run no listed tests"; fi
# Trace for zpci_rpcit_replay/_bench (TRACE=path, relative to the repo; .xz or
# plain), decompressed to /tests/replay.trace; build/initramfs.funcs = the
# number of zPCI functions (distinct fh) it needs (run-qemu.sh boots that many)
. "$TOP/harness/trace-default.sh"
TR=${TRACE:-$DEFAULT_TRACE}
case "$TR" in /*) ;; *) TR=$TOP/$TR ;; esac
if [ -f "$TR" ]; then
	trace_cat "$TR" > "$R/tests/replay.trace"
	echo "${TRACE:-$TR}" > "$R/tests/replay.trace.name"	# for messages naming records
	nf=$(grep -E '^(ioat|rpcit) ' "$R/tests/replay.trace" | grep -oE ' fh=0x[0-9a-fA-F]+' | sort -u | wc -l || true)
	[ "$nf" -ge 1 ] || nf=1
	echo "$nf" > "$B/initramfs.funcs"
	echo "initramfs: trace $TR ($nf zPCI functions)"
else
	echo "initramfs: note: trace $TR missing: zpci_rpcit_replay will fail"
	echo 1 > "$B/initramfs.funcs"
fi
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$OUTF.new"
mv "$OUTF.new" "$OUTF"
echo "initramfs: ${OUTF#$TOP/} ($n test programs, $(du -k "$OUTF" | cut -f1) KiB)"
