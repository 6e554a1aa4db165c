/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interface between the s390 IOMMU driver (s390-iommu.c) and
 * s390 KVM-bound shadow domains (s390-kvm-iommu.c).
 */
#ifndef _S390_IOMMU_H
#define _S390_IOMMU_H

#include <linux/iommu.h>
#include <asm/pci.h>
#include <uapi/linux/iommufd.h>

int s390_iommu_attach_device(struct iommu_domain *domain, struct device *dev);
struct iommu_domain *
s390_iommu_domain_alloc_shadow(struct device *dev,
			       const struct iommu_domain_ops *ops,
			       unsigned long *table, void *priv);
void s390_iommu_domain_free_shadow(struct iommu_domain *domain);
void *s390_iommu_domain_priv(struct iommu_domain *domain);
struct zpci_iommu_ctrs *s390_iommu_domain_ctrs(struct iommu_domain *domain);

#ifdef CONFIG_S390_KVM_IOMMU
struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    const struct iommu_user_data *user_data);
bool s390_domain_is_kvm(struct iommu_domain *domain);
void s390_kvm_iommu_detached(struct iommu_domain *domain,
			     struct zpci_dev *zdev);
#else
static inline struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    const struct iommu_user_data *user_data)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline bool s390_domain_is_kvm(struct iommu_domain *domain)
{
	return false;
}

static inline void s390_kvm_iommu_detached(struct iommu_domain *domain,
					   struct zpci_dev *zdev)
{
}
#endif

#endif /* _S390_IOMMU_H */
