/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interface between the s390 IOMMU driver (s390-iommu.c) and
 * s390 KVM nested domains (s390-kvm-iommu.c).
 */
#ifndef _S390_IOMMU_H
#define _S390_IOMMU_H

#include <linux/iommu.h>
#include <linux/pci.h>
#include <uapi/linux/iommufd.h>

int s390_iommu_attach_device(struct iommu_domain *domain, struct device *dev);
struct iommu_domain *
s390_iommu_domain_alloc_shadow(struct device *dev,
			       const struct iommu_domain_ops *ops,
			       unsigned long *table, void *priv);
void s390_iommu_domain_free_shadow(struct iommu_domain *domain);
void *s390_iommu_domain_priv(struct iommu_domain *domain);
struct zpci_iommu_ctrs *s390_iommu_domain_ctrs(struct iommu_domain *domain);
void s390_iommu_parent_link(struct iommu_domain *parent,
			    struct list_head *link);
void s390_iommu_parent_unlink(struct iommu_domain *parent,
			      struct list_head *link);
int s390_iommu_parent_translate(struct iommu_domain *parent, u64 iova,
				phys_addr_t *phys, bool *writable);

#ifdef CONFIG_S390_KVM_IOMMU
struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    struct iommu_domain *parent,
			    const struct iommu_user_data *user_data);
bool s390_domain_is_kvm(struct iommu_domain *domain);
void s390_kvm_iommu_detach_begin(struct iommu_domain *domain);
void s390_kvm_iommu_detached(struct iommu_domain *domain,
			     struct zpci_dev *zdev, int dereg_rc);
void s390_kvm_iommu_parent_unmapped(struct list_head *link, u64 first,
				    u64 last);
#else
static inline struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    struct iommu_domain *parent,
			    const struct iommu_user_data *user_data)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void s390_kvm_iommu_parent_unmapped(struct list_head *link,
						  u64 first, u64 last)
{
}

static inline bool s390_domain_is_kvm(struct iommu_domain *domain)
{
	return false;
}

static inline void s390_kvm_iommu_detach_begin(struct iommu_domain *domain)
{
}

static inline void s390_kvm_iommu_detached(struct iommu_domain *domain,
					   struct zpci_dev *zdev, int dereg_rc)
{
}
#endif

#endif /* _S390_IOMMU_H */
