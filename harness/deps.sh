#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what the harness needs on Debian 12 (bookworm).  Idempotent: does
# nothing when everything is present.  Usage: deps.sh [all|busybox]
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
what=${1:-all}

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: ERROR: not root and no sudo" >&2; exit 1; }
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

PKGS="make gcc libc6-dev git patch xz-utils gzip cpio perl python3 python3-ply python3-git
      bc flex bison libelf-dev libssl-dev dwarves ccache sparse kmod valgrind
      gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-system-misc hercules linux-source-6.12"

updated=0
apt_update() { [ $updated = 1 ] || { $SUDO apt-get update -qq; updated=1; }; }

if [ "$what" = all ]; then
	missing=
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "deps: installing:$missing"
		apt_update
		$SUDO apt-get install -y -qq --no-install-recommends $missing
	fi
fi

# static s390x busybox for the initramfs
if [ ! -x "$B/busybox/bin/busybox" ]; then
	mkdir -p "$B/dl"
	deb=$(ls "$B"/dl/busybox-static_*_s390x.deb /tmp/busybox-static_*_s390x.deb 2>/dev/null | head -1 || true)
	if [ -z "$deb" ]; then
		echo "deps: downloading busybox-static:s390x"
		dpkg --print-foreign-architectures | grep -qx s390x || { $SUDO dpkg --add-architecture s390x; updated=0; }
		apt_update
		(cd "$B/dl" && apt-get download busybox-static:s390x)
		deb=$(ls "$B"/dl/busybox-static_*_s390x.deb | head -1)
	fi
	rm -rf "$B/busybox.x"; mkdir -p "$B/busybox.x"
	dpkg-deb -x "$deb" "$B/busybox.x"
	mkdir -p "$B/busybox/bin"
	cp "$B/busybox.x/bin/busybox" "$B/busybox/bin/busybox"
	rm -rf "$B/busybox.x"
	echo "deps: busybox from $(basename "$deb")"
fi
