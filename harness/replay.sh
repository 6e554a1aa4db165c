#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make replay / make bench: pack TRACE (default the shipped
# ../shared/traces/seq_lazy.trace.xz, relative to the repo) into the
# initramfs, boot the emulated host with one zPCI function per traced fh and
# run zpci_rpcit_replay (exit status = its verdict) or zpci_rpcit_bench
# (prints a table, never fails on time; the host-native engine benchmarks of
# tools/testing/s390-kvm-shadow are printed first).
# Usage: replay.sh replay|bench   (TRACE=, MEM=, TEST_TIMEOUT=, MODE=,
#        ENGINE_BENCH=0: bench without the host-native engine part)
# MODE=on-demand (default) | pinned-parent (replay only): the nested hwpts'
# mode, passed to zpci_rpcit_replay as zpci.replay_mode= on the kernel
# command line; pinned-parent logs are build/logs/run-replay-pinned-parent.*
# make bench: on a kernel without the lock/RCU debugging (harness/kernel.config
# + harness/bench.config, built into build/out-bench; logs
# build/logs/run-bench-nodebug.*) under -icount shift=0 (the emulated clock
# counts instructions: figures in instructions, deterministic).
# DEBUG=1: the test kernel (build/out) instead; ICOUNT=0: wall time (ns).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
what=${1:-replay}
. "$TOP/harness/trace-default.sh"
export TRACE=${TRACE:-$DEFAULT_TRACE}
case "$TRACE" in /*) tr=$TRACE ;; *) tr=$TOP/$TRACE ;; esac
[ -f "$tr" ] || { echo "$what: ERROR: trace $TRACE not found ($tr)"; exit 1; }
prog=zpci_rpcit_$what
MODE=${MODE:-on-demand}
case "$MODE" in
on-demand|pinned-parent) ;;
*) echo "$what: ERROR: MODE=$MODE (on-demand or pinned-parent)"; exit 1 ;;
esac
[ -x "$B/selftests/$prog" ] || { echo "$what: ERROR: build/selftests/$prog missing (failed to build?)"; exit 1; }
"$TOP/harness/mkinitramfs.sh" || exit 1
nf=$(cat "$B/initramfs.funcs" 2>/dev/null || echo 1)
if [ "$what" = bench ] && [ "${ENGINE_BENCH:-1}" != 0 ]; then
	echo "=== engine alone, host-native (make -C tools/testing/s390-kvm-shadow bench) ==="
	make -s -C "$TOP/tools/testing/s390-kvm-shadow" bench 2>&1 || echo "bench: host-native engine bench failed"
	echo
	echo "=== emulated host: trace replay, in-kernel vs userspace RPCIT path ==="
fi
tag=
if [ "$what" = replay ]; then
	export KERNEL_CMDLINE="${KERNEL_CMDLINE:-} zpci.replay_mode=$MODE"
	if [ "$MODE" != on-demand ]; then
		tag=-$MODE
		export RUN_TAG=$tag
	fi
	echo "replay: mode $MODE"
elif [ "$MODE" != on-demand ]; then
	echo "bench: note: MODE=$MODE ignored (the bench runs every configuration)"
fi
if [ "$what" = bench ]; then
	export ICOUNT=${ICOUNT:-1}
	if [ "$ICOUNT" = 1 ]; then
		export KERNEL_CMDLINE="${KERNEL_CMDLINE:-} zpci.bench_unit=insn"
		# one vCPU of the emulated host: icount runs one TCG thread anyway
		export SMP=${SMP:-1}
	fi
	echo "bench: clock $([ "$ICOUNT" = 1 ] && echo "icount (1 ns = 1 instruction)" || echo "wall time (TCG)")"
fi
if [ "$what" = bench ] && [ "${DEBUG:-0}" != 1 ]; then
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
# the program's own report (between the harness markers; the bench's last
# line is its summary, the replay's end marker carries its exit status)
awk -v p="$prog" -v w="$what" 'index($0, "ZPCI-HARNESS: BEGIN " p) == 1 { on = 1; next }
	index($0, "ZPCI-HARNESS: END " p) == 1 { on = 0; if (w != "bench") print; next }
	on' "$log" 2>/dev/null
grep -q "^ZPCI-HARNESS: END $prog rc=0" "$log" 2>/dev/null || rc=1
if [ "$what" = replay ]; then
	[ $rc = 0 ] && echo "make: replay OK (mode $MODE)" || echo "make: replay FAILED (mode $MODE, build/logs/run-replay$tag.log)"
	exit $rc
fi
[ $rc = 0 ] || echo "make: bench run incomplete (build/logs/run-bench$tag.log)"
exit 0
