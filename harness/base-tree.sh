# SPDX-License-Identifier: GPL-2.0
# Sourced by harness/prepare.sh and harness/series.sh (needs die()): the base
# tree (KERNEL_SRC = tarball or directory, default Debian's linux-source-6.12)
# and the top-level folders under which overlay files are kernel files.
DEFAULT_SRC=/usr/src/linux-source-6.12.tar.xz
SRC=${KERNEL_SRC:-$DEFAULT_SRC}
KDIRS="arch block certs crypto Documentation drivers fs include init io_uring
       ipc kernel lib mm net rust samples scripts security sound tools usr virt"

# what identifies the base: a changed KERNEL_SRC means unpacking again
src_id() {
	if [ -d "$SRC" ]; then echo "dir:$(cd "$SRC" && pwd)"
	elif [ -f "$SRC" ]; then echo "tar:$(readlink -f "$SRC"):$(stat -c %s:%Y "$SRC")"
	else die "KERNEL_SRC '$SRC' not found (install linux-source-6.12 or set KERNEL_SRC=)"
	fi
}

# base_unpack DIR: the base tree's files into DIR (which exists)
base_unpack() {
	if [ -d "$SRC" ]; then cp -a "$SRC"/. "$1"/
	else tar -xf "$SRC" -C "$1" --strip-components=1
	fi
}

# base_version DIR: "6.12.M" from DIR/Makefile
base_version() {
	awk -F' = ' '/^VERSION/{v=$2} /^PATCHLEVEL/{p=$2} /^SUBLEVEL/{s=$2} END{print v"."p"."s}' "$1/Makefile"
}
