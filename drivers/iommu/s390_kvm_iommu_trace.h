/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the s390 KVM nested IOMMU domains: failures that a guest
 * sees as an RPCIT error answer (a host RPCIT or a pin that failed).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM s390_kvm_iommu

#if !defined(_TRACE_S390_KVM_IOMMU_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_S390_KVM_IOMMU_H

#include <linux/tracepoint.h>

TRACE_EVENT(s390_kvm_iommu_host_rpcit_fail,
	    TP_PROTO(u32 fh, u64 start, u64 last, int rc),
	    TP_ARGS(fh, start, last, rc),

	    TP_STRUCT__entry(__field(u32, fh)
			     __field(u64, start)
			     __field(u64, last)
			     __field(int, rc)),

	    TP_fast_assign(__entry->fh = fh;
			   __entry->start = start;
			   __entry->last = last;
			   __entry->rc = rc;),

	    TP_printk("fh %08x iova %016llx-%016llx: host RPCIT failed (%d)",
		      __entry->fh, __entry->start, __entry->last, __entry->rc)
);

TRACE_EVENT(s390_kvm_iommu_pin_fail,
	    TP_PROTO(u32 fh, u64 gpa, bool write, int rc),
	    TP_ARGS(fh, gpa, write, rc),

	    TP_STRUCT__entry(__field(u32, fh)
			     __field(u64, gpa)
			     __field(bool, write)
			     __field(int, rc)),

	    TP_fast_assign(__entry->fh = fh;
			   __entry->gpa = gpa;
			   __entry->write = write;
			   __entry->rc = rc;),

	    TP_printk("fh %08x gpa %016llx%s: pin failed (%d)",
		      __entry->fh, __entry->gpa,
		      __entry->write ? " (write)" : "", __entry->rc)
);

#endif /* _TRACE_S390_KVM_IOMMU_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE s390_kvm_iommu_trace
#include <trace/define_trace.h>
