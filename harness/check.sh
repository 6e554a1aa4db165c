#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check / check-host / check-static.  Every test program or check is one
# result; a missing piece counts as failed.  The last line printed is
# "N passed, N failed" (results also in build/logs/check.results).
# Exit status: 0 when the harness ran to the end (the summary is the verdict),
# unless STRICT=1, then 1 when anything failed.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
H=$TOP/harness
what=${1:-all}
mkdir -p "$B/logs"
RES=$B/logs/check-$what.results
: > "$RES"
export PATH=/usr/bin:$PATH	# Debian python3 (ply, git) for spdxcheck.py

pass() { echo "PASS $*" >> "$RES"; echo "check: PASS $*"; }
fail() { echo "FAIL $*" >> "$RES"; echo "check: FAIL $*"; }
step() { echo; echo "=== $* ==="; }

summary() {
	local p f
	p=$(grep -c '^PASS' "$RES"); f=$(grep -c '^FAIL' "$RES")
	echo
	echo "=== summary ($RES) ==="
	grep '^FAIL' "$RES" | sed 's/^/  /'
	echo "$p passed, $f failed"
	if [ "${STRICT:-0}" = 1 ] && [ "$f" != 0 ]; then exit 1; fi
	exit 0
}

# --- host-native unit tests (H2) ---------------------------------------------
check_host() {
	step "host-native unit tests (tools/testing/s390-kvm-shadow)"
	if [ ! -f "$TOP/tools/testing/s390-kvm-shadow/Makefile" ]; then
		if [ "$what" = host ]; then
			echo "check-host: note: tools/testing/s390-kvm-shadow/Makefile not landed yet: skipped"
		else
			fail "host-unit-tests: tools/testing/s390-kvm-shadow/Makefile missing"
		fi
		return
	fi
	if make -C "$TOP/tools/testing/s390-kvm-shadow" check > "$B/logs/check-host.log" 2>&1; then
		tail -5 "$B/logs/check-host.log"; pass "host-unit-tests"
	else
		tail -30 "$B/logs/check-host.log"; fail "host-unit-tests (build/logs/check-host.log)"
	fi
}

# Our files: overlay files + files the patches create
our_files() {	# $1 = regex on path
	{ cd "$TOP" && git ls-files -co --exclude-standard -- arch drivers include \
		tools/testing/selftests/kvm/s390x
	  for p in $(cat "$B/.prepare/applied/series" 2>/dev/null); do
		awk '/^--- \/dev\/null/{n=1; next} n && /^\+\+\+ /{p=$2; sub(/\t.*/,"",p); sub(/^[^\/]*\//,"",p); print p} {n=0}' \
			"$B/.prepare/applied/$p"
	  done; } | grep -E "$1" | sort -u
}

src_of() {	# path of an our-file: overlay copy if any, else the prepared tree
	if [ -f "$TOP/$1" ]; then echo "$TOP/$1"; else echo "$B/linux/$1"; fi
}

check_static() {
	[ -f "$B/linux/scripts/checkpatch.pl" ] || { fail "static: build/linux not prepared"; return; }
	step "checkpatch --strict"
	local f out
	for f in $(our_files '\.[ch]$'); do
		out=$(cd "$B/linux" && scripts/checkpatch.pl --strict --no-tree --no-summary --terse -f "$(src_of "$f")" 2>&1)
		if [ $? = 0 ]; then pass "checkpatch $f"; else echo "$out" | head -20; fail "checkpatch $f"; fi
	done
	for f in $(cd "$TOP" && ls patches/*.patch 2>/dev/null); do
		out=$(cd "$B/linux" && scripts/checkpatch.pl --strict --no-tree --no-summary --terse "$TOP/$f" 2>&1)
		if [ $? = 0 ]; then pass "checkpatch $f"; else echo "$out" | head -20; fail "checkpatch $f"; fi
	done
	step "kernel-doc -none -Werror"
	for f in $(our_files '^(arch|drivers|include)/.*\.[ch]$'); do
		out=$(cd "$B/linux" && scripts/kernel-doc -none -Werror "$(src_of "$f")" 2>&1)
		if [ $? = 0 ]; then pass "kernel-doc $f"; else echo "$out" | head -20; fail "kernel-doc $f"; fi
	done
	step "W=1 C=2 (sparse) build of our objects"
	local objs=() c
	for c in $(our_files '^(arch|drivers)/.*\.c$'); do
		if [ -f "$B/out/${c%.c}.o" ]; then objs+=("${c%.c}.o")
		else echo "sparse: note: $c is not built by this config (no build/out/${c%.c}.o): skipped"; fi
	done
	if [ ${#objs[@]} = 0 ]; then
		echo "sparse: note: none of our kernel C files is built yet: nothing to check"
		return
	fi
	command -v sparse >/dev/null || { fail "sparse: sparse not installed"; return; }
	"$H/build-kernel.sh" W=1 C=2 "${objs[@]}" > "$B/logs/check-sparse.log" 2>&1
	local rc=$?
	local pat
	pat=$(printf '%s\\|' "${objs[@]%.o}"); pat=${pat%\\|}
	if [ $rc = 0 ] && ! grep -E "(warning|error):" "$B/logs/check-sparse.log" | grep -q "$pat"; then
		pass "sparse+W=1 ${objs[*]}"
	else
		grep -E "(warning|error):" "$B/logs/check-sparse.log" | head -30
		fail "sparse+W=1 (make rc=$rc, build/logs/check-sparse.log)"
	fi
}

# Optional (KASAN=1, on in .ci/run): the same run on a KASAN kernel
# (build/out-kasan).  -smp 1: KASAN + 2 vCPUs hangs in early boot under TCG.
check_kasan() {
	step "KASAN kernel build (build/out-kasan)"
	if KOUT=$B/out-kasan EXTRA_FRAGMENT=$H/kasan.config "$H/build-kernel.sh" all \
		> "$B/logs/check-kbuild-kasan.log" 2>&1; then
		tail -1 "$B/logs/check-kbuild-kasan.log"; pass "kernel build (KASAN)"
	else
		grep -E "error|ERROR" "$B/logs/check-kbuild-kasan.log" | head -30
		fail "kernel build (KASAN) (build/logs/check-kbuild-kasan.log)"; return
	fi
	step "emulated host run on the KASAN kernel (-smp 1)"
	# one vCPU and KASAN's checks make it several times slower than the
	# default run: longer bounds for the boot and for each program
	KERNEL=$B/out-kasan/arch/s390/boot/bzImage SMP=1 RUN_TAG=-kasan \
		BOOT_TIMEOUT=${KASAN_BOOT_TIMEOUT:-2400} TEST_TIMEOUT=${KASAN_TEST_TIMEOUT:-1200} \
		"$H/run-qemu.sh" check
	local st rest
	while read -r st rest; do
		case "$rest" in setup*) continue ;; esac	# counted once, in the main run
		if [ "$st" = PASS ]; then pass "kasan run: $rest"; else fail "kasan run: $rest"; fi
	done < "$B/logs/run-check-kasan.results"
}

list_tests() {
	local l=$TOP/tools/testing/selftests/kvm/s390x/zpci_tests.list
	[ -f "$l" ] && sed -e 's/#.*//' "$l" | awk 'NF{print $1}'
}

check_all() {
	"$H/deps.sh" || { fail "deps: package installation failed"; summary; }
	step "harness self-test (prepare.sh on a fake tree)"
	if "$H/test-prepare.sh" > "$B/logs/check-test-prepare.log" 2>&1; then pass "harness prepare self-test"
	else cat "$B/logs/check-test-prepare.log"; fail "harness prepare self-test"; fi
	check_host
	step "prepare + kernel build"
	local kok=0
	if "$H/prepare.sh" && "$H/build-kernel.sh" > "$B/logs/check-kbuild.log" 2>&1; then
		tail -2 "$B/logs/check-kbuild.log"; pass "kernel build"; kok=1
	else
		grep -E "error|ERROR" "$B/logs/check-kbuild.log" | head -30; fail "kernel build (build/logs/check-kbuild.log)"
	fi
	check_static
	step "selftests build"
	if [ $kok = 1 ]; then
		"$H/build-selftests.sh" || echo "check: some selftests failed to build (they count as failed below)"
	fi
	step "emulated host run"
	local n
	if [ $kok = 1 ] && "$H/mkinitramfs.sh"; then
		"$H/run-qemu.sh" check
		while read -r st rest; do
			if [ "$st" = PASS ]; then pass "run: $rest"; else fail "run: $rest"; fi
		done < "$B/logs/run-check.results"
		step "disk write-back check"
		local wb=$B/logs/run-check.writeback
		if [ -f "$wb" ] && grep -qx "rc=0" "$wb"; then pass "$(head -1 "$wb")"
		elif [ -f "$wb" ]; then fail "$(head -1 "$wb")"
		else fail "write-back check: not run"; fi
		[ "${KASAN:-0}" = 1 ] && check_kasan
	else
		for n in $(list_tests) ; do fail "run: $n not run (no kernel)"; done
		# parse-log.sh counts each zpci_rpcit_main configuration as one result
		for n in on-demand pinned-parent direct-map; do fail "run: main job [$n] not run (no kernel)"; done
		list_tests >/dev/null || fail "run: zpci_tests.list missing"
		fail "run: emulated host not booted"
		fail "write-back check: not run"
	fi
	summary
}

case "$what" in
host)	check_host; summary ;;
static)	check_static; summary ;;
all)	check_all ;;
*)	echo "usage: check.sh all|host|static"; exit 2 ;;
esac
