#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make series: the patch series that ships, in build/series/.
#
# patches/series lists the patches in order; the indented lines after a
# patch name the overlay files (shell globs of tree paths) that the patch
# adds.  For each patch, on a pristine git tree of the base
# (build/series-tree/linux): git am the patch, add its overlay files, and
# amend.  Then:
#   - every overlay file under a kernel path is added by exactly one patch;
#   - git format-patch writes build/series/0001-*.patch and a cover letter
#     (0000-cover-letter.patch, text from patches/0000-cover-letter.txt);
#   - git am of build/series/*.patch onto the pristine base gives the same
#     tree, and that tree equals the prepared tree (build/linux) for every
#     file the series touches or adds;
#   - checkpatch.pl --strict finds nothing in any patch;
#   - the kernel builds, with the harness config, without the series (the
#     unpatched kernel, harness/build-unpatched.sh) and at every patch
#     (build/series-tree/out; incremental, ccache), without warnings in
#     the files the series adds or changes.
# Prints "series: PASS|FAIL <what>" per check and, when all passed,
#   series: N patches, applies to Linux 6.12.M, builds at every patch, checkpatch clean
# Exit status 1 when anything failed.  NO_BUILD=1 skips the builds.
set -uo pipefail
export PATH=/usr/bin:$PATH	# Debian python3 (ply, git) for spdxcheck.py

TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
H=$TOP/harness
ST=$B/series-tree
GT=$ST/linux			# git tree: base commit "base", branch "series"
SOUT=$ST/out
OUTD=$B/series
export GIT_AUTHOR_NAME="s390 KVM RPCIT team" GIT_AUTHOR_EMAIL="s390-kvm-rpcit@example.org"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

nfail=0
say() { echo "series: $*"; }
ok() { say "PASS $*"; }
bad() { say "FAIL $*"; nfail=$((nfail + 1)); }
die() { say "FAIL $*"; exit 1; }
g() { git -C "$GT" "$@"; }

. "$TOP/harness/base-tree.sh"

# --- the pristine base as a git tree (kept between runs) --------------------
mkdir -p "$ST"
base_git_tree "$GT" "$ST/source"
V=$(base_version "$GT")
say "base: Linux $V ($SRC)"

# --- patches/series: patch names and the overlay files each adds -----------
SER=$TOP/patches/series
[ -f "$SER" ] || die "patches/series missing"
declare -a PATCHES
declare -A FILES
cur=
while IFS= read -r line; do
	line=${line%%#*}
	[ -z "${line//[[:space:]]/}" ] && continue
	case "$line" in
	[[:space:]]*)
		[ -n "$cur" ] || die "patches/series: file line before any patch: $line"
		glob=$(echo "$line" | xargs)
		# shellcheck disable=SC2086
		m=$(cd "$TOP" && git ls-files -co --exclude-standard -- "$glob")
		[ -n "$m" ] || die "patches/series: $glob (for $cur) matches no overlay file"
		FILES[$cur]+="$m"$'\n' ;;
	*)
		cur=$(echo "$line" | awk '{print $1}')
		[ -f "$TOP/patches/$cur" ] || die "patches/series lists missing $cur"
		PATCHES+=("$cur") ;;
	esac
done < "$SER"
N=${#PATCHES[@]}

overlay=$(cd "$TOP" && git ls-files -co --exclude-standard -- $KDIRS | sort -u)
assigned=$(for p in "${PATCHES[@]}"; do printf '%s' "${FILES[$p]:-}"; done | sed '/^$/d' | sort)
dups=$(echo "$assigned" | uniq -d)
missing=$(comm -23 <(echo "$overlay") <(echo "$assigned" | sort -u))
if [ -z "$dups" ] && [ -z "$missing" ]; then
	ok "every overlay file is added by exactly one patch ($(echo "$overlay" | wc -l) files)"
else
	[ -n "$dups" ] && echo "$dups" | sed 's/^/    added by two patches: /'
	[ -n "$missing" ] && echo "$missing" | sed 's/^/    added by no patch: /'
	bad "overlay files and patches/series disagree"
fi

# --- generate: git am each patch, add its overlay files ---------------------
g am --abort >/dev/null 2>&1
g checkout -q -f base && g clean -q -fdx || die "cannot reset the git tree to base"
g checkout -q -B series base
k=0
for p in "${PATCHES[@]}"; do
	k=$((k + 1))
	if ! out=$(g am -q --keep-cr "$TOP/patches/$p" 2>&1); then
		echo "$out" | sed 's/^/    /' | head -20
		g am --abort >/dev/null 2>&1
		die "patch $k ($p) does not apply to Linux $V"
	fi
	files=${FILES[$p]:-}
	if [ -n "$files" ]; then
		while IFS= read -r f; do
			[ -n "$f" ] || continue
			mkdir -p "$GT/$(dirname "$f")"
			cp "$TOP/$f" "$GT/$f"
			g add -f -- "$f"
		done <<< "$files"
		# the author date of the patch also dates the amended commit
		d=$(g log -1 --format=%aD)
		GIT_COMMITTER_DATE="$d" g commit -q --amend --no-edit || die "amend of patch $k failed"
	fi
done
ok "generated $N patches on Linux $V"

rm -rf "$OUTD"; mkdir -p "$OUTD"
g format-patch -q --cover-letter -o "$OUTD" base..series || die "git format-patch failed"
CL=$TOP/patches/0000-cover-letter.txt
if [ -f "$CL" ]; then
	python3 - "$OUTD/0000-cover-letter.patch" "$CL" <<'EOF' || die "cover letter"
import sys
p, cl = sys.argv[1], sys.argv[2]
text = open(cl).read().strip('\n').split('\n')
subject, body = text[0].strip(), '\n'.join(text[1:]).strip('\n')
s = open(p).read()
assert '*** SUBJECT HERE ***' in s and '*** BLURB HERE ***' in s
s = s.replace('*** SUBJECT HERE ***', subject).replace('*** BLURB HERE ***', body)
open(p, 'w').write(s)
EOF
	ok "cover letter from patches/0000-cover-letter.txt"
else
	bad "patches/0000-cover-letter.txt missing"
fi

# --- the written series applies to the pristine base and gives that tree ----
g checkout -q -B series-verify base
if out=$(g am -q $(ls "$OUTD"/0*.patch | grep -v '/0000-cover-letter\.patch$') 2>&1) &&
   [ "$(g rev-parse 'series-verify^{tree}')" = "$(g rev-parse 'series^{tree}')" ]; then
	ok "build/series/*.patch applies with git am to Linux $V and gives the generated tree"
else
	echo "$out" | head -20 | sed 's/^/    /'
	g am --abort >/dev/null 2>&1
	bad "build/series/*.patch does not apply to Linux $V or gives another tree"
fi
g checkout -q -f series

# the tree `make` builds (build/linux, harness/prepare.sh) for every file
# the series touches
if [ -f "$B/linux/Makefile" ]; then
	diffs=0
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		if [ -e "$GT/$f" ] && ! cmp -s "$GT/$f" "$B/linux/$f"; then
			echo "    differs from build/linux: $f"; diffs=$((diffs + 1))
		elif [ ! -e "$GT/$f" ] && [ -e "$B/linux/$f" ]; then
			echo "    deleted by the series, present in build/linux: $f"; diffs=$((diffs + 1))
		fi
	done < <(g diff --name-only base series)
	if [ $diffs = 0 ]; then ok "the series gives the tree make builds ($(g diff --name-only base series | wc -l) files)"
	else bad "the series and the tree make builds differ in $diffs files (run make prepare?)"; fi
else
	bad "build/linux not prepared: cannot compare with the tree make builds"
fi

# --- checkpatch --strict on every patch ----------------------------------------
cp_clean=1
for f in "$OUTD"/0*.patch; do
	case "$f" in */0000-cover-letter.patch) continue ;; esac
	n=$(basename "$f")
	if out=$(cd "$GT" && perl scripts/checkpatch.pl --strict --no-summary --terse --showfile "$f" 2>&1) &&
	   [ -z "$out" ]; then
		ok "checkpatch --strict $n"
	else
		echo "$out" | head -20 | sed 's/^/    /'
		bad "checkpatch --strict $n"; cp_clean=0
	fi
done

# --- the kernel builds at every patch ------------------------------------------
built=1
if [ "${NO_BUILD:-0}" = 1 ]; then
	say "NO_BUILD=1: builds skipped"; built=0
else
	mkdir -p "$B/logs"
	# the base first (harness/build-unpatched.sh: the unpatched kernel of
	# the Hercules bed); each patch then builds incrementally on it
	if out=$("$H/build-unpatched.sh" 2>&1); then
		ok "the base builds without the series ($(echo "$out" | tail -1 | sed 's/^unpatched: //'))"
	else
		echo "$out" | tail -15 | sed 's/^/    /'
		bad "the base does not build (build/logs/unpatched-build.log)"; built=0
	fi
	k=0
	for c in $(g rev-list --reverse base..series); do
		k=$((k + 1))
		subj=$(g log -1 --format=%s "$c")
		g checkout -q -f "$c"
		log=$B/logs/series-build-$k.log
		t0=$(date +%s)
		if KTREE=$GT KOUT=$SOUT "$H/build-kernel.sh" all > "$log" 2>&1; then
			# warnings in the files this patch and the ones before add or change
			changed=$(g diff --name-only base "$c" | grep -E '\.[ch]$' | sed 's/[.]/\\./g' | paste -sd'|')
			w=
			[ -n "$changed" ] && w=$(grep -E "(^|/)($changed):[0-9]+:[0-9]+: warning:" "$log" | head -5)
			if [ -z "$w" ]; then
				ok "patch $k builds ($subj; $(( $(date +%s) - t0 )) s)"
			else
				echo "$w" | sed 's/^/    /'; bad "patch $k builds with warnings ($subj)"; built=0
			fi
		else
			grep -E "error|Error" "$log" | head -15 | sed 's/^/    /'
			bad "patch $k does not build ($subj; build/logs/series-build-$k.log)"; built=0
		fi
	done
	g checkout -q -f series
fi

if [ $nfail = 0 ] && [ $built = 1 ] && [ $cp_clean = 1 ]; then
	say "$N patches, applies to Linux $V, builds at every patch, checkpatch clean"
	exit 0
fi
say "$nfail checks failed (build/series)"
exit 1
