#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-hercules: upstream's KVM s390x selftests on a machine that
# interprets guests (Hercules 3.13, real SIE), on the patched kernel
# (build/out, as `make kernel` builds it) and on the unpatched kernel
# (build/unpatched, harness/build-unpatched.sh: the same base and config,
# no patch, no overlay file), compared test by test; and the intercept
# fields of real SIE against the model of the test-only mode
# (zpci_rpcit_icpt_fields).
#
#   1. the selftests of the base tree's tools/ (a copy, build/hercules/src,
#      with harness/hercules/kvm_util-guest-ram-written.patch: Hercules
#      faults guest stores to pages the host never wrote), static, against
#      the base's uAPI headers;
#   2. one initramfs per kernel: busybox, harness/hercules/init, the programs
#      of harness/hercules/tests.list and that kernel's kvm.ko;
#   3. each kernel booted under Hercules (IPL from a .ins file, no console
#      interaction; hao quits on the init's last line), bounded by the sum of
#      the programs' timeouts plus BOOT_SLACK seconds;
#   4. per program and kernel: PASS, FAIL, SKIP (exit status 4), TIMEOUT
#      (killed) or NOT RUN, and its TAP cases.
#
# A regression is a program whose result on the patched kernel differs from
# the unpatched kernel's (other than becoming a PASS), or a TAP case that is
# "ok" on the unpatched kernel and "not ok" on the patched one.  Prints a
# line per program with both results, and last:
#   hercules: upstream KVM selftests N passed on the patched kernel, M on the unpatched kernel, R regressions
# Results for make check in build/logs/hercules.results (PASS/FAIL lines).
# Exit status 1 when there is a regression or a check failed.
#
# Environment: PATCHED_OUT (default build/out), NUMCPU (Hercules CPUs,
# default 1), BOOT_SLACK (default 180), HERCULES_LIST (another test list),
# NO_BOOT=1 (compare the logs of the last boots again).
set -uo pipefail
export PATH=/usr/bin:$PATH
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=$TOP/build
H=$TOP/harness
HH=$H/hercules
HB=$B/hercules
LIST=${HERCULES_LIST:-$HH/tests.list}
PATCHED_OUT=${PATCHED_OUT:-$B/out}
U=$B/unpatched
NUMCPU=${NUMCPU:-1}
BOOT_SLACK=${BOOT_SLACK:-180}
RES=$B/logs/hercules.results
mkdir -p "$HB" "$B/logs"
: > "$RES"

say() { echo "hercules: $*"; }
pass() { echo "PASS $*" >> "$RES"; say "PASS $*"; }
fail() { echo "FAIL $*" >> "$RES"; say "FAIL $*"; }
die() { fail "$*"; say "upstream KVM selftests 0 passed on the patched kernel, 0 on the unpatched kernel, bed not run"; exit 1; }

command -v hercules >/dev/null || "$H/deps.sh" || die "deps: package installation failed"
command -v hercules >/dev/null || die "hercules is not installed (Debian package hercules)"

# --- the two kernels ---------------------------------------------------------
PK=$PATCHED_OUT/arch/s390/boot/bzImage
PKO=$PATCHED_OUT/arch/s390/kvm/kvm.ko
[ -f "$PK" ] && [ -f "$PKO" ] || die "patched kernel missing: $PK, $PKO (make kernel)"
"$H/build-unpatched.sh" || die "unpatched kernel (build/logs/unpatched-build.log)"

# --- upstream's selftests from the base tree -----------------------------------
# tools/ and scripts/subarch.include of the pristine base (the git tree of
# build-unpatched.sh), the base's uAPI headers as usr/include
SRCD=$HB/src
ST_OUT=$HB/selftests-upstream
GT=$B/series-tree/linux
srcstamp="$(cat "$U/stamp") patch:$(sha256sum < "$HH/kvm_util-guest-ram-written.patch" | cut -c1-16)"
if [ "$(cat "$SRCD/.stamp" 2>/dev/null)" != "$srcstamp" ]; then
	rm -rf "$SRCD" "$ST_OUT"; mkdir -p "$SRCD"
	git -C "$GT" archive base tools scripts/subarch.include | tar -x -C "$SRCD" ||
		die "cannot copy tools/ of the base tree"
	cp -a "$U/usr" "$SRCD/usr"
	(cd "$SRCD" && patch -p1 -s < "$HH/kvm_util-guest-ram-written.patch") ||
		die "kvm_util-guest-ram-written.patch does not apply to the base's selftests"
	echo "$srcstamp" > "$SRCD/.stamp"
fi
say "building upstream's KVM selftests of Linux $(cat "$U/version") (static, s390x)"
if ! make --no-print-directory -C "$SRCD/tools/testing/selftests/kvm" ARCH=s390 \
	CROSS_COMPILE=s390x-linux-gnu- OUTPUT="$ST_OUT" \
	LDFLAGS='-static -pthread -no-pie -Wl,--s390-pgste' -j"$(nproc)" \
	> "$B/logs/hercules-selftests-build.log" 2>&1; then
	grep -m20 -E "error|Error" "$B/logs/hercules-selftests-build.log" | sed 's/^/    /'
	die "upstream selftests build failed (build/logs/hercules-selftests-build.log)"
fi

# --- the test list ----------------------------------------------------------
# prog names: "upstream/s390x/memop" -> result name "memop"
declare -a T_TIMEOUT T_PROG T_ARGS T_NOTE
while IFS= read -r line; do
	case "$line" in ''|'#'*) continue ;; esac
	note=
	case "$line" in *'#'*) note=$(echo "${line#*#}" | sed 's/^ *//'); line=${line%%#*} ;; esac
	read -r t prog args <<< "$line"
	T_TIMEOUT+=("$t"); T_PROG+=("$prog"); T_ARGS+=("$args"); T_NOTE+=("$note")
done < "$LIST"
NT=${#T_PROG[@]}
[ "$NT" -gt 0 ] || die "$LIST lists no program"
tsum=0; for t in "${T_TIMEOUT[@]}"; do tsum=$((tsum + t)); done
name_of() { local p=${T_PROG[$1]##*/}; echo "$p${T_ARGS[$1]:+ ${T_ARGS[$1]}}"; }
# where each program of the list is built: upstream's build, or ours
bin_of() { case "${T_PROG[$1]}" in upstream/*) echo "$ST_OUT/${T_PROG[$1]#upstream/}" ;; *) echo "$B/selftests/${T_PROG[$1]}" ;; esac; }
for ((i = 0; i < NT; i++)); do
	[ -x "$(bin_of $i)" ] || die "$(bin_of $i) missing (make selftests)"
done

# --- initramfs per kernel ------------------------------------------------------
BB=$B/busybox/bin/busybox
[ -x "$BB" ] || "$H/deps.sh" busybox || die "no static s390x busybox"
mkinitrd() {	# kvm.ko out
	local R=$2.root i p
	rm -rf "$R"; mkdir -p "$R"/{bin,proc,sys,dev,tmp,tests,lib/modules}
	cp "$BB" "$R/bin/busybox"
	cp "$HH/init" "$R/init"; chmod +x "$R/init"
	cp "$1" "$R/lib/modules/kvm.ko"
	: > "$R/tests/hercules.list"
	for ((i = 0; i < NT; i++)); do
		p=${T_PROG[$i]}
		mkdir -p "$R/tests/$(dirname "$p")"
		cp "$(bin_of $i)" "$R/tests/$p"
		echo "${T_TIMEOUT[$i]} $p ${T_ARGS[$i]}" >> "$R/tests/hercules.list"
	done
	(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$2"
	rm -rf "$R"
}

# --- one boot under Hercules ---------------------------------------------------
boot() {	# label bzImage kvm.ko -> build/logs/hercules-<label>.log
	local label=$1 D log t0 rc
	D=$HB/boot-$label log=$B/logs/hercules-$label.log
	rm -rf "$D"; mkdir -p "$D"
	cp "$2" "$D/bzImage"
	mkinitrd "$3" "$D/initrd.img" || { echo "initramfs failed" > "$log"; return 1; }
	python3 - "$D" <<'EOF' || return 1
import os, struct, sys
d = sys.argv[1]
cmd = b"console=ttyS0"
open(os.path.join(d, "parm.bin"), "wb").write(cmd + b"\0" * (896 - len(cmd)))
size = os.path.getsize(os.path.join(d, "initrd.img"))
open(os.path.join(d, "initrd.size"), "wb").write(struct.pack(">QQ", 0x04000000, size))
EOF
	cat > "$D/linux.ins" <<-EOF
	bzImage 0x00000000
	initrd.img 0x04000000
	parm.bin 0x00010480
	initrd.size 0x00010408
	EOF
	cat > "$D/herc.cnf" <<-EOF
	ARCHMODE z/Arch
	NUMCPU $NUMCPU
	MAINSIZE 3072
	OSTAILOR LINUX
	0009 3215-C /
	EOF
	cat > "$D/boot.rc" <<-EOF
	hao tgt HERC DONE
	hao cmd quit
	ipl $D/linux.ins
	EOF
	local bound=$((tsum + BOOT_SLACK))
	say "booting the $label kernel under Hercules (NUMCPU $NUMCPU, bounded at $bound s)"
	t0=$(date +%s)
	(cd "$D" && HERCULES_RC=boot.rc timeout -k 10 "$bound" hercules -d -f herc.cnf < /dev/null > "$log" 2>&1)
	rc=$?
	say "$label kernel: Hercules ended after $(( $(date +%s) - t0 )) s (rc=$rc)"
	[ $rc = 124 ] && echo "HERC BOOT TIMEOUT after $bound s" >> "$log"
	return 0
}

# --- results of one boot ---------------------------------------------------
# build/hercules/<label>.results: "name<TAB>status<TAB>detail" per program and
# build/hercules/<label>.cases: "name<TAB>case<TAB>ok|not ok"
parse() {	# label
	local label=$1 log
	log=$B/logs/hercules-$label.log
	awk -v names="$(for ((i = 0; i < NT; i++)); do printf '%s\t%s\n' "${T_PROG[$i]}" "$(name_of $i)"; done)" \
	    -v out="$HB/$label.results" -v cases="$HB/$label.cases" '
	BEGIN {
		n = split(names, l, "\n")
		for (i = 1; i <= n; i++) { split(l[i], f, "\t"); nm[f[1]] = f[2]; order[i] = f[1] }
		no = n; printf "" > out; printf "" > cases
	}
	/^HERC BEGIN / { cur = $3; ok[cur] = 0; nok[cur] = 0; sk[cur] = 0; begun[cur] = 1; next }
	/^HERC END / {
		if (cur == "") next
		rc = $4; sub(/^rc=/, "", rc); secs = $5; sub(/^secs=/, "", secs)
		erc[cur] = rc; esecs[cur] = secs; ended[cur] = 1; cur = ""; next
	}
	cur != "" && /^(not )?ok [0-9]+/ {
		line = $0; st = (line ~ /^not ok/) ? "not ok" : "ok"
		c = line; sub(/^(not )?ok [0-9]+ (- )?/, "", c)
		if (c ~ /# *SKIP/) { sk[cur]++; st = "skip"; sub(/ *# *SKIP.*/, "", c) }
		else if (st == "ok") ok[cur]++; else nok[cur]++
		printf "%s\t%s\t%s\n", nm[cur], c, st >> cases
		next
	}
	cur != "" && /^HERC OUT / { o = $0; sub(/^HERC OUT /, "", o); last[cur] = o; next }
	/^HERC WARMUP / { warm = $0 }
	END {
		for (i = 1; i <= no; i++) {
			p = order[i]; if (p == "") continue
			if (!ended[p]) { st = "NOT-RUN"; d = begun[p] ? "the boot ended while it ran" : "the boot ended before it" }
			else {
				rc = erc[p]
				if (rc == 0 && nok[p] == 0 && ok[p] == 0 && sk[p] > 0) st = "SKIP"
				else if (rc == 0 && nok[p] == 0) st = "PASS"
				else if (rc == 4) st = "SKIP"
				else if (rc == 137) st = "TIMEOUT"
				else st = "FAIL"
				d = sprintf("rc=%s, %s s, TAP %d ok, %d not ok, %d skip", rc, esecs[p], ok[p], nok[p], sk[p])
				if (st != "PASS" && last[p] != "") d = d "; " last[p]
			}
			printf "%s\t%s\t%s\n", nm[p], st, d >> out
		}
	}' "$log"
}

mkdir -p "$HB"
for k in patched unpatched; do
	if [ "${NO_BOOT:-0}" = 1 ]; then say "NO_BOOT=1: results of the last boot of the $k kernel"
	elif [ $k = patched ]; then boot $k "$PK" "$PKO"; else boot $k "$U/bzImage" "$U/kvm.ko"; fi
	parse $k
	log=$B/logs/hercules-$k.log
	booted=$(grep -m1 '^HERC BOOTED ' "$log" | cut -d' ' -f3-)
	[ -n "$booted" ] && say "$k kernel: booted $booted; $(grep -m1 '^HERC KVM ' "$log" | cut -d' ' -f2-);" \
		"$(grep -m1 '^HERC WARMUP ' "$log" | cut -d' ' -f2-) (warm-up VM)" ||
		say "$k kernel: no HERC BOOTED line in build/logs/hercules-$k.log"
	w=$(sed -n 's/^HERC DMESG warnings=//p' "$log")
	[ -n "$w" ] && [ "$w" != 0 ] && say "$k kernel: $w kernel warning lines (build/logs/hercules-$k.log)"
done

# --- comparison ---------------------------------------------------------------
st_of() { awk -F'\t' -v n="$2" '$1 == n { print $2 }' "$HB/$1.results"; }
de_of() { awk -F'\t' -v n="$2" '$1 == n { print $3 }' "$HB/$1.results"; }
npass=0; mpass=0; nreg=0
echo
say "per test: patched kernel | unpatched kernel"
for ((i = 0; i < NT; i++)); do
	n=$(name_of $i); p=${T_PROG[$i]}
	sp=$(st_of patched "$n"); su=$(st_of unpatched "$n")
	dp=$(de_of patched "$n"); du=$(de_of unpatched "$n")
	note=${T_NOTE[$i]}
	# TAP cases ok on the unpatched kernel, not ok on the patched one
	worse=$(awk -F'\t' -v n="$n" 'FNR == NR { if ($1 == n && $3 == "ok") u[$2] = 1; next }
		$1 == n && $3 == "not ok" && ($2 in u) { print $2 }' "$HB/unpatched.cases" "$HB/patched.cases" | head -3 | paste -sd';')
	reg=
	if [ "$sp" != "$su" ] && [ "$sp" != PASS ]; then reg="result $su on the unpatched kernel, $sp on the patched kernel"; fi
	[ -n "$worse" ] && reg="${reg:+$reg; }cases ok only on the unpatched kernel: $worse"
	case "$p" in
	upstream/*)
		[ "$sp" = PASS ] && npass=$((npass + 1))
		[ "$su" = PASS ] && mpass=$((mpass + 1))
		say "$n: patched $sp ($dp), unpatched $su ($du)${note:+; on Hercules: $note}"
		if [ -n "$reg" ]; then
			nreg=$((nreg + 1)); fail "$n: regression: $reg"
		elif [ "$sp" = NOT-RUN ] || [ "$su" = NOT-RUN ]; then
			fail "$n: not run (patched $sp, unpatched $su)"
		elif [ -z "$note" ] && [ "$sp" != PASS ]; then
			# the bed itself: these pass on Hercules
			fail "$n: $sp on the patched kernel (and $su on the unpatched kernel), a pass on Hercules expected"
		elif [ "$sp" = SKIP ] && [ "$su" = SKIP ]; then
			# a skip is a skip: not counted as passed
			echo "SKIP $n: skipped on both kernels${note:+ ($note)}" >> "$RES"
			say "SKIP $n: skipped on both kernels${note:+ ($note)}"
		else
			pass "$n: no regression (patched $sp, unpatched $su)${note:+; on Hercules: $note}"
		fi ;;
	*)
		say "$n: patched $sp ($dp), unpatched $su ($du)" ;;
	esac
done

# --- the intercept fields of real SIE against the test-only mode's model ------
fields() {	# label
	grep -o 'FIELDS .*' "$B/logs/hercules-$1.log" | sed "s/^FIELDS /$1 kernel: /"
}
si=$(st_of patched zpci_rpcit_icpt_fields); su=$(st_of unpatched zpci_rpcit_icpt_fields)
fields patched | sed 's/^/    /'
fields unpatched | sed 's/^/    /'
cp=$(awk -F'\t' '$1 == "zpci_rpcit_icpt_fields" && $3 == "ok"' "$HB/patched.cases" | wc -l)
if [ "$si" = PASS ] && [ "$su" = PASS ] && [ "$cp" -ge 3 ]; then
	pass "intercept fields of real SIE equal the test-only mode's RRE intercept (icptcode, ipa, ipb) for TB in the kernel and SERVC to userspace; the test-only ioctls absent (ENOTTY) (patched and unpatched kernel)"
else
	fail "intercept fields: zpci_rpcit_icpt_fields patched $si ($(de_of patched zpci_rpcit_icpt_fields)), unpatched $su ($(de_of unpatched zpci_rpcit_icpt_fields))"
fi

line="upstream KVM selftests $npass passed on the patched kernel, $mpass on the unpatched kernel, $nreg regressions"
if [ $nreg = 0 ] && ! grep -q '^FAIL' "$RES"; then
	echo "PASS hercules: $line" >> "$RES"
	say "$line"
	exit 0
fi
echo "FAIL hercules: $line" >> "$RES"
say "$line"
exit 1
