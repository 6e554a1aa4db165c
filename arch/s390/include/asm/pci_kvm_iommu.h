/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel RPCIT for zPCI functions whose IOMMU domain is bound to a KVM VM
 * (drivers/iommu/s390-kvm-iommu.c), as used by KVM's RPCIT intercept handler.
 */
#ifndef _ASM_S390_PCI_KVM_IOMMU_H
#define _ASM_S390_PCI_KVM_IOMMU_H

#include <linux/types.h>

struct kvm;
struct s390_kvm_iommu_domain;

struct s390_kvm_iommu_domain *s390_kvm_iommu_get(struct kvm *kvm, u32 fh);
void s390_kvm_iommu_put(struct s390_kvm_iommu_domain *kdom);
int s390_kvm_iommu_rpcit(struct s390_kvm_iommu_domain *kdom, u64 iova,
			 u64 len, u8 *status);

#endif /* _ASM_S390_PCI_KVM_IOMMU_H */
