#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build every tools/testing/selftests/kvm/s390x/zpci_*.c as one static s390x
# program in build/selftests/, linked with .../s390x/lib/*.c if present.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
SD=$TOP/tools/testing/selftests/kvm/s390x
OUT=$B/selftests
CC=${SELFTEST_CC:-s390x-linux-gnu-gcc}
[ -d "$B/out/usr/include/linux" ] || { echo "selftests: ERROR: uAPI headers missing: run 'make headers'" >&2; exit 1; }
mkdir -p "$OUT"
shopt -s nullglob
progs=("$SD"/zpci_*.c)
libs=("$SD"/lib/*.c)
if [ ${#progs[@]} = 0 ]; then
	echo "selftests: note: no $SD/zpci_*.c yet: nothing to build"
	exit 0
fi
# -fmacro-prefix-map: __FILE__ in messages (kselftest_harness) relative to the repository
CFLAGS="-static -O2 -Wall -fmacro-prefix-map=$TOP/= -I$B/out/usr/include -I$B/linux/tools/testing/selftests -I$SD"
[ -d "$SD/lib" ] && CFLAGS="$CFLAGS -I$SD/lib"
fail=0
for p in "${progs[@]}"; do
	n=$(basename "$p" .c)
	# rebuild when the program, the lib or the headers are newer
	if [ -x "$OUT/$n" ] && [ -z "$(find "$p" "$SD" "$B/out/usr/include" -newer "$OUT/$n" \
	     \( -name '*.c' -o -name '*.h' \) -print -quit 2>/dev/null)" ]; then
		continue
	fi
	mkdir -p "$B/logs"
	if $CC $CFLAGS -o "$OUT/$n.tmp" "$p" "${libs[@]}" -Wl,--s390-pgste > "$B/logs/selftest-$n.log" 2>&1; then
		mv "$OUT/$n.tmp" "$OUT/$n"; echo "selftests: built $n"
	else
		rm -f "$OUT/$n.tmp" "$OUT/$n"
		grep -m8 -E "error:" "$B/logs/selftest-$n.log" | sed 's/^/    /'
		echo "selftests: ERROR: $n failed to build (build/logs/selftest-$n.log)"; fail=1
	fi
done
# drop programs whose source disappeared
for f in "$OUT"/*; do [ -f "$SD/$(basename "$f").c" ] || rm -f "$f"; done
exit $fail
