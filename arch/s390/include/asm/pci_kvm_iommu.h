/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel RPCIT for zPCI functions attached to an s390 KVM nested IOMMU
 * domain (drivers/iommu/s390-kvm-iommu.c): the interface between KVM
 * (kvm.ko) and the built-in IOMMU side.
 */
#ifndef _ASM_S390_PCI_KVM_IOMMU_H
#define _ASM_S390_PCI_KVM_IOMMU_H

#include <linux/types.h>

struct file;
struct gfn_to_hva_cache;
struct kvm;
struct module;
struct zpci_dev;
struct s390_kvm_iommu_domain;

/**
 * struct s390_kvm_iommu_kvm_ops - VM services kvm.ko offers the IOMMU side
 * @owner: the module providing them (kvm.ko); every domain holds a
 *	reference on it for its whole life
 * @get_kvm_file: the VM of a KVM VM file with a reference taken, or
 *	ERR_PTR(-EBADF) when @file is not one
 * @put_kvm: drop a reference from @get_kvm_file
 * @read_guest_cached: copy guest memory through the VM's memslots (0 or an
 *	errno), through @ghc, a cache of one guest
 *	page's HVA: (re)initialized for the page of @gpa when @ghc->len is 0,
 *	when it holds another page or the memslots changed; a read that
 *	crosses a page is done uncached. Caller holds kvm->srcu.
 * @gpa_to_hva: the HVA of a guest frame and whether its memslot is
 *	writable, or a KVM error HVA. Caller holds kvm->srcu.
 * @vfio_kvm: the VM vfio associated @zdev with (KVM_DEV_VFIO_FILE_ADD
 *	before the device was opened), or NULL; for comparison only, no
 *	reference is taken
 * @is_protected: the VM is a protected (Secure Execution) VM
 */
struct s390_kvm_iommu_kvm_ops {
	struct module *owner;
	struct kvm *(*get_kvm_file)(struct file *file);
	void (*put_kvm)(struct kvm *kvm);
	int (*read_guest_cached)(struct kvm *kvm, struct gfn_to_hva_cache *ghc,
				 u64 gpa, void *data, unsigned long len);
	unsigned long (*gpa_to_hva)(struct kvm *kvm, u64 gpa, bool *writable);
	struct kvm *(*vfio_kvm)(struct zpci_dev *zdev);
	bool (*is_protected)(struct kvm *kvm);
};

int s390_kvm_iommu_register_kvm(const struct s390_kvm_iommu_kvm_ops *ops);
void s390_kvm_iommu_unregister_kvm(void);
void s390_kvm_iommu_flush_gpa(struct kvm *kvm, u64 gpa, u64 size);

struct s390_kvm_iommu_domain *s390_kvm_iommu_get(struct kvm *kvm, u32 fh);
void s390_kvm_iommu_put(struct s390_kvm_iommu_domain *kdom);
int s390_kvm_iommu_rpcit(struct s390_kvm_iommu_domain *kdom, u64 iova,
			 u64 len, u8 *status);

#endif /* _ASM_S390_PCI_KVM_IOMMU_H */
