/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interface between the s390 IOMMU driver (s390-iommu.c) and
 * s390 KVM-bound shadow domains (s390-kvm-iommu.c).
 */
#ifndef _S390_IOMMU_H
#define _S390_IOMMU_H

#include <linux/iommu.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <asm/pci.h>
#include <uapi/linux/iommufd.h>

/**
 * struct s390_domain - an s390 paging domain
 * @domain: the generic domain
 * @devices: attached zPCI functions (RCU list, updates under @list_lock)
 * @ctrs: counters shown in the function's debugfs statistics
 * @dma_table: the region-third table registered as the functions' IOAT
 * @list_lock: protects @devices
 * @rcu: frees the domain after RCU readers of zdev->s390_domain are done
 * @origin_type: ZPCI_TABLE_TYPE_* of @dma_table
 *
 * A KVM-bound domain embeds one, with @dma_table pointing at its shadow
 * table, so the attach, detach and IOAT re-registration paths of
 * s390-iommu.c work on it unchanged.
 */
struct s390_domain {
	struct iommu_domain	domain;
	struct list_head	devices;
	struct zpci_iommu_ctrs	ctrs;
	unsigned long		*dma_table;
	spinlock_t		list_lock;	/* protects devices */
	struct rcu_head		rcu;
	u8			origin_type;
};

int s390_iommu_attach_device(struct iommu_domain *domain, struct device *dev);

#ifdef CONFIG_S390_KVM_IOMMU
struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    const struct iommu_user_data *user_data);
bool s390_domain_is_kvm(struct iommu_domain *domain);
void s390_kvm_iommu_detached(struct s390_domain *s390_domain,
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

static inline void s390_kvm_iommu_detached(struct s390_domain *s390_domain,
					   struct zpci_dev *zdev)
{
}
#endif

#endif /* _S390_IOMMU_H */
