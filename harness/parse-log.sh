#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Parse a console log of harness/init.  Writes one result per line to
# RESULTS: "PASS|FAIL <name> <detail>".  Exit 0 iff every result passed.
# Usage: parse-log.sh LOG RESULTS [qemu-rc]
set -uo pipefail
LOG=$1; RES=$2; QRC=${3:-0}
H="ZPCI-HARNESS:"
tr -d '\r' < "$LOG" > "$LOG.clean"
: > "$RES"
res() { echo "$*" >> "$RES"; }

kvm=$(grep -m1 "^$H KVM " "$LOG.clean" | cut -d' ' -f3-)
if grep -q "^$H SETUP ok" "$LOG.clean"; then
	res "PASS setup kvm ${kvm:-?}, vfio-pci bound, /dev/iommu, /dev/vfio/devices/vfio0 and /dev/kvm present"
else res "FAIL setup $(grep -E "^$H (SETUP|KVM|NODE .* MISSING|PCI|no virtio)" "$LOG.clean" | tr '\n' ';' | cut -c1-300)"; fi
grep -q "^$H NOLIST" "$LOG.clean" && res "FAIL zpci_tests.list missing: no listed selftests ran"

# BEGIN/END pairs
# a program listed twice is told apart by its options (arguments that are
# not paths), e.g. "zpci_rpcit_replay -m pinned-parent"
awk -v H="$H" '
	index($0, H " BEGIN ") == 1 { name = $3; for (i = 4; i <= NF; i++) if ($i !~ /^\//) name = name " " $i
		open_ = 1; next }
	index($0, H " END ") == 1 { rc = $4; sub(/^rc=/, "", rc); if (!open_) name = $3
		if (rc == "0") print "PASS " name; else if (rc == "127") print "FAIL " name " program missing";
		else if (rc == "137") print "FAIL " name " killed (per-test timeout) rc=137";
		else print "FAIL " name " exit code " rc; open_ = 0; next }
	END { if (open_) print "FAIL " name " did not finish (crash, hang or boot timeout)" }
' "$LOG.clean" >> "$RES"

if grep -q "^$H DMESG-CLEAN" "$LOG.clean"; then res "PASS dmesg clean (no WARNING:|BUG:|lockdep|KASAN|Oops)"
elif grep -q "^$H DMESG-ISSUES" "$LOG.clean"; then res "FAIL dmesg $(grep "^$H DMESG-ISSUES" "$LOG.clean" | cut -d' ' -f3) lines match WARNING:|BUG:|lockdep|KASAN|Oops"
else
	if grep -qE 'WARNING:|BUG:|Oops|Kernel panic' "$LOG.clean"; then
		res "FAIL dmesg kernel problem on the console: $(grep -m1 -E 'WARNING:|BUG:|Oops|Kernel panic' "$LOG.clean" | cut -c1-200)"
	else res "FAIL dmesg scan did not run (run incomplete)"; fi
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
if grep -q "^$H BEGIN zpci_rpcit_main" "$LOG.clean"; then
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
