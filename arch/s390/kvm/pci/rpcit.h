/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel handling of RPCIT (B9D3) for zPCI functions attached to s390 KVM
 * nested IOMMU domains.
 */
#ifndef __KVM_S390_PCI_RPCIT_H
#define __KVM_S390_PCI_RPCIT_H

#include <linux/kvm_host.h>

#ifdef CONFIG_S390_KVM_IOMMU
int kvm_s390_handle_rpcit(struct kvm_vcpu *vcpu);
void kvm_s390_rpcit_flush_memslot(struct kvm *kvm,
				  struct kvm_memory_slot *slot);
int kvm_s390_rpcit_init(void);
void kvm_s390_rpcit_exit(void);
#else
static inline int kvm_s390_handle_rpcit(struct kvm_vcpu *vcpu)
{
	return -EOPNOTSUPP;
}

static inline void kvm_s390_rpcit_flush_memslot(struct kvm *kvm,
						struct kvm_memory_slot *slot)
{
}

static inline int kvm_s390_rpcit_init(void)
{
	return 0;
}

static inline void kvm_s390_rpcit_exit(void) {}
#endif

#endif /* __KVM_S390_PCI_RPCIT_H */
