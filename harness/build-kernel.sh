#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Configure (tinyconfig + harness/kernel.config) and build build/linux into
# build/out, then install uAPI headers into build/out/usr/include.
# Holds build/.kbuild.lock for the whole run: one kernel build at a time.
#
# Usage: build-kernel.sh [extra make args/targets]   (default: all + headers)
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
TREE=${KTREE:-$B/linux}	# KTREE: alternative source tree (harness/series.sh)
OUT=${KOUT:-$B/out}		# KOUT: alternative output folder (e.g. build/out-kasan)
# EXTRA_FRAGMENT: additional config fragment(s), e.g. harness/kasan.config
JOBS=${JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# kbuild regenerates headers on every clean build: allow direct-mode hits anyway
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-include_file_mtime,include_file_ctime,time_macros}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$TOP}
CROSS=s390x-linux-gnu-
CCPFX=
command -v ccache >/dev/null && CCPFX="ccache "
KMAKE=(make --no-print-directory -C "$TREE" O="$OUT" ARCH=s390 CROSS_COMPILE=$CROSS
       CC="${CCPFX}${CROSS}gcc" HOSTCC="${CCPFX}gcc" -j"$JOBS")

[ -f "$TREE/Makefile" ] || { echo "build-kernel: ERROR: run 'make prepare' first" >&2; exit 1; }
mkdir -p "$OUT"

exec 8>"$B/.kbuild.lock"
if ! flock -n 8; then
	echo "build-kernel: another kernel build holds build/.kbuild.lock, waiting..."
	flock 8
fi

# --- configuration -------------------------------------------------------
# Regenerated every time (new Kconfig symbols may arrive with patches); the
# old .config is kept, mtime included, when the result is identical.
config() {
	local saved=
	if [ -f "$OUT/.config" ]; then saved=$(mktemp); cp -p "$OUT/.config" "$saved"; fi
	"${KMAKE[@]}" -s tinyconfig >/dev/null
	(cd "$OUT" && "$TREE/scripts/kconfig/merge_config.sh" -n -m .config "$TOP/harness/kernel.config" ${EXTRA_FRAGMENT:-} \
		> "$OUT/merge_config.log" 2>&1) || { cat "$OUT/merge_config.log"; exit 1; }
	# -m only merges; let kconfig resolve dependencies starting from allnoconfig
	mv "$OUT/.config" "$OUT/.config.merged"
	"${KMAKE[@]}" -s KCONFIG_ALLCONFIG="$OUT/.config.merged" allnoconfig >/dev/null
	if [ -n "$saved" ] && cmp -s "$saved" "$OUT/.config"; then cp -p "$saved" "$OUT/.config"; fi
	[ -n "$saved" ] && rm -f "$saved"
	# report fragment values that did not survive
	local miss=0 important="CONFIG_PCI CONFIG_S390_IOMMU CONFIG_IOMMUFD CONFIG_VFIO CONFIG_VFIO_PCI
		CONFIG_VFIO_DEVICE_CDEV CONFIG_KVM CONFIG_MODULES CONFIG_MODULE_UNLOAD
		CONFIG_BLK_DEV_INITRD CONFIG_DEVTMPFS CONFIG_DEBUG_FS
		CONFIG_PROVE_LOCKING CONFIG_SCLP_VT220_CONSOLE CONFIG_BINFMT_ELF
		CONFIG_S390_KVM_IOMMU CONFIG_KVM_S390_TEST_NO_SIE"
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		sym=${line%%=*}
		if ! grep -qxF "$line" "$OUT/.config"; then
			got=$(grep -E "^$sym=|^# $sym is not set" "$OUT/.config" || true)
			if [ -z "$got" ]; then
				echo "build-kernel: note: $sym is unknown to this tree"
				continue
			fi
			echo "build-kernel: note: fragment wants $line, .config has: $got"
			for i in $important; do
				[ "$i" = "$sym" ] && { miss=1; echo "build-kernel: ERROR: $line was dropped"; }
			done
		fi
	done < <(cat "$TOP/harness/kernel.config" ${EXTRA_FRAGMENT:-} | last_wins)
	for i in CONFIG_VFIO_PCI=y CONFIG_IOMMUFD=y CONFIG_VFIO_DEVICE_CDEV=y CONFIG_MODULES=y \
		 CONFIG_MODULE_UNLOAD=y CONFIG_KVM=m; do
		grep -qx "$i" "$OUT/.config" || { echo "build-kernel: ERROR: $i missing from .config"; miss=1; }
	done
	if [ $miss = 1 ]; then
		echo "build-kernel: ERROR: important config options were dropped by merge (see above)" >&2
		exit 1
	fi
}

# A symbol set again by a later fragment (e.g. harness/bench.config turning
# CONFIG_PROVE_LOCKING off) is checked against its last value only.
last_wins() {
	tac | awk '{ s = $0; sub(/^# /, "", s); sub(/[= ].*/, "", s) } s !~ /^CONFIG_/ || !seen[s]++' | tac
}

# The default target (all) builds the modules too (CONFIG_MODULES=y):
# kvm.ko must be there, /init loads it
check_modules() {
	local ko=$OUT/arch/s390/kvm/kvm.ko
	[ -f "$ko" ] || { echo "build-kernel: ERROR: $ko was not built" >&2; exit 1; }
	echo "build-kernel: modules: $(cd "$OUT" && find . -name '*.ko' | sed 's|^\./||' | sort | tr '\n' ' ')"
}

t0=$(date +%s)
config
if [ $# -gt 0 ]; then
	"${KMAKE[@]}" "$@"
	for a in "$@"; do [ "$a" = all ] && check_modules; done
else
	"${KMAKE[@]}"
	check_modules
	"${KMAKE[@]}" -s headers
fi
t1=$(date +%s)
echo "build-kernel: done in $((t1 - t0)) s ($OUT/arch/s390/boot/bzImage)"
