#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Self-test of harness/parse-log.sh on synthetic console logs: TAP cases
# (ok, SKIP, not ok), a program crashing mid-way, a missing program, a listed
# program that never ran, report lines, kernel problems on the console and in
# init's dmesg scan (hung task, RCU stall, the benign lockdep line), a failed
# setup, a boot that never reached the test list.  Each log's results must
# be exactly the expected ones.  Prints ok/FAIL per check; exit 1 on a failure.
set -uo pipefail
H=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
n=0
M="ZPCI-HARNESS:"

# sources: prog_a, prog_b, prog_c, prog_e are kselftest_harness programs
mkdir -p "$T/src"
for p in prog_a prog_b prog_c prog_e; do echo '#include "kselftest_harness.h"' > "$T/src/$p.c"; done
echo '#include "kvm_util.h"' > "$T/src/prog_d.c"
export SELFTESTS_SRC=$T/src

check() {	# name log expected-results expected-rc [qemu-rc]
	local rc
	n=$((n + 1))
	printf '%s' "$2" > "$T/run-check-$n.log"
	"$H/parse-log.sh" "$T/run-check-$n.log" "$T/$n.results" "${5:-0}" > "$T/$n.out" 2>&1
	rc=$?
	printf '%s' "$3" > "$T/$n.expected"
	if diff -u "$T/$n.expected" "$T/$n.results" > "$T/$n.diff" && [ $rc = "$4" ]; then
		echo "  ok   $1"
	else
		echo "  FAIL $1 (parse-log.sh rc=$rc, expected $4)"
		sed 's/^/       /' "$T/$n.diff" "$T/$n.out"
		fails=$((fails + 1))
	fi
}

BOOT="[    0.100000] Linux version 6.12.0
[    0.200000] Kernel command line: console=ttysclp0 panic=-1 zpci.mode=check
[    0.300000] rcu: 	RCU lockdep checking is enabled.
$M BOOTED 6.12.0 mode=check
$M KVM loaded
$M PCI 0001:00:00.0 0x1af4:0x1042 driver=vfio-pci
$M NODE /dev/iommu present
$M NODE /dev/vfio/devices/vfio0 present
"
SETUP_OK="${BOOT}$M NODE /dev/kvm present
$M SETUP ok
"
PASS_SETUP="PASS setup kvm loaded, vfio-pci bound, /dev/iommu, /dev/vfio/devices/vfio0 and /dev/kvm present"
CLEAN="PASS dmesg clean (no WARNING, BUG, lockdep, KASAN, Oops, RCU stall, hung task, general protection, UBSAN, refcount_t, list corruption)"
WHAT="WARNING, BUG, lockdep, KASAN, Oops, RCU stall, hung task, general protection, UBSAN, refcount_t, list corruption"

# 1: SKIP and not-ok cases, report line and a kernel message on a case line,
# a missing program, a non-TAP program, a TAP program without a plan, a crash
# mid-program with a hung task on the console, a listed program never run
check "cases, missing program, crash mid-program, hung task, program not run" "${SETUP_OK}$M LISTED prog_a
$M LISTED prog_b -x /tests/some.file
$M LISTED prog_missing
$M LISTED prog_d
$M LISTED prog_e
$M LISTED prog_c
$M LISTED prog_never
$M BEGIN prog_a
TAP version 13
1..3
# Starting 3 tests from 1 test cases.
#  RUN           t.one ...
#            OK  t.one
ok 1 t.one
#  RUN           t.two ...
#      SKIP      no device
#            OK  t.two
ok 2 t.two # SKIP no device
#  RUN           t.three ...
# prog_a.c:10:three:Expected 0 (0) == -1 (-1)
#          FAIL  t.three
not ok 3 t.three
# FAILED: 1 / 3 tests passed.
# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0
$M END prog_a rc=1
$M BEGIN prog_b -x /tests/some.file
TAP version 13
1..2
ok 1 b.one
# fault injection: 12 fail-nth points, 12 failures answered, 0 leaks
# tools/testing/selftests/kvm/s390x/prog_b.c:50:two:stress: 2 threads, 10 rounds
ok 2 b.two[   10.000000] vfio-pci 0001:00:00.0: enabling device (0000 -> 0002)
# PASSED: 2 / 2 tests passed.
$M END prog_b rc=0
$M BEGIN prog_missing
$M program /tests/prog_missing missing
$M END prog_missing rc=127
$M BEGIN prog_d
ok 1 looks like TAP but prog_d prints no plan
$M END prog_d rc=0
$M BEGIN prog_e
$M END prog_e rc=0
$M BEGIN prog_c
TAP version 13
1..4
ok 1 c.one
#  RUN           c.two ...
[  250.000000] INFO: task prog_c:77 blocked for more than 120 seconds.
[  250.000100]       Not tainted 6.12.0 #1
" "$PASS_SETUP
FAIL prog_a exit code 1; 2 of 3 cases failed or skipped
PASS prog_a t.one
FAIL prog_a t.two: SKIP no device
FAIL prog_a t.three: not ok
PASS prog_b -x
PASS prog_b -x b.one
PASS prog_b -x b.two
PASS fault injection: 12 fail-nth points, 12 failures answered, 0 leaks
PASS stress: 2 threads, 10 rounds
FAIL prog_missing program missing
PASS prog_d
FAIL prog_e no TAP plan
FAIL prog_c did not finish (crash, hang or boot timeout); 3 of 4 cases did not report
PASS prog_c c.one
FAIL prog_never not run
FAIL dmesg kernel problem on the console: [  250.000000] INFO: task prog_c:77 blocked for more than 120 seconds.
FAIL run did not complete (qemu rc=124; timeout, panic or hang)
" 1 124

# 2: /dev/kvm missing fails the setup; init's dmesg scan found an RCU stall
# that the console did not show; a report line of a failed program; the
# main job lines; a TAP plan of no case
check "setup without /dev/kvm, RCU stall in dmesg, report line of a failed program" "${BOOT}$M NODE /dev/kvm MISSING
$M SETUP fail (/dev/kvm missing)
$M LISTED prog_b
$M LISTED prog_a
$M LISTED zpci_rpcit_main
$M BEGIN prog_b
TAP version 13
1..1
# stress: 4 threads, 1000 rounds, pins back to baseline
not ok 1 b.stress
$M END prog_b rc=1
$M BEGIN prog_a
TAP version 13
1..0 # SKIP no /dev/kvm
$M END prog_a rc=4
$M BEGIN zpci_rpcit_main
main job [on-demand]: 151 rpcit handled in kernel, 309 pages pinned, 17416192 bytes verified by DMA, 0 exits to userspace
main job [pinned-parent]: 150 rpcit handled in kernel, 5 pages pinned, 17416192 bytes verified by DMA, 0 exits to userspace
$M END zpci_rpcit_main rc=1
$M DMESG-ISSUES 1
$M DMESG: [  300.000000] rcu: INFO: rcu_sched self-detected stall on CPU
$M DMESG: [  300.000001] rcu: 	0-....: (5250 ticks this GP)
$M DONE
" "FAIL setup $M KVM loaded;$M PCI 0001:00:00.0 0x1af4:0x1042 driver=vfio-pci;$M NODE /dev/kvm MISSING;$M SETUP fail (/dev/kvm missing);
FAIL prog_b exit code 1; 1 of 1 cases failed or skipped
FAIL prog_b b.stress: not ok
FAIL stress: 4 threads, 1000 rounds, pins back to baseline (prog_b failed)
FAIL prog_a exit code 4; TAP plan of no case (1..0 # SKIP no /dev/kvm)
FAIL zpci_rpcit_main exit code 1
FAIL dmesg 1 lines match ($WHAT): [  300.000000] rcu: INFO: rcu_sched self-detected stall on CPU
PASS main job [on-demand]
FAIL main job [pinned-parent]: 150 rpcit handled in kernel, 5 pages pinned, 17416192 bytes verified by DMA, 0 exits to userspace
FAIL main job [direct-map]: no line in the log
" 1

# 3: everything passed (exit status 0), the benign lockdep line ignored
check "all passed" "${SETUP_OK}$M LISTED prog_a
$M LISTED prog_d /tests/x
$M BEGIN prog_a
TAP version 13
1..2
ok 1 t.one
ok 2 t.two
$M END prog_a rc=0
$M BEGIN prog_d /tests/x
hostile guest: 10000 RPCITs, 0 host problems
$M END prog_d rc=0
$M DMESG-CLEAN
$M DONE
" "$PASS_SETUP
PASS prog_a
PASS prog_a t.one
PASS prog_a t.two
PASS prog_d
PASS hostile guest: 10000 RPCITs, 0 host problems
$CLEAN
" 0

# 4: the kernel died before init read the list: every program of the list
# (TEST_LIST) not run, zpci_rpcit_main added as init adds it; a kernel BUG
# on the console
printf '%s\n' 'prog_a' '# a comment' '' 'prog_b -m pinned-parent /tests/t  # mode' > "$T/list"
TEST_LIST=$T/list check "boot died before the list, kernel BUG" "[    0.100000] Linux version 6.12.0
[    1.000000] kernel BUG at mm/slub.c:100!
" "FAIL setup not reached (no harness lines on the console)
FAIL prog_a not run
FAIL prog_b -m pinned-parent not run
FAIL zpci_rpcit_main not run
FAIL dmesg kernel problem on the console: [    1.000000] kernel BUG at mm/slub.c:100!
FAIL run did not complete (qemu rc=1; timeout, panic or hang)
FAIL main job [on-demand]: no line in the log
FAIL main job [pinned-parent]: no line in the log
FAIL main job [direct-map]: no line in the log
" 1 1

# 5: the result names check.sh reports for a run that did not boot
n=$((n + 1))
if [ "$("$H/parse-log.sh" --names "$T/list" | tr '\n' '|')" = "prog_a|prog_b -m pinned-parent|" ]; then
	echo "  ok   list names"
else
	echo "  FAIL list names: $("$H/parse-log.sh" --names "$T/list" | tr '\n' '|')"; fails=$((fails + 1))
fi

# 6: harness/init's dmesg scan uses the same pattern and exceptions
n=$((n + 1))
if [ "$(grep -E '^(PAT|BENIGN)=' "$H/init")" = "$(grep -E '^(PAT|BENIGN)=' "$H/parse-log.sh")" ]; then
	echo "  ok   init and parse-log.sh scan for the same kernel problems"
else
	echo "  FAIL init and parse-log.sh scan for different kernel problems"; fails=$((fails + 1))
fi

echo "parse-log self-test: $((n - fails)) of $n checks passed"
[ $fails = 0 ]
