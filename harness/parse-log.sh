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

if grep -q "^$H SETUP ok" "$LOG.clean"; then res "PASS setup vfio-pci bound, /dev/iommu and /dev/vfio/devices/vfio0 present"
else res "FAIL setup $(grep -E "^$H (SETUP|NODE .* MISSING|PCI|no virtio)" "$LOG.clean" | tr '\n' ';' | cut -c1-300)"; fi
grep -q "^$H NOLIST" "$LOG.clean" && res "FAIL zpci_tests.list missing: no listed selftests ran"

# BEGIN/END pairs
awk -v H="$H" '
	index($0, H " BEGIN ") == 1 { name = $3; open_ = 1; next }
	index($0, H " END ") == 1 { rc = $4; sub(/^rc=/, "", rc);
		if (rc == "0") print "PASS " $3; else if (rc == "127") print "FAIL " $3 " program missing";
		else if (rc == "137") print "FAIL " $3 " killed (per-test timeout) rc=137";
		else print "FAIL " $3 " exit code " rc; open_ = 0; next }
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

grep -h "^main job: " "$LOG.clean" | tail -1 > "${RES%.results}.mainjob" || true
sed 's/^/  /' "$RES"
grep -q '^FAIL' "$RES" && exit 1
exit 0
