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

# base_git_tree GT STATE: GT is a git tree of the pristine base (commit
# "base", tag base), unpacked again when the base (src_id, kept in STATE)
# changed.  harness/series.sh applies the series on top of it;
# harness/build-unpatched.sh builds the base alone.
base_git_tree() {
	local gt=$1 state=$2
	if [ -d "$gt/.git" ] && [ "$(cat "$state" 2>/dev/null)" = "$(src_id)" ]; then
		return 0
	fi
	echo "base-tree: unpacking the base tree from $SRC into a git tree ($gt)"
	rm -rf "$gt" "$state"
	mkdir -p "$gt"
	base_unpack "$gt" || die "cannot unpack $SRC"
	rm -rf "$gt/.git"
	(cd "$gt" && git init -q && git config core.autocrlf false &&
	 git config gc.auto 0 && git add -A -f . &&
	 GIT_AUTHOR_NAME=base GIT_AUTHOR_EMAIL=base@localhost \
	 GIT_COMMITTER_NAME=base GIT_COMMITTER_EMAIL=base@localhost \
	 GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z" \
		git commit -q -m base && git tag base) || die "git tree of the base failed"
	src_id > "$state"
}
