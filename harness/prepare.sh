#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare build/linux: base tree + overlay (kernel paths of this repository)
# + patches/series.  Incremental: only files whose content changed get new
# mtimes, so kbuild rebuilds only what is needed.
#
# Environment: KERNEL_SRC = tarball or directory of the base tree
#              (default /usr/src/linux-source-6.12.tar.xz)
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
TREE=$B/linux
ST=$B/.prepare                   # state: applied patches, saved originals
say() { echo "prepare: $*"; }
die() { echo "prepare: ERROR: $*" >&2; exit 1; }
. "$TOP/harness/base-tree.sh"

mkdir -p "$B"
# Serialise against concurrent prepare/kernel builds.
exec 9>"$B/.kbuild.lock"   # same lock as kernel builds: never change the tree under a build
flock -n 9 || { say "waiting for build/.kbuild.lock (a kernel build is running)"; flock 9; }

unpack() {
	say "unpacking base tree from $SRC"
	local had_tree=0
	[ -d "$TREE" ] && [ -d "$B/out" ] && had_tree=1
	rm -rf "$TREE.new" "$ST"
	mkdir -p "$TREE.new"
	base_unpack "$TREE.new"
	if [ $had_tree = 1 ] && [ "${1:-}" != precise ]; then
		# base files carry old mtimes: make kbuild re-check everything
		find "$TREE.new" -type f -exec touch {} +
	fi
	rm -rf "$TREE"
	mv "$TREE.new" "$TREE"
	mkdir -p "$ST/applied" "$ST/orig"
	: > "$ST/applied/series"
	: > "$ST/overlay.list"
	src_id > "$ST/source"
}

# Files a patch touches (path relative to tree root, -p1)
patch_files() {
	awk '/^(\+\+\+|---) /{p=$2; sub(/\t.*/, "", p);
	     if (p == "/dev/null") next; sub(/^[^\/]*\//, "", p); print p}' "$@" | sort -u
}

read_series() {	# $1 = dir containing series; prints patch names in order
	[ -f "$1/series" ] || return 0
	# indented lines name the overlay files a patch adds (harness/series.sh)
	sed -e 's/#.*//' -e '/^[[:space:]]/d' -e 's/[[:space:]]*$//' -e '/^$/d' "$1/series" | awk '{print $1}'
}

fresh=0
if [ ! -f "$TREE/Makefile" ] || [ ! -f "$ST/source" ] || [ "$(cat "$ST/source")" != "$(src_id)" ]; then
	unpack
	fresh=1
fi
V=$(base_version "$TREE")
echo "base tree: Linux $V"

# --- desired patch set ------------------------------------------------------
NEWP=$(mktemp -d); trap 'rm -rf "$NEWP"' EXIT
: > "$NEWP/series"
for p in $(read_series "$TOP/patches"); do
	[ -f "$TOP/patches/$p" ] || die "patches/series lists missing file $p"
	cp "$TOP/patches/$p" "$NEWP/$(echo "$p" | tr / _)"
	echo "$(echo "$p" | tr / _)" >> "$NEWP/series"
done

same_patches=1
cmp -s "$NEWP/series" "$ST/applied/series" || same_patches=0
if [ $same_patches = 1 ]; then
	for p in $(read_series "$NEWP"); do
		cmp -s "$NEWP/$p" "$ST/applied/$p" || { same_patches=0; break; }
	done
fi

# Snapshot of every file touched by old or new patches (to keep mtimes of
# files whose final content does not change).
SNAP=$NEWP/snap; mkdir -p "$SNAP"
touched=$( { for p in $(read_series "$ST/applied"); do patch_files "$ST/applied/$p"; done
	     for p in $(read_series "$NEWP"); do patch_files "$NEWP/$p"; done; } | sort -u)

if [ $same_patches = 0 ]; then
	for f in $touched; do
		if [ -f "$TREE/$f" ]; then mkdir -p "$SNAP/$(dirname "$f")"; cp -p "$TREE/$f" "$SNAP/$f"; fi
	done
	# reverse-apply what was applied before, last first
	old=$(read_series "$ST/applied" | tac)
	ok=1
	for p in $old; do
		if ! (cd "$TREE" && patch -p1 -R -s -f --no-backup-if-mismatch < "$ST/applied/$p"); then
			say "reverse-apply of $p failed"; ok=0; break
		fi
		say "reverted $p"
	done
	if [ $ok = 0 ]; then
		oldlist=$(cat "$ST/overlay.list" 2>/dev/null || true)
		unpack precise
		fresh=1
		# make kbuild notice every file that may differ from the last build
		for f in $touched $oldlist; do [ -f "$TREE/$f" ] && touch "$TREE/$f"; done
	else
		: > "$ST/applied/series"
	fi
fi

# --- overlay ----------------------------------------------------------------
cd "$TOP"
# tracked + untracked (not ignored) files under kernel paths
new_list=$(git ls-files -co --exclude-standard -- $KDIRS 2>/dev/null | sort -u || true)
if [ -z "$new_list" ] && ! git rev-parse --git-dir >/dev/null 2>&1; then
	new_list=$(for d in $KDIRS; do [ -d "$d" ] && find "$d" -type f; done | sort -u)
fi
changed=0
for f in $new_list; do
	[ -f "$f" ] || continue
	if ! cmp -s "$f" "$TREE/$f"; then
		if [ -f "$TREE/$f" ] && [ ! -e "$ST/orig/$f" ] && ! grep -qxF "$f" "$ST/overlay.list"; then
			mkdir -p "$ST/orig/$(dirname "$f")"; cp -p "$TREE/$f" "$ST/orig/$f"
		fi
		mkdir -p "$TREE/$(dirname "$f")"
		cp "$f" "$TREE/$f"
		changed=$((changed + 1))
	fi
done
# files that left the overlay: restore the base version or delete
for f in $(comm -23 <(sort -u "$ST/overlay.list") <(echo "$new_list")); do
	if [ -f "$ST/orig/$f" ]; then
		cp "$ST/orig/$f" "$TREE/$f"; rm -f "$ST/orig/$f"; say "restored base $f"
	else
		rm -f "$TREE/$f"; say "removed $f (no longer in overlay)"
	fi
done
echo "$new_list" | sed '/^$/d' > "$ST/overlay.list"
say "overlay: $(echo "$new_list" | sed '/^$/d' | wc -l) files, $changed updated"

# --- patches ----------------------------------------------------------------
if [ $same_patches = 0 ] || [ $fresh = 1 ]; then
	n=0
	: > "$ST/applied/series"
	for p in $(read_series "$NEWP"); do
		if ! out=$(cd "$TREE" && patch -p1 -f --dry-run < "$NEWP/$p" 2>&1); then
			echo "$out" | grep -vE '^(checking|patching) file' | sed 's/^/    /'
			die "patch $p does not apply; tree left with $n of the patches applied"
		fi
		if ! (cd "$TREE" && patch -p1 -s -f --no-backup-if-mismatch < "$NEWP/$p"); then
			rm -f "$ST/source"
			die "patch $p does not apply (tree left partly patched; next prepare re-unpacks)"
		fi
		cp "$NEWP/$p" "$ST/applied/$p"
		echo "$p" >> "$ST/applied/series"
		n=$((n + 1))
	done
	# restore mtimes of files whose content ended up unchanged
	kept=0
	for f in $touched; do
		if [ -f "$SNAP/$f" ] && cmp -s "$SNAP/$f" "$TREE/$f"; then
			touch -r "$SNAP/$f" "$TREE/$f"; kept=$((kept + 1))
		fi
	done
	say "patches: $n applied ($kept touched files unchanged, mtimes kept)"
else
	say "patches: $(read_series "$ST/applied" | wc -l) applied, unchanged"
fi
