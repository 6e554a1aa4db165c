# SPDX-License-Identifier: GPL-2.0
# Sourced (needs TOP): DEFAULT_TRACE = the shipped guest RPCIT trace, relative
# to the repo: ../shared/traces when the repo sits next to it, else the copy
# in harness/traces (stored hex-encoded: *.trace.xz.hex).
DEFAULT_TRACE=../shared/traces/seq_lazy.trace.xz
[ -f "$TOP/$DEFAULT_TRACE" ] || DEFAULT_TRACE=harness/traces/seq_lazy.trace.xz.hex

# trace_cat FILE: the trace's text (FILE plain, .xz, or hex-encoded .xz.hex)
trace_cat() {
	case "$1" in
	*.xz.hex) python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read()))' "$1" | xz -dc ;;
	*.xz) xz -dc "$1" ;;
	*) cat "$1" ;;
	esac
}
