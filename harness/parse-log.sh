#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Parse a console log of harness/init.  Writes one result per line to
# RESULTS: "PASS|FAIL <name> <detail>".  Exit 0 iff every result passed.
# Usage: parse-log.sh LOG RESULTS [qemu-rc]
#        parse-log.sh --names LIST   the result name of every line of a test list
#
# Results: the setup; every program run ("<program> [<args>]", arguments that
# are paths left out): PASS only when it exited 0 and, for a kselftest_harness
# program (its source includes kselftest_harness.h, or it printed TAP), it
# printed a TAP plan of at least one case and a plain "ok" for every case;
# every TAP case of it ("<program> [<args>] <case>": a SKIP, an XFAIL or a
# "not ok" is a FAIL); its "fault injection: ", "stress: " and "hostile
# guest: " lines (PASS when their program passed); in a check run every
# program of the test list that did not run (init announces them with
# LISTED; a log without those lines is compared with TEST_LIST or the
# list packed for the run); the dmesg scan; the run's completion; one
# result per zpci_rpcit_main configuration.
# Env: SELFTESTS_SRC (where the programs' sources are, to tell the
#      kselftest_harness ones), TEST_LIST (the list of a log without LISTED lines)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SELFTESTS_SRC:-$TOP/tools/testing/selftests/kvm/s390x}
H="ZPCI-HARNESS:"

# result name of a test list line (or of the arguments of a BEGIN line)
NAME_AWK='function tname(first, i, n) { n = $first
	for (i = first + 1; i <= NF; i++) if ($i !~ /^\//) n = n " " $i
	return n }'

list_names() {	# list file -> one result name per program line
	sed -e 's/#.*//' "$1" | awk "$NAME_AWK"' NF { print tname(1) }'
}

if [ "${1:-}" = --names ]; then
	list_names "$2"
	exit
fi

LOG=$1; RES=$2; QRC=${3:-0}
tr -d '\r' < "$LOG" > "$LOG.clean"
: > "$RES"
res() { echo "$*" >> "$RES"; }

# kernel problems (the same pattern as harness/init's dmesg scan)
BENIGN='RCU lockdep checking is enabled'
PAT='WARNING:|BUG:|lockdep|KASAN|Oops|Kernel panic|kernel BUG at'
PAT="$PAT|rcu: INFO: rcu_sched self-detected stall|rcu_.* detected stalls|RCU Stall"
PAT="$PAT|blocked for more than|hung_task|general protection|UBSAN:|refcount_t:"
PAT="$PAT|list_add corruption|list_del corruption"
WHAT="WARNING, BUG, lockdep, KASAN, Oops, RCU stall, hung task, general protection, UBSAN,"
WHAT="$WHAT refcount_t, list corruption"

mode=$(sed -n "s/^$H BOOTED .* mode=\([a-z]*\).*/\1/p" "$LOG.clean" | head -1)
[ -n "$mode" ] || mode=$(basename "$LOG" | sed -n 's/^run-\([a-z]*\).*/\1/p')

kvm=$(grep -m1 "^$H KVM " "$LOG.clean" | cut -d' ' -f3-)
if grep -q "^$H SETUP ok" "$LOG.clean"; then
	res "PASS setup kvm ${kvm:-?}, vfio-pci bound, /dev/iommu, /dev/vfio/devices/vfio0 and /dev/kvm present"
else
	why=$(grep -E "^$H (SETUP|KVM|NODE .* MISSING|PCI|no virtio)" "$LOG.clean" | tr '\n' ';' | cut -c1-300)
	res "FAIL setup ${why:-not reached (no harness lines on the console)}"
fi
grep -q "^$H NOLIST" "$LOG.clean" && res "FAIL zpci_tests.list missing: no listed selftests ran"

# the programs this run was to run (check runs only)
EXP=$(mktemp)
trap 'rm -f "$EXP"' EXIT
if [ "$mode" = check ] && ! grep -q "^$H NOLIST" "$LOG.clean"; then
	if grep -q "^$H LISTED " "$LOG.clean"; then
		grep "^$H LISTED " "$LOG.clean" | awk "$NAME_AWK"' { print tname(3) }' > "$EXP"
	else	# init did not get that far: the list packed for this run
		only=0
		grep -q '^\[ *[0-9.]*\] Kernel command line: .*zpci\.only_listed=1' "$LOG.clean" && only=1
		tag=$(basename "$LOG" .log | sed -n 's/^run-check-//p')
		list=${TEST_LIST:-}
		if [ -z "$list" ] && [ $only = 1 ] && [ -n "$tag" ]; then
			list=$TOP/build/run-one/$tag/tests.list	# harness/run-one.sh
		fi
		[ -n "$list" ] || list=$TOP/harness/zpci_tests.list
		if [ -f "$list" ]; then
			list_names "$list" > "$EXP"
			[ $only = 1 ] || grep -qx zpci_rpcit_main "$EXP" || echo zpci_rpcit_main >> "$EXP"
		else
			res "FAIL test list $list missing: cannot tell which programs did not run"
		fi
	fi
fi

# the kselftest_harness programs (a missing TAP plan is a failure)
TAP=$(grep -l 'kselftest_harness\.h' "$SRC"/*.c 2>/dev/null | sed 's|.*/||; s/\.c$//' | tr '\n' ' ')

# BEGIN/END pairs, the TAP cases and the report lines in between, then the
# listed programs that did not run.  A program listed twice is told apart by
# its options, e.g. "zpci_rpcit_replay -m pinned-parent -f".
awk -v H="$H" -v tap="$TAP" -v expfile="$EXP" "$NAME_AWK"'
	function reason(r) { why = why (why == "" ? "" : "; ") r }
	function finish(rc, i, n, bad) {
		why = ""
		if (rc == "") reason("did not finish (crash, hang or boot timeout)")
		else if (rc == "127") reason("program missing")
		else if (rc == "137") reason("killed (per-test timeout) rc=137")
		else if (rc != "0") reason("exit code " rc)
		if (rc != "127" && (tapexp || plan >= 0)) {
			if (plan < 0) reason("no TAP plan")
			else if (plan == 0) reason("TAP plan of no case (" planline ")")
			else {
				n = 0
				for (i = 1; i <= plan; i++) if (i in seen) n++
				if (n < plan) reason((plan - n) " of " plan " cases did not report")
				if (ncase - nok > 0) reason((ncase - nok) " of " plan " cases failed or skipped")
			}
		}
		print (why == "" ? "PASS " : "FAIL ") name (why == "" ? "" : " " why)
		for (i = 1; i <= ncase; i++) print cases[i]
		for (i = 1; i <= nrep; i++)
			print (why == "" ? "PASS " : "FAIL ") reps[i] (why == "" ? "" : " (" name " failed)")
		ran[name]++
		open_ = 0
	}
	BEGIN {
		n = split(tap, t, " "); for (i = 1; i <= n; i++) istap[t[i]] = 1
		while ((getline l < expfile) > 0) exp_[++nexp] = l
	}
	index($0, H " BEGIN ") == 1 {
		if (open_) finish("")
		name = tname(3); tapexp = ($3 in istap); plan = -1; planline = ""
		ncase = 0; nok = 0; nrep = 0; delete seen; delete cases; delete reps
		open_ = 1; next
	}
	index($0, H " END ") == 1 {
		rc = $4; sub(/^rc=/, "", rc)
		if (open_) finish(rc)
		next
	}
	!open_ { next }
	/^TAP version / { tapexp = 1; next }
	plan < 0 && /^1\.\.[0-9]+/ { planline = $0; plan = substr($1, 4) + 0; next }
	plan >= 0 && /^(not )?ok [0-9]+( |$)/ {
		l = $0
		sub(/\[ *[0-9]+\.[0-9]+\].*$/, "", l)	# a kernel message on the same line
		sub(/[ \t]+$/, "", l)
		notok = (substr(l, 1, 4) == "not ")
		if (notok) l = substr(l, 5)
		sub(/^ok /, "", l)
		num = l; sub(/ .*/, "", num); num += 0
		l = (index(l, " ") ? substr(l, index(l, " ") + 1) : "")
		dir = ""
		if ((i = index(l, " # ")) > 0) { dir = substr(l, i + 3); l = substr(l, 1, i - 1) }
		else if (substr(l, 1, 2) == "# ") { dir = substr(l, 3); l = "" }
		if (l == "") l = "case " num
		seen[num] = 1
		cname = name " " l
		if (notok) r = "FAIL " cname ": not ok" (dir == "" ? "" : " # " dir)
		else if (dir ~ /^[Ss][Kk][Ii][Pp]/) r = "FAIL " cname ": " dir
		else if (dir != "") r = "FAIL " cname ": # " dir
		else { r = "PASS " cname; nok++ }
		cases[++ncase] = r
		next
	}
	{	# report lines, also when logged with TH_LOG ("# file:line:test:")
		l = $0; sub(/^# /, "", l); sub(/^[^ :]+:[0-9]+:[A-Za-z0-9_]+:/, "", l)
		sub(/[ \t]+$/, "", l)
		if (l ~ /^(fault injection|stress|hostile guest): /) reps[++nrep] = l
	}
	END {
		if (open_) finish("")
		for (i = 1; i <= nexp; i++) {
			if (ran[exp_[i]] > 0) ran[exp_[i]]--
			else print "FAIL " exp_[i] " not run"
		}
	}
' "$LOG.clean" >> "$RES"

# the dmesg scan of harness/init, and the kernel lines of the console (all
# of them: the ring buffer may have dropped early ones)
cons=$(grep -E '^\[ *[0-9]+\.[0-9]+\] ' "$LOG.clean" | grep -E "$PAT" | grep -vE "$BENIGN")
if grep -q "^$H DMESG-ISSUES" "$LOG.clean"; then
	n=$(grep -m1 "^$H DMESG-ISSUES" "$LOG.clean" | cut -d' ' -f3)
	first=$(grep -m1 "^$H DMESG: " "$LOG.clean" | cut -d' ' -f3- | cut -c1-200)
	res "FAIL dmesg $n lines match ($WHAT): $first"
elif [ -n "$cons" ]; then
	res "FAIL dmesg kernel problem on the console: $(echo "$cons" | head -1 | cut -c1-200)"
elif grep -q "^$H DMESG-CLEAN" "$LOG.clean"; then
	res "PASS dmesg clean (no $WHAT)"
else
	res "FAIL dmesg scan did not run (run incomplete)"
fi
grep -q "^$H DONE" "$LOG.clean" || res "FAIL run did not complete (qemu rc=$QRC; timeout, panic or hang)"

# zpci_rpcit_main: one line per configuration, each one result; the lines
# (or what is missing) go to <results>.mainjob for harness/main.sh
mainjob_ok() {	# config line
	local re
	if [ "$1" = direct-map ]; then
		re='^main job \[direct-map\]: 0 rpcit, ([0-9]+) guest pages pinned, ([0-9]+) bytes verified by DMA$'
		[[ $2 =~ $re ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[2]}" -ge 65536 ]
		return
	fi
	re="^main job \\[$1\\]: ([0-9]+) rpcit handled in kernel, ([0-9]+) pages pinned, ([0-9]+) bytes verified by DMA, 0 exits to userspace\$"
	[[ $2 =~ $re ]] || return 1
	[ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[3]}" -ge 65536 ] || return 1
	case "$1" in
	on-demand) [ "${BASH_REMATCH[2]}" -gt 0 ] ;;
	pinned-parent) [ "${BASH_REMATCH[2]}" = 0 ] ;;
	esac
}
MJ=${RES%.results}.mainjob
: > "$MJ"
if grep -q "^$H BEGIN zpci_rpcit_main" "$LOG.clean" || grep -qx zpci_rpcit_main "$EXP" ||
   [ "$mode" = main ]; then
	for cfg in on-demand pinned-parent direct-map; do
		line=$(grep -h "^main job \[$cfg\]: " "$LOG.clean" | tail -1)
		if [ -z "$line" ]; then
			echo "main job [$cfg]: ERROR: no line in the log (zpci_rpcit_main did not finish?)" >> "$MJ"
			res "FAIL main job [$cfg]: no line in the log"
		elif mainjob_ok "$cfg" "$line"; then
			echo "$line" >> "$MJ"; res "PASS main job [$cfg]"
		else
			echo "$line" >> "$MJ"; res "FAIL main job [$cfg]: ${line#main job \[$cfg\]: }"
		fi
	done
fi
sed 's/^/  /' "$RES"
grep -q '^FAIL' "$RES" && exit 1
exit 0
