#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The unpatched kernel: the pristine base tree (commit "base" of the git tree
# of harness/series.sh, build/series-tree/linux: no patch, no overlay file)
# built with the same config (harness/kernel.config; the options of the
# series are unknown there and absent from its .config) into
# build/series-tree/out, where the series then builds each patch
# incrementally.  What a boot needs is kept in build/unpatched/: bzImage,
# kvm.ko, .config, the uAPI headers (usr/include) and the kernel's `uname -v`
# (utsversion).  Reused while the base tree and harness/kernel.config are
# the same (build/unpatched/stamp).
#
# Prints "unpatched: ..." lines; exit status 1 when the build failed or one
# of the options of the series made it into the .config.
set -uo pipefail
export PATH=/usr/bin:$PATH
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
H=$TOP/harness
ST=$B/series-tree
GT=$ST/linux
U=$B/unpatched
say() { echo "unpatched: $*"; }
die() { say "ERROR: $*"; exit 1; }
. "$H/base-tree.sh"

# the Kconfig symbols the series adds (none may be in the unpatched .config)
OUR_SYMS="S390_KVM_IOMMU S390_KVM_IOMMU_DEBUGFS KVM_S390_TEST_NO_SIE S390_KVM_SHADOW_KUNIT_TEST"

mkdir -p "$ST" "$B/logs"
stamp="$(src_id) config:$(sha256sum < "$H/kernel.config" | cut -c1-16)"
if [ "${FORCE:-0}" != 1 ] && [ "$(cat "$U/stamp" 2>/dev/null)" = "$stamp" ] &&
   [ -f "$U/bzImage" ] && [ -f "$U/kvm.ko" ] && [ -d "$U/usr/include/linux" ]; then
	say "reused build/unpatched (Linux $(cat "$U/version"))"
	exit 0
fi

base_git_tree "$GT" "$ST/source"
git -C "$GT" am --abort >/dev/null 2>&1
git -C "$GT" checkout -q -f base && git -C "$GT" clean -q -fdx || die "cannot check out the base"
[ -z "$(git -C "$GT" status --porcelain)" ] || die "the base tree is not pristine"
V=$(base_version "$GT")

t0=$(date +%s)
log=$B/logs/unpatched-build.log
if ! KTREE=$GT KOUT=$ST/out "$H/build-kernel.sh" > "$log" 2>&1; then
	grep -E "error|Error" "$log" | head -15 | sed 's/^/    /'
	die "the base (Linux $V) does not build (build/logs/unpatched-build.log)"
fi
for s in $OUR_SYMS; do
	grep -qE "^(# )?CONFIG_$s[= ]" "$ST/out/.config" && die "CONFIG_$s is in the unpatched .config"
done

rm -rf "$U.new"; mkdir -p "$U.new"
cp "$ST/out/arch/s390/boot/bzImage" "$ST/out/arch/s390/kvm/kvm.ko" "$ST/out/.config" "$U.new/" &&
cp -a "$ST/out/usr" "$U.new/usr" &&
sed -n 's/^#define UTS_VERSION "\(.*\)"$/\1/p' "$ST/out/include/generated/utsversion.h" > "$U.new/utsversion" ||
	die "cannot copy the build's artifacts"
echo "$V" > "$U.new/version"
echo "$stamp" > "$U.new/stamp"
rm -rf "$U"; mv "$U.new" "$U"
say "built Linux $V without the series in $(( $(date +%s) - t0 )) s (build/unpatched; none of CONFIG_${OUR_SYMS// /, CONFIG_} set)"
