#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make replay / make bench: pack TRACE (default the shipped
# ../shared/traces/seq_lazy.trace.xz, relative to the repo) into the
# initramfs, boot the emulated host with one zPCI function per traced fh and
# run zpci_rpcit_replay (exit status = its verdict) or zpci_rpcit_bench
# (prints a table, never fails on time; the host-native engine benchmarks of
# tools/testing/s390-kvm-shadow are printed first).
# Usage: replay.sh replay|bench   (TRACE=, MEM=, TEST_TIMEOUT=)
# BENCH=1 (make bench BENCH=1 / make bench-nodebug): bench only, on a kernel
# without the lock/RCU debugging (harness/kernel.config + harness/bench.config,
# built into build/out-bench); logs build/logs/run-bench-nodebug.*
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
what=${1:-replay}
. "$TOP/harness/trace-default.sh"
export TRACE=${TRACE:-$DEFAULT_TRACE}
case "$TRACE" in /*) tr=$TRACE ;; *) tr=$TOP/$TRACE ;; esac
[ -f "$tr" ] || { echo "$what: ERROR: trace $TRACE not found ($tr)"; exit 1; }
prog=zpci_rpcit_$what
[ -x "$B/selftests/$prog" ] || { echo "$what: ERROR: build/selftests/$prog missing (failed to build?)"; exit 1; }
"$TOP/harness/mkinitramfs.sh" || exit 1
nf=$(cat "$B/initramfs.funcs" 2>/dev/null || echo 1)
if [ "$what" = bench ]; then
	echo "=== engine alone, host-native (make -C tools/testing/s390-kvm-shadow bench) ==="
	make -s -C "$TOP/tools/testing/s390-kvm-shadow" bench 2>&1 || echo "bench: host-native engine bench failed"
	echo
	echo "=== emulated host: trace replay, in-kernel vs userspace RPCIT path ==="
fi
tag=
if [ "$what" = bench ] && [ "${BENCH:-0}" = 1 ]; then
	echo "=== bench kernel: no lock debugging (build/out-bench, harness/bench.config) ==="
	mkdir -p "$B/logs"
	if KOUT=$B/out-bench EXTRA_FRAGMENT=$TOP/harness/bench.config "$TOP/harness/build-kernel.sh" all \
		> "$B/logs/kbuild-bench.log" 2>&1; then
		tail -1 "$B/logs/kbuild-bench.log"
	else
		grep -E "error|ERROR" "$B/logs/kbuild-bench.log" | head -30
		echo "bench: ERROR: bench kernel build failed (build/logs/kbuild-bench.log)"; exit 1
	fi
	export KERNEL=$B/out-bench/arch/s390/boot/bzImage RUN_TAG=-nodebug
	tag=-nodebug
fi
export TEST_TIMEOUT=${TEST_TIMEOUT:-1800}
export BOOT_TIMEOUT=${BOOT_TIMEOUT:-$((TEST_TIMEOUT + 300))}
ZPCI_FUNCS=$nf "$TOP/harness/run-qemu.sh" "$what"
rc=$?
log=$B/logs/run-$what$tag.log.clean
# the program's own report (between the harness markers)
awk -v p="$prog" 'index($0, "ZPCI-HARNESS: BEGIN " p) == 1 { on = 1; next }
	index($0, "ZPCI-HARNESS: END " p) == 1 { on = 0; print; next }
	on' "$log" 2>/dev/null
grep -q "^ZPCI-HARNESS: END $prog rc=0" "$log" 2>/dev/null || rc=1
if [ "$what" = replay ]; then
	[ $rc = 0 ] && echo "make: replay OK" || echo "make: replay FAILED (build/logs/run-replay.log)"
	exit $rc
fi
[ $rc = 0 ] || echo "make: bench run incomplete (build/logs/run-bench$tag.log)"
exit 0
