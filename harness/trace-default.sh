# SPDX-License-Identifier: GPL-2.0
# Sourced (needs TOP): DEFAULT_TRACE = the shipped guest RPCIT trace, relative
# to the repo: ../shared/traces when the repo sits next to it (as in CI),
# else the copy in harness/traces.
DEFAULT_TRACE=../shared/traces/seq_lazy.trace.xz
[ -f "$TOP/$DEFAULT_TRACE" ] || DEFAULT_TRACE=harness/traces/seq_lazy.trace.xz
