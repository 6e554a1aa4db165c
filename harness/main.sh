#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job: boot with zpci.mode=main, run build/selftests/zpci_rpcit_main,
# print its three "main job [on-demand|pinned-parent|direct-map]: ..." lines
# (harness/parse-log.sh checks each) and check the disk write-back.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
if [ ! -x "$B/selftests/zpci_rpcit_main" ]; then
	echo "main job: ERROR: build/selftests/zpci_rpcit_main does not exist" \
	     "(tools/testing/selftests/kvm/s390x/zpci_rpcit_main.c failed to build)"
	exit 1
fi
"$TOP/harness/run-qemu.sh" main; rc=$?
# one line per configuration; a missing or failed one is a FAIL result too
if [ -s "$B/logs/run-main.mainjob" ]; then
	cat "$B/logs/run-main.mainjob"
else
	echo "main job: ERROR: zpci_rpcit_main did not run (no 'main job [...]' lines in build/logs/run-main.log)"
	rc=1
fi
grep -q '^FAIL main job' "$B/logs/run-main.results" 2>/dev/null && rc=1
wb=$B/logs/run-main.writeback
if [ -f "$wb" ]; then
	head -1 "$wb"
	grep -qx "rc=0" "$wb" || rc=1
else
	echo "write-back check: FAIL: not run"; rc=1
fi
[ $rc = 0 ] && echo "make: main job OK" || echo "make: main job FAILED (see build/logs/run-main.log)"
exit $rc
