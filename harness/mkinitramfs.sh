#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Pack build/initramfs.cpio.gz: static busybox (s390x), harness/init,
# build/selftests/* and tools/testing/selftests/kvm/s390x/zpci_tests.list.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
BB=$B/busybox/bin/busybox
[ -x "$BB" ] || "$TOP/harness/deps.sh" busybox
R=$B/initramfs.root
rm -rf "$R"; mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tests,etc}
cp "$BB" "$R/bin/busybox"
cp "$TOP/harness/init" "$R/init"; chmod +x "$R/init"
n=0
if [ -d "$B/selftests" ]; then
	for f in "$B"/selftests/*; do [ -f "$f" ] && cp "$f" "$R/tests/" && n=$((n + 1)); done
fi
LIST=$TOP/tools/testing/selftests/kvm/s390x/zpci_tests.list
if [ -f "$LIST" ]; then cp "$LIST" "$R/tests/zpci_tests.list"; else
	echo "initramfs: note: $LIST missing: the check run will run no listed tests"; fi
# Trace for zpci_rpcit_replay/_bench (TRACE=path, relative to the repo; .xz or
# plain), decompressed to /tests/replay.trace; build/initramfs.funcs = the
# number of zPCI functions (distinct fh) it needs (run-qemu.sh boots that many)
. "$TOP/harness/trace-default.sh"
TR=${TRACE:-$DEFAULT_TRACE}
case "$TR" in /*) ;; *) TR=$TOP/$TR ;; esac
if [ -f "$TR" ]; then
	case "$TR" in *.xz) xz -dc "$TR" ;; *) cat "$TR" ;; esac > "$R/tests/replay.trace"
	echo "${TRACE:-$TR}" > "$R/tests/replay.trace.name"	# for messages naming records
	nf=$(grep -E '^(ioat|rpcit) ' "$R/tests/replay.trace" | grep -oE ' fh=0x[0-9a-fA-F]+' | sort -u | wc -l || true)
	[ "$nf" -ge 1 ] || nf=1
	echo "$nf" > "$B/initramfs.funcs"
	echo "initramfs: trace $TR ($nf zPCI functions)"
else
	echo "initramfs: note: trace $TR missing: zpci_rpcit_replay will fail"
	echo 1 > "$B/initramfs.funcs"
fi
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$B/initramfs.cpio.gz.new"
mv "$B/initramfs.cpio.gz.new" "$B/initramfs.cpio.gz"
echo "initramfs: build/initramfs.cpio.gz ($n test programs, $(du -k "$B/initramfs.cpio.gz" | cut -f1) KiB)"
