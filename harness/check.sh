#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check / check-host / check-static.  Every check, every test program,
# every TAP case of a kselftest_harness program and every report line of a
# program is one result (harness/parse-log.sh); a missing piece, a program of
# the test list that did not run and a kselftest SKIP count as failed.  The
# last line printed is "N passed, N failed" (results also in
# build/logs/check-<what>.results).  Exit status: 1 when anything failed.
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
	# the programs' own report lines (fault injection, stress, hostile guest)
	grep -E '^(PASS|FAIL) (kasan )?run: (fault injection|stress|hostile guest): ' "$RES" |
		sed 's/^/  /'
	grep '^FAIL' "$RES" | sed 's/^/  /'
	echo "$p passed, $f failed"
	[ "$f" = 0 ] || exit 1
	exit 0
}

# --- host-native unit tests ---------------------------------------------------
check_host() {
	step "host-native unit tests (tools/testing/s390-kvm-shadow)"
	if [ ! -f "$TOP/tools/testing/s390-kvm-shadow/Makefile" ]; then
		if [ "$what" = host ]; then
			echo "check-host: note: tools/testing/s390-kvm-shadow/Makefile missing: skipped"
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
		tools/testing/selftests/kvm/s390x tools/testing/selftests/kvm/lib/s390x \
		tools/testing/selftests/kvm/include/s390x
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

# The patch series (harness/series.sh): each of its checks is one result
# (overlay files assigned, applies, same tree as build/linux, checkpatch
# and the build of every patch)
check_series() {
	step "patch series (make series)"
	local log=$B/logs/check-series.log st rest
	"$H/series.sh" > "$log" 2>&1
	local rc=$?
	grep -vE '^series: (PASS|FAIL) ' "$log" | tail -15
	while read -r st rest; do
		if [ "$st" = PASS ]; then pass "series: $rest"; else fail "series: $rest"; fi
	done < <(sed -n 's/^series: \(PASS\|FAIL\) /\1 /p' "$log")
	if [ $rc = 0 ] && tail -1 "$log" | grep -qE '^series: [0-9]+ patches, applies to Linux 6\.12\.[0-9]+, builds at every patch, checkpatch clean$'; then
		pass "$(tail -1 "$log")"
	else
		fail "series: make series failed (rc=$rc, build/logs/check-series.log)"
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
		fail "kernel build (KASAN) (build/logs/check-kbuild-kasan.log)"
		rm -f "$B"/logs/run-check-kasan.{log,results,log.clean,mainjob,writeback}
		not_run "kasan run: " "no KASAN kernel"; return
	fi
	step "emulated host run on the KASAN kernel (-smp 1)"
	# its own list (zpci_tests-kasan.list): the same programs with smaller
	# time budgets, since one vCPU and KASAN's checks make it several times
	# slower; longer bounds for the boot and for each program
	local LIST=$KASAN_LIST
	if ! TEST_LIST=$LIST INITRAMFS_OUT=$B/initramfs-kasan.cpio.gz "$H/mkinitramfs.sh" \
		> "$B/logs/check-initramfs-kasan.log" 2>&1; then
		cat "$B/logs/check-initramfs-kasan.log"
		not_run "kasan run: " "initramfs for the KASAN run failed"; return
	fi
	INITRD_BASE=$B/initramfs-kasan.cpio.gz KERNEL=$B/out-kasan/arch/s390/boot/bzImage SMP=1 \
		BOOT_TIMEOUT=${KASAN_BOOT_TIMEOUT:-2400} TEST_TIMEOUT=${KASAN_TEST_TIMEOUT:-1200} \
		boot_and_count "kasan run: " -kasan
}

# The Hercules bed (harness/hercules/run.sh): one result per upstream test
# (no regression against the unpatched kernel), the intercept-field check
# and the bed's summary line; a test skipped on both kernels is reported as
# a skip, not counted
check_hercules() {	# kernel built: 1|0
	step "Hercules bed: upstream KVM selftests under real SIE, patched and unpatched kernel"
	local log=$B/logs/check-hercules.log st rest
	if [ "$1" != 1 ]; then
		fail "hercules: not run (no patched kernel)"; return
	fi
	"$H/hercules/run.sh" > "$log" 2>&1
	grep -E '^hercules: ' "$log" | grep -vE '^hercules: (PASS|FAIL|SKIP) ' | tail -40
	[ -s "$B/logs/hercules.results" ] || { fail "hercules: no results (build/logs/check-hercules.log)"; return; }
	while read -r st rest; do
		case "$st" in
		PASS) pass "hercules: ${rest#hercules: }" ;;
		FAIL) fail "hercules: ${rest#hercules: }" ;;
		SKIP) echo "check: SKIP hercules: $rest" ;;
		esac
	done < "$B/logs/hercules.results"
}

LIST=$TOP/harness/zpci_tests.list
KASAN_LIST=$TOP/harness/zpci_tests-kasan.list

# The result names of the programs of a check run, as harness/parse-log.sh
# names them ("<program> [<args>]"; harness/init adds zpci_rpcit_main)
run_names() {
	[ -f "$LIST" ] || return 1
	"$H/parse-log.sh" --names "$LIST"
	"$H/parse-log.sh" --names "$LIST" | grep -qx zpci_rpcit_main || echo zpci_rpcit_main
}

not_run() {	# prefix why: every result of a check run that did not happen
	local n
	run_names | while read -r n; do fail "$1$n not run ($2)"; done
	# parse-log.sh counts each zpci_rpcit_main configuration as one result
	for n in on-demand pinned-parent direct-map; do fail "$1main job [$n]: not run ($2)"; done
	[ -f "$LIST" ] || fail "${1}zpci_tests.list missing"
	fail "${1}emulated host not booted ($2)"
}

# One check boot (run-qemu.sh check, RUN_TAG=$2; the caller's environment
# selects kernel and bounds); its results prefixed with $1.  The results of
# an earlier boot are removed first: a boot that never starts leaves none.
boot_and_count() {
	local r=$B/logs/run-check$2 st rest rc
	rm -f "$r.log" "$r.results" "$r.log.clean" "$r.mainjob" "$r.writeback"
	RUN_TAG=$2 "$H/run-qemu.sh" check
	rc=$?
	if [ ! -s "$r.results" ]; then
		not_run "$1" "run-qemu.sh rc=$rc before the boot"
		return
	fi
	while read -r st rest; do
		# the setup is counted once, in the main run (unless it failed here)
		[ -n "$2" ] && [ "$st" = PASS ] && case "$rest" in setup*) continue ;; esac
		if [ "$st" = PASS ]; then pass "$1$rest"; else fail "$1$rest"; fi
	done < "$r.results"
}

check_all() {
	"$H/deps.sh" || { fail "deps: package installation failed"; summary; }
	step "harness self-test (prepare.sh on a fake tree)"
	if "$H/test-prepare.sh" > "$B/logs/check-test-prepare.log" 2>&1; then pass "harness prepare self-test"
	else cat "$B/logs/check-test-prepare.log"; fail "harness prepare self-test"; fi
	step "harness self-test (parse-log.sh on synthetic console logs)"
	if "$H/test-parse-log.sh" > "$B/logs/check-test-parse-log.log" 2>&1; then
		tail -1 "$B/logs/check-test-parse-log.log"; pass "harness parse-log self-test"
	else cat "$B/logs/check-test-parse-log.log"; fail "harness parse-log self-test"; fi
	check_host
	step "prepare + kernel build"
	local kok=0
	if "$H/prepare.sh" && "$H/build-kernel.sh" > "$B/logs/check-kbuild.log" 2>&1; then
		tail -2 "$B/logs/check-kbuild.log"; pass "kernel build"; kok=1
	else
		grep -E "error|ERROR" "$B/logs/check-kbuild.log" | head -30; fail "kernel build (build/logs/check-kbuild.log)"
	fi
	check_static
	check_series
	step "selftests build"
	if [ $kok = 1 ]; then
		"$H/build-selftests.sh" || echo "check: some selftests failed to build (they count as failed below)"
	fi
	step "emulated host run"
	local iok=0
	[ $kok = 1 ] && "$H/mkinitramfs.sh" && iok=1
	if [ $iok = 1 ]; then
		# the whole list takes about 10 minutes under TCG: bound the boot
		# at 30 (each program keeps its own TEST_TIMEOUT)
		BOOT_TIMEOUT=${BOOT_TIMEOUT:-1800} boot_and_count "run: " ""
		step "disk write-back check"
		local wb=$B/logs/run-check.writeback
		if [ -f "$wb" ] && grep -qx "rc=0" "$wb"; then pass "$(head -1 "$wb")"
		elif [ -f "$wb" ]; then fail "$(head -1 "$wb")"
		else fail "write-back check: not run"; fi
	else
		rm -f "$B"/logs/run-check.{log,results,log.clean,mainjob,writeback}
		not_run "run: " "no kernel or initramfs"
		fail "write-back check: not run"
	fi
	check_hercules $kok
	if [ "${KASAN:-0}" = 1 ]; then
		if [ $iok = 1 ]; then check_kasan
		else
			rm -f "$B"/logs/run-check-kasan.{log,results,log.clean,mainjob,writeback}
			not_run "kasan run: " "no kernel or initramfs"
		fi
	fi
	summary
}

case "$what" in
host)	check_host; summary ;;
static)	check_static; summary ;;
all)	check_all ;;
*)	echo "usage: check.sh all|host|static"; exit 2 ;;
esac
