#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Self-test of harness/prepare.sh on a tiny fake base tree (KERNEL_SRC=dir):
# overlay copy, patch apply/revert, mtime preservation, restore of base files,
# empty/missing series, a patch that does not apply.  Prints PASS/FAIL.
set -uo pipefail
H=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { if eval "$2"; then echo "  ok   $1"; else echo "  FAIL $1"; fails=$((fails + 1)); fi; }

mkdir -p "$T/base/drivers" "$T/repo/harness" "$T/repo/patches" "$T/repo/drivers"
printf 'VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 99\n' > "$T/base/Makefile"
printf 'one\ntwo\nthree\n' > "$T/base/drivers/a.c"
printf 'x\n' > "$T/base/drivers/b.c"
touch -d '2020-01-01' "$T/base/drivers/a.c" "$T/base/drivers/b.c"
cp "$H/prepare.sh" "$H/base-tree.sh" "$T/repo/harness/"
mkpatch() {	# new content of drivers/a.c -> unified diff against the base
	mkdir -p "$T/o/drivers" "$T/n/drivers"
	cp "$T/base/drivers/a.c" "$T/o/drivers/a.c"; printf "$1" > "$T/n/drivers/a.c"
	(cd "$T" && diff -u o/drivers/a.c n/drivers/a.c | sed -e 's|^--- o/|--- a/|' -e 's|^+++ n/|+++ b/|')
	rm -rf "$T/o" "$T/n"
}
cd "$T/repo" || exit 1
git init -q . && echo /build/ > .gitignore
export KERNEL_SRC=$T/base
L=build/linux
P() { harness/prepare.sh > "$T/out" 2>&1; }
mt() { stat -c %Y.%y "$1"; }

echo "new" > drivers/new.c
mkpatch 'one\nTWO\nthree\n' > patches/p1.patch; echo p1.patch > patches/series
P; ok "first prepare" '[ $? = 0 ] && grep -q "base tree: Linux 6.12.99" "$T/out"'
ok "patch applied" 'grep -qx TWO $L/drivers/a.c'
ok "overlay copied" 'grep -qx new $L/drivers/new.c'
a1=$(mt $L/drivers/a.c); n1=$(mt $L/drivers/new.c)
sleep 1.1
P; ok "rerun keeps mtimes" '[ "$(mt $L/drivers/a.c)" = "$a1" ] && [ "$(mt $L/drivers/new.c)" = "$n1" ]'
mv patches/p1.patch patches/p2.patch; echo p2.patch > patches/series
P; ok "renamed patch: reverted + reapplied" 'grep -q "reverted p1.patch" "$T/out" && grep -qx TWO $L/drivers/a.c'
ok "renamed patch: mtime kept" '[ "$(mt $L/drivers/a.c)" = "$a1" ]'
mkpatch 'one\nTWO2\nthree\n' > patches/p2.patch
P; ok "changed patch applied, new mtime" 'grep -qx TWO2 $L/drivers/a.c && [ "$(mt $L/drivers/a.c)" != "$a1" ]'
echo ovl > drivers/b.c
P; ok "overlay replaces base file" 'grep -qx ovl $L/drivers/b.c'
rm drivers/b.c
P; ok "base file restored when it leaves the overlay" 'grep -qx x $L/drivers/b.c'
rm drivers/new.c
P; ok "overlay-only file removed" '[ ! -e $L/drivers/new.c ]'
: > patches/series
P; ok "empty series reverts" 'grep -qx two $L/drivers/a.c'
rm -rf patches
P; ok "missing patches/ is fine" '[ $? = 0 ]'
mkdir patches; mkpatch 'one\nTWO\nthree\n' > patches/good.patch
mkpatch 'one\nTWO\nthree\n' | sed -e 's/^ one/ oneX/' -e 's/^-two/-twoX/' > patches/bad.patch
printf 'good.patch\nbad.patch\n' > patches/series
P; ok "bad patch fails prepare" '[ $? != 0 ] && grep -q "bad.patch does not apply" "$T/out"'
ok "tree consistent after failure" 'grep -qx TWO $L/drivers/a.c && [ ! -e $L/drivers/a.c.rej ]'
echo good.patch > patches/series
P; ok "recovers without re-unpack" '[ $? = 0 ] && ! grep -q unpacking "$T/out" && grep -qx TWO $L/drivers/a.c'
if [ $fails = 0 ]; then echo "prepare self-test: PASS"; exit 0; fi
echo "prepare self-test: FAIL ($fails)"; cat "$T/out"; exit 1
