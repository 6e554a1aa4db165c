# SPDX-License-Identifier: GPL-2.0
#
# In-kernel RPCIT acceleration for KVM on IBM Z: build + emulated-host test harness.
#
#   make         build everything, boot the emulated IBM Z host, run the main job
#                (on-demand, pinned-parent, direct-map), check the disk write-back
#   make check   every test; last line "N passed, N failed"
#                (KASAN=1 or make check-kasan: also on a KASAN kernel, as CI does)
#   make replay  replay TRACE= (default the shipped guest trace) through the
#                in-kernel RPCIT path, checking the shadow after every RPCIT
#                (MODE=on-demand, the default, or MODE=pinned-parent)
#   make series  the patch series in build/series/ (cover letter + git
#                format-patch), checked: applies to the base with git am, equals
#                the tree make builds, builds at every patch, checkpatch clean
#   make bench   TRACE= through the userspace path, on-demand, pinned-parent and
#                direct map: instructions per RPCIT (icount, kernel without lock
#                debugging; DEBUG=1: the test kernel, ICOUNT=0: wall time)
#   make check-hercules  upstream's KVM s390x selftests under Hercules (real
#                SIE) on the patched and the unpatched kernel, compared test
#                by test, and real SIE's intercept fields against the model
#                of the test-only mode
#
# KERNEL_SRC=<tarball or dir> overrides the base tree (default linux-source-6.12).
# Everything generated lives in build/ (git-ignored).

H := harness
export KERNEL_SRC

.PHONY: all main deps prepare kernel headers selftests initramfs disk boot \
	run-main run-check series replay bench bench-nodebug shell check check-host check-static \
	check-hercules clean distclean help

all: main

help:
	@sed -n '3,22p' Makefile

deps:
	@$(H)/deps.sh

prepare: deps
	@$(H)/prepare.sh

kernel: prepare
	@$(H)/build-kernel.sh

# uAPI headers only (build/out/usr/include); needs a configured build/out
headers: prepare
	@$(H)/build-kernel.sh headers

selftests: kernel
	@$(H)/build-selftests.sh

# A selftest that fails to build does not stop the boot (the run reports it
# as missing); `make selftests` alone is strict.
initramfs: kernel
	@$(H)/build-selftests.sh || echo "make: WARNING: some selftests failed to build (see above)"
	@$(H)/mkinitramfs.sh

disk:
	@python3 $(H)/mkdisk.py create build/disk.img

# Boot once with the main job (exit status: main job + write-back check)
main: initramfs
	@$(H)/main.sh

# Boot and run every listed selftest (no static checks, no host tests)
run-check: initramfs
	@BOOT_TIMEOUT=$${BOOT_TIMEOUT:-1800} $(H)/run-qemu.sh check

# Guest RPCIT trace replay / benchmark (harness/replay.sh); TRACE is relative
# to the repo, default the shipped trace (harness/trace-default.sh)

replay: selftests
	@TRACE="$(TRACE)" MODE="$(MODE)" $(H)/replay.sh replay

# Default: a kernel without lock/RCU debugging (build/out-bench,
# harness/kernel.config + harness/bench.config) under -icount shift=0
bench: selftests
	@DEBUG="$(DEBUG)" ICOUNT="$(ICOUNT)" ENGINE_BENCH="$(ENGINE_BENCH)" TRACE="$(TRACE)" $(H)/replay.sh bench

bench-nodebug: bench

series: prepare
	@$(H)/series.sh

# Interactive shell in the emulated host (Ctrl-a x quits)
shell: initramfs
	@$(H)/run-qemu.sh shell

check-host:
	@$(H)/check.sh host

check-static: prepare
	@$(H)/check.sh static

# Hercules 3.13 (real SIE): harness/hercules/run.sh; builds the unpatched
# kernel (harness/build-unpatched.sh) and upstream's selftests itself
check-hercules: selftests
	@$(H)/hercules/run.sh

# KASAN=1: also build a KASAN kernel (build/out-kasan) and rerun the tests on it.
# Exit status 1 when anything failed (make then adds its "Error 1" note on
# stderr after the last line of the output, "N passed, N failed").
check:
	@$(H)/check.sh all

check-kasan:
	@KASAN=1 $(H)/check.sh all

clean:
	rm -rf build/out build/selftests build/initramfs.cpio.gz.root build/initramfs.cpio.gz build/initramfs-one* build/initramfs-kasan* \
		build/initramfs-boot*.cpio.gz* build/run-one build/disk.img build/logs build/hercules

# Also drops the prepared tree (build/linux-source-6.12 reading copy is kept)
distclean: clean
	rm -rf build/linux build/.prepare build/busybox build/dl build/unpatched
