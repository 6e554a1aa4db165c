/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Test-only interface of KVM on s390 (CONFIG_KVM_S390_TEST_NO_SIE): not a
 * uAPI.  It exists only in kernels built for test machines without SIE and
 * is shared with the KVM selftests, which include this header directly.
 */
#ifndef __KVM_S390_TEST_H
#define __KVM_S390_TEST_H

#include <linux/types.h>
#include <linux/kvm.h>

/*
 * Test-only (CONFIG_KVM_S390_TEST_NO_SIE, machines without SIE): queue one
 * intercept that the next KVM_RUN processes through the real intercept
 * handlers instead of running the guest. Only an instruction intercept
 * (icptcode 4) of RPCIT (ipa 0xb9d3) is accepted, EINVAL otherwise.
 * ENOTTY everywhere else.
 */
struct kvm_s390_test_intercept {
	__u8 icptcode;
	__u8 pad;
	__u16 ipa;
	__u32 ipb;
	__u64 reserved[3];
};

#define KVM_S390_TEST_INTERCEPT _IOW(KVMIO, 0xfe, struct kvm_s390_test_intercept)

/*
 * Test-only, as KVM_S390_TEST_INTERCEPT: queue a batch of RPCIT intercepts
 * that the next KVM_RUN feeds to the intercept handlers one after the
 * other without returning to userspace, so that the handlers can be timed
 * alone. Before each entry KVM loads gpr_r1, gpr_r2 and gpr_r2p1 into the
 * registers that ipb names (r1, r2 and, for r2 < 15, r2 + 1) and sets the
 * PSW condition code to 3. After an entry handled in the kernel it stores
 * the condition code, the new value of r1 and KVM_S390_TEST_ICPT_HANDLED
 * in the entry. An entry left to userspace ends KVM_RUN with its exit and
 * gets KVM_S390_TEST_ICPT_EXITED; userspace completes it as a VMM does,
 * and the next KVM_RUN goes on with the next entry. Results are written
 * back to the array before KVM_RUN returns, with ns: the time (TOD clock)
 * from the entry's intercept, once its registers are loaded, to the end of
 * its handling in the kernel. With
 * KVM_S390_TEST_BATCH_RETRY_BUSY an entry answered with cc 2 is executed
 * again, as a guest retries a busy RPCIT, counting retries (up to 65535).
 * 1 to 4096 entries, EINVAL otherwise, EBUSY while another batch or an
 * intercept is queued.
 */
struct kvm_s390_test_intercept_entry {
	__u32 ipb;
	__u8 cc;
	__u8 flags;
	__u16 retries;
	__u64 gpr_r1;
	__u64 gpr_r2;
	__u64 gpr_r2p1;
	__u64 ns;
};

#define KVM_S390_TEST_ICPT_HANDLED	0x1
#define KVM_S390_TEST_ICPT_EXITED	0x2

/* batch flags: an entry answered with cc 2 (busy) is executed again */
#define KVM_S390_TEST_BATCH_RETRY_BUSY	0x1

struct kvm_s390_test_intercept_batch {
	__u32 nr_entries;
	__u32 flags;
	__u64 entries;
	__u64 reserved[2];
};

#define KVM_S390_TEST_INTERCEPT_BATCH _IOW(KVMIO, 0xfd, struct kvm_s390_test_intercept_batch)

#endif /* __KVM_S390_TEST_H */
