#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the KVM selftests for s390x through tools/testing/selftests/kvm/Makefile
# of the prepared tree (static, cross-compiled, against the uAPI headers of
# build/out) into build/selftests-kvm, and copy the zPCI RPCIT programs
# (TEST_GEN_PROGS_s390x += s390x/zpci_rpcit_*) to build/selftests for the
# initramfs.  ZPCI_ONLY=0 also builds the other s390x tests.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
KSFT=$B/linux/tools/testing/selftests/kvm
OUTK=$B/selftests-kvm
OUT=$B/selftests
[ -d "$B/out/usr/include/linux" ] || { echo "selftests: ERROR: uAPI headers missing: run 'make headers'" >&2; exit 1; }
[ -f "$KSFT/Makefile" ] || { echo "selftests: ERROR: $KSFT missing: run 'make prepare'" >&2; exit 1; }
mkdir -p "$OUTK" "$OUT" "$B/logs"
progs=$(sed -n 's|^TEST_GEN_PROGS_s390x += s390x/\(zpci_[a-z_0-9]*\)$|\1|p' "$KSFT/Makefile")
[ -n "$progs" ] || { echo "selftests: ERROR: no zpci programs in $KSFT/Makefile" >&2; exit 1; }
targets=()
if [ "${ZPCI_ONLY:-1}" = 1 ]; then
	for p in $progs; do targets+=("$OUTK/s390x/$p"); done
fi
# -fmacro-prefix-map: __FILE__ in messages (kselftest_harness) relative to the tree
if ! make --no-print-directory -C "$KSFT" ARCH=s390 CROSS_COMPILE=s390x-linux-gnu- \
	OUTPUT="$OUTK" KHDR_INCLUDES="-isystem $B/out/usr/include" \
	EXTRA_CFLAGS="-static -fmacro-prefix-map=$B/linux/=" -j"$(nproc)" "${targets[@]}" \
	> "$B/logs/selftests-build.log" 2>&1; then
	grep -m20 -E "error|Error" "$B/logs/selftests-build.log" | sed 's/^/    /'
	echo "selftests: ERROR: build failed (build/logs/selftests-build.log)"
	exit 1
fi
n=0
for p in $progs; do
	if ! cmp -s "$OUTK/s390x/$p" "$OUT/$p"; then cp "$OUTK/s390x/$p" "$OUT/$p"; echo "selftests: built $p"; fi
	n=$((n + 1))
done
# drop programs that left the Makefile
for f in "$OUT"/*; do
	[ -f "$f" ] || continue
	echo "$progs" | grep -qxF "$(basename "$f")" || rm -f "$f"
done
echo "selftests: $n zPCI programs (tools/testing/selftests/kvm/Makefile)"
