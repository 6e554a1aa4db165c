// SPDX-License-Identifier: GPL-2.0
/*
 * s390 KVM-bound IOMMU domains: in-kernel RPCIT for passthrough zPCI functions
 *
 * A guest that owns a zPCI function keeps its own I/O translation tables in
 * guest memory and issues RPCIT (B9D3) after changing them. A domain of this
 * type is allocated through iommufd for exactly one function and bound to one
 * KVM VM. It keeps a shadow of the guest tables in the format the hardware
 * walks (s390-kvm-shadow.c) and registers that shadow as the function's IOAT.
 * KVM's RPCIT intercept handler, and IOMMU_HWPT_INVALIDATE from the VMM,
 * refresh the shadow from guest memory without leaving the kernel.
 *
 * Guest memory is reached only through the VM's memslots. Guest pages are
 * pinned with FOLL_LONGTERM and charged to the allocating user's
 * RLIMIT_MEMLOCK and to the VMM's pinned_vm, the way iommufd charges its own
 * pins; exhaustion is reported to the guest as RPCIT cc 1 status 16, which a
 * Linux guest answers with a global refresh.
 */

#define KMSG_COMPONENT "s390-kvm-iommu"
#define pr_fmt(fmt) KMSG_COMPONENT ": " fmt

#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/init.h>
#include <linux/iommu.h>
#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/seq_file.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <asm/pci_dma.h>
#include <asm/pci_insn.h>
#include <asm/pci_kvm_iommu.h>

#include "s390-iommu.h"
#include "s390-kvm-shadow.h"

/**
 * struct s390_kvm_iommu_domain - an IOMMU domain bound to one KVM VM
 * @domain: the s390 domain over the shadow root (s390-iommu.c), so the
 *	attach, detach and IOAT re-registration paths there serve it too
 * @dev: the one device this domain was allocated for
 * @kvm: the VM, referenced from allocation until the domain is freed
 * @fh: the function handle the guest uses for the function
 * @user: the user charged for pins (RLIMIT_MEMLOCK), as iommufd does
 * @account_user: charge @user; false when the allocating task had
 *	CAP_IPC_LOCK, which exempts it from the limit as in iommufd
 * @users: references: one for the iommufd hwpt, one per RPCIT in flight
 * @hnode: entry in s390_kvm_iommu_table, keyed by (@kvm, @fh)
 * @lock: serializes refreshes, IOAT changes, attach and detach
 * @zdev: the attached function, NULL while detached (under @lock)
 * @pba: first IOVA the guest may use (bytes, under @lock)
 * @pal: last IOVA the guest may use (bytes, inclusive, under @lock)
 * @shadow: the shadow tables (under @lock)
 * @rcu: frees the domain after lookups under RCU are done
 * @dbg: test-only debugfs view of the shadow
 * @dbg_start: first IOVA the view shows (under @lock)
 * @dbg_last: last IOVA the view shows (under @lock)
 */
struct s390_kvm_iommu_domain {
	struct iommu_domain	*domain;
	struct device		*dev;
	struct kvm		*kvm;
	u32			fh;
	struct user_struct	*user;
	bool			account_user;
	refcount_t		users;
	struct hlist_node	hnode;
	struct mutex		lock;	/* see @lock above */
	struct zpci_dev		*zdev;
	u64			pba;
	u64			pal;
	struct s390_shadow	shadow;
	struct rcu_head		rcu;
#ifdef CONFIG_S390_KVM_IOMMU_DEBUGFS
	struct dentry		*dbg;
	u64			dbg_start;
	u64			dbg_last;
#endif
};

/* RPCIT condition codes (asm/pci_insn.h names them only from 6.12.115 on) */
#define S390_KVM_RPCIT_CC_OK	0
#define S390_KVM_RPCIT_CC_ERR	1

/* (kvm, guest fh) -> domain; lookups under RCU, updates under the mutex */
static DEFINE_HASHTABLE(s390_kvm_iommu_table, 6);
static DEFINE_MUTEX(s390_kvm_iommu_table_lock);

static const struct iommu_domain_ops s390_kvm_iommu_domain_ops;

static struct s390_kvm_iommu_domain *to_kvm_domain(struct iommu_domain *dom)
{
	return s390_iommu_domain_priv(dom);
}

static u32 s390_kvm_iommu_key(struct kvm *kvm, u32 fh)
{
	return hash_ptr(kvm, 32) ^ fh;
}

/*
 * Charge @npages pinned pages as iommufd does by default
 * (IOPT_PAGES_ACCOUNT_USER): against the user's RLIMIT_MEMLOCK unless the
 * allocating task had CAP_IPC_LOCK, and always in the VMM's pinned_vm.
 */
static int s390_kvm_iommu_charge(struct s390_kvm_iommu_domain *kdom,
				 unsigned long npages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long cur, new;

	if (kdom->account_user) {
		cur = atomic_long_read(&kdom->user->locked_vm);
		do {
			new = cur + npages;
			if (new < cur || new > limit)
				return -ENOMEM;
		} while (!atomic_long_try_cmpxchg(&kdom->user->locked_vm, &cur,
						  new));
	}
	atomic64_add(npages, &kdom->kvm->mm->pinned_vm);
	return 0;
}

static void s390_kvm_iommu_uncharge(struct s390_kvm_iommu_domain *kdom,
				    unsigned long npages)
{
	if (kdom->account_user &&
	    !WARN_ON(atomic_long_read(&kdom->user->locked_vm) < npages))
		atomic_long_sub(npages, &kdom->user->locked_vm);
	atomic64_sub(npages, &kdom->kvm->mm->pinned_vm);
}

/*
 * Shadow engine services. They run with kdom->lock and kvm->srcu held, in
 * the VMM's context (a vCPU thread or the thread issuing
 * IOMMU_HWPT_INVALIDATE), so current->mm is the VM's mm.
 */
static int s390_kvm_iommu_read(void *priv, u64 gpa, void *buf, size_t len)
{
	struct s390_kvm_iommu_domain *kdom = priv;

	return zpci_kvm_hook.read_guest(kdom->kvm, gpa, buf, len) ? -EFAULT : 0;
}

static int s390_kvm_iommu_pin(void *priv, u64 gpa, bool write, u64 *hpa)
{
	unsigned int gup_flags = FOLL_LONGTERM | (write ? FOLL_WRITE : 0);
	struct s390_kvm_iommu_domain *kdom = priv;
	struct page *page;
	unsigned long hva;
	bool writable;
	int rc;

	/* Only guest RAM: memslot-backed, never MMIO or the VMM's own memory */
	hva = zpci_kvm_hook.gpa_to_hva(kdom->kvm, gpa & PAGE_MASK, &writable);
	if (kvm_is_error_hva(hva) || (write && !writable))
		return -EFAULT;

	rc = s390_kvm_iommu_charge(kdom, 1);
	if (rc)
		return rc;

	rc = pin_user_pages_fast(hva, 1, gup_flags, &page);
	if (rc != 1) {
		s390_kvm_iommu_uncharge(kdom, 1);
		return rc == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	*hpa = page_to_phys(page);
	return 0;
}

static void s390_kvm_iommu_unpin(void *priv, u64 hpa, bool dirty)
{
	struct page *page = pfn_to_page(PHYS_PFN(hpa));

	unpin_user_pages_dirty_lock(&page, 1, dirty);
	s390_kvm_iommu_uncharge(priv, 1);
}

static u64 *s390_kvm_iommu_alloc_table(void *priv)
{
	/* order 2: 16 KiB, naturally aligned as region/segment tables must be */
	return (u64 *)__get_free_pages(GFP_KERNEL_ACCOUNT, 2);
}

static void s390_kvm_iommu_free_table(void *priv, u64 *table)
{
	free_pages((unsigned long)table, 2);
}

static u64 *s390_kvm_iommu_alloc_pt(void *priv)
{
	return (u64 *)__get_free_page(GFP_KERNEL_ACCOUNT);
}

static void s390_kvm_iommu_free_pt(void *priv, u64 *pt)
{
	free_page((unsigned long)pt);
}

static u64 s390_kvm_iommu_virt_to_phys(void *priv, void *virt)
{
	return virt_to_phys(virt);
}

static void *s390_kvm_iommu_phys_to_virt(void *priv, u64 phys)
{
	return phys_to_virt(phys);
}

static void *s390_kvm_iommu_realloc(void *priv, void *p, size_t size)
{
	return kvrealloc(p, size, GFP_KERNEL_ACCOUNT);
}

static void s390_kvm_iommu_kvfree(void *priv, void *p)
{
	kvfree(p);
}

static const struct s390_shadow_ops s390_kvm_iommu_shadow_ops = {
	.read		= s390_kvm_iommu_read,
	.pin		= s390_kvm_iommu_pin,
	.unpin		= s390_kvm_iommu_unpin,
	.alloc_table	= s390_kvm_iommu_alloc_table,
	.free_table	= s390_kvm_iommu_free_table,
	.alloc_pt	= s390_kvm_iommu_alloc_pt,
	.free_pt	= s390_kvm_iommu_free_pt,
	.virt_to_phys	= s390_kvm_iommu_virt_to_phys,
	.phys_to_virt	= s390_kvm_iommu_phys_to_virt,
	.realloc	= s390_kvm_iommu_realloc,
	.free		= s390_kvm_iommu_kvfree,
};

/*
 * Make the hardware forget what the last engine call changed, then release
 * what that call unpinned or freed. A removed or changed entry always needs
 * the host RPCIT; entries that only became valid need it only when the
 * function requires refresh (zdev->tlb_refresh), as in s390-iommu's
 * iotlb_sync_map. One host RPCIT covers the whole changed range.
 */
static int s390_kvm_iommu_sync(struct s390_kvm_iommu_domain *kdom,
			       struct s390_shadow_result *res)
{
	struct zpci_iommu_ctrs *ctrs = s390_iommu_domain_ctrs(kdom->domain);
	struct zpci_dev *zdev = kdom->zdev;
	int rc = 0;

	if (zdev && res->changed && (res->removed || zdev->tlb_refresh)) {
		atomic64_inc(res->removed ? &ctrs->sync_rpcits :
				&ctrs->sync_map_rpcits);
		rc = zpci_refresh_trans((u64)zdev->fh << 32, res->start,
					res->end - res->start + 1);
	}
	atomic64_add(res->pinned, &ctrs->mapped_pages);
	atomic64_add(s390_shadow_release(&kdom->shadow),
		     &ctrs->unmapped_pages);
	return rc;
}

/* Map an engine or host errno to the RPCIT answer: cc, and status on cc 1 */
static int s390_kvm_iommu_cc(int rc, u8 *status)
{
	switch (rc) {
	case 0:
		*status = 0;
		return S390_KVM_RPCIT_CC_OK;
	case -ENOMEM:
		*status = ZPCI_PCI_ST_INSUF_RES;
		return S390_KVM_RPCIT_CC_ERR;
	default:
		*status = ZPCI_PCI_ST_FUNC_IN_ERR;
		return S390_KVM_RPCIT_CC_ERR;
	}
}

/* A guest aperture [pba, pal] must lie within the function's DMA aperture */
static bool s390_kvm_iommu_aperture_ok(struct zpci_dev *zdev, u64 pba, u64 pal)
{
	return pba <= pal && pba >= zdev->start_dma && pal <= zdev->end_dma;
}

/* Refresh [iova, iova + len) with kdom->lock held: the RPCIT semantics */
static int s390_kvm_iommu_refresh(struct s390_kvm_iommu_domain *kdom,
				  u64 iova, u64 len, u8 *status)
{
	struct s390_shadow_result res = {};
	u64 last = iova + len - 1;
	int rc, hrc;

	lockdep_assert_held(&kdom->lock);

	/* The whole range must lie in [pba, pal] of a registered IOAT */
	if (!kdom->shadow.has_iota || !len || last < iova ||
	    iova < kdom->pba || last > kdom->pal)
		return s390_kvm_iommu_cc(-EINVAL, status);

	rc = s390_shadow_refresh(&kdom->shadow, iova, len, &res);
	hrc = s390_kvm_iommu_sync(kdom, &res);
	return s390_kvm_iommu_cc(rc ?: hrc, status);
}

/* Adopt a new guest IOAT (iota 0: none), dropping all shadow translations */
static int s390_kvm_iommu_set_ioat(struct s390_kvm_iommu_domain *kdom,
				   u64 iota, u64 pba, u64 pal)
{
	struct zpci_dev *zdev = kdom->zdev;
	struct s390_shadow_result res = {};
	int rc;

	lockdep_assert_held(&kdom->lock);

	if (iota && !s390_kvm_iommu_aperture_ok(zdev, pba, pal))
		return -EINVAL;
	rc = s390_shadow_set_iota(&kdom->shadow, iota, &res);
	s390_kvm_iommu_sync(kdom, &res);
	if (rc)
		return rc;
	kdom->pba = pba;
	kdom->pal = pal;
	return 0;
}

/**
 * s390_kvm_iommu_get() - Find the attached KVM-bound domain serving an fh
 * @kvm: the VM whose vCPU executed RPCIT
 * @fh: the function handle from the RPCIT's r1
 *
 * Context: any context that may use RCU; does not sleep.
 * Return: the domain with a reference held (release it with
 * s390_kvm_iommu_put()), or NULL when no domain of @kvm serves @fh, in which
 * case the instruction is left to userspace exactly as without this driver.
 */
struct s390_kvm_iommu_domain *s390_kvm_iommu_get(struct kvm *kvm, u32 fh)
{
	struct s390_kvm_iommu_domain *kdom;

	rcu_read_lock();
	hash_for_each_possible_rcu(s390_kvm_iommu_table, kdom, hnode,
				   s390_kvm_iommu_key(kvm, fh)) {
		if (kdom->kvm == kvm && kdom->fh == fh &&
		    refcount_inc_not_zero(&kdom->users)) {
			rcu_read_unlock();
			return kdom;
		}
	}
	rcu_read_unlock();
	return NULL;
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_get);

/* Last reference: the device is detached and nothing can look us up */
static void s390_kvm_iommu_destroy(struct s390_kvm_iommu_domain *kdom)
{
	WARN_ON(kdom->zdev);
	s390_iommu_domain_free_shadow(kdom->domain);
	s390_shadow_destroy(&kdom->shadow);
	zpci_kvm_hook.kvm_put(kdom->kvm);
	free_uid(kdom->user);
	mutex_destroy(&kdom->lock);
	kfree_rcu(kdom, rcu);
}

/**
 * s390_kvm_iommu_put() - Drop a reference from s390_kvm_iommu_get()
 * @kdom: the domain
 *
 * The last reference unpins every guest page, frees the shadow and drops
 * the VM reference.
 *
 * Context: process context. May sleep.
 */
void s390_kvm_iommu_put(struct s390_kvm_iommu_domain *kdom)
{
	if (refcount_dec_and_test(&kdom->users))
		s390_kvm_iommu_destroy(kdom);
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_put);

/**
 * s390_kvm_iommu_rpcit() - Handle a guest RPCIT in the kernel
 * @kdom: the domain serving the RPCIT's fh, from s390_kvm_iommu_get()
 * @iova: start of the range, the RPCIT's r2 (bytes)
 * @len: length of the range, the RPCIT's r2 + 1 (bytes)
 * @status: the status for r1 bits 32-39 when cc 1 is returned
 *
 * Implements Refresh PCI Translations for a function bound to a VM: walks
 * the guest tables for the range through the VM's memslots, pins newly
 * valid guest pages, updates the shadow and issues at most one host RPCIT.
 * The range must lie within [pba, pal] of the guest's registered IOAT. The
 * caller has done the instruction's program-exception checks.
 *
 * Context: process context of a vCPU thread, kvm->srcu read lock held.
 * May sleep.
 * Return: -ENOENT when the domain is not attached to its function (the
 * instruction is then left to userspace), otherwise the condition code:
 * 0 (done) or 1 with @status 8 (range outside [pba, pal], no IOAT, or a
 * guest translation table error) or 16 (insufficient resources: memlock
 * limit or memory exhausted; what was refreshed so far stays valid, a later
 * refresh of the range recovers).
 */
int s390_kvm_iommu_rpcit(struct s390_kvm_iommu_domain *kdom, u64 iova,
			 u64 len, u8 *status)
{
	int cc = -ENOENT;

	mutex_lock(&kdom->lock);
	if (kdom->zdev)
		cc = s390_kvm_iommu_refresh(kdom, iova, len, status);
	mutex_unlock(&kdom->lock);
	return cc;
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_rpcit);

static int s390_kvm_iommu_attach_device(struct iommu_domain *domain,
					struct device *dev)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	int rc;

	/* A KVM-bound domain serves the one function it was allocated for */
	if (dev != kdom->dev)
		return -EINVAL;

	/* Registers the shadow root as the function's IOAT */
	rc = s390_iommu_attach_device(domain, dev);
	if (rc)
		return rc;

	mutex_lock(&kdom->lock);
	kdom->zdev = to_zpci_dev(dev);
	mutex_unlock(&kdom->lock);
	return 0;
}

/**
 * s390_kvm_iommu_detached() - The function left a KVM-bound domain
 * @domain: the KVM-bound domain the function was attached to
 * @zdev: the function, whose IOAT has already been deregistered
 *
 * Called by s390-iommu.c when a function detaches. Nothing walks the shadow
 * any longer, so every guest page is unpinned and every shadow table freed
 * right away; the guest IOAT is kept. After a later attach the VMM refreshes
 * the guest's aperture (IOMMU_HWPT_INVALIDATE) to rebuild the shadow.
 *
 * Context: process context, iommu group mutex held. May sleep.
 */
void s390_kvm_iommu_detached(struct iommu_domain *domain,
			     struct zpci_dev *zdev)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	struct s390_shadow_result res = {};

	mutex_lock(&kdom->lock);
	kdom->zdev = NULL;
	s390_shadow_set_iota(&kdom->shadow, kdom->shadow.iota, &res);
	s390_kvm_iommu_sync(kdom, &res);
	mutex_unlock(&kdom->lock);
}

/**
 * s390_domain_is_kvm() - Is @domain a KVM-bound s390 domain?
 * @domain: an s390 domain
 *
 * Context: any.
 * Return: true for domains from s390_kvm_iommu_domain_alloc().
 */
bool s390_domain_is_kvm(struct iommu_domain *domain)
{
	return domain->ops == &s390_kvm_iommu_domain_ops;
}

static int s390_kvm_iommu_map_pages(struct iommu_domain *domain,
				    unsigned long iova, phys_addr_t paddr,
				    size_t pgsize, size_t pgcount, int prot,
				    gfp_t gfp, size_t *mapped)
{
	/* Only the guest's tables fill this domain, never IOMMU_IOAS_MAP */
	return -EOPNOTSUPP;
}

static size_t s390_kvm_iommu_unmap_pages(struct iommu_domain *domain,
					 unsigned long iova, size_t pgsize,
					 size_t pgcount,
					 struct iommu_iotlb_gather *gather)
{
	return 0;
}

static phys_addr_t s390_kvm_iommu_iova_to_phys(struct iommu_domain *domain,
					       dma_addr_t iova)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	bool prot;
	u64 hpa = 0;

	mutex_lock(&kdom->lock);
	if (!s390_shadow_lookup(&kdom->shadow, iova, &hpa, &prot))
		hpa = 0;
	mutex_unlock(&kdom->lock);
	return hpa ? hpa + offset_in_page(iova) : 0;
}

/* One IOMMU_HWPT_INVALIDATE entry, kdom->lock and kvm->srcu held */
static int
s390_kvm_iommu_invalidate_one(struct s390_kvm_iommu_domain *kdom,
			      struct iommu_hwpt_s390_kvm_invalidate *inv)
{
	u8 status = 0;
	int rc;

	switch (inv->op) {
	case IOMMU_S390_KVM_OP_REFRESH:
		rc = s390_kvm_iommu_refresh(kdom, inv->iova, inv->len, &status);
		inv->cc = rc;
		inv->status = status;
		return 0;
	case IOMMU_S390_KVM_OP_SET_IOAT:
		if (!inv->iota)
			return -EINVAL;
		rc = s390_kvm_iommu_set_ioat(kdom, inv->iota, inv->pba,
					     inv->pal);
		break;
	case IOMMU_S390_KVM_OP_CLEAR_IOAT:
		rc = s390_kvm_iommu_set_ioat(kdom, 0, 0, 0);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rc)
		return rc;
	inv->cc = S390_KVM_RPCIT_CC_OK;
	inv->status = 0;
	return 0;
}

static int
s390_kvm_iommu_cache_invalidate_user(struct iommu_domain *domain,
				     struct iommu_user_data_array *array)
{
	const size_t out = offsetof(struct iommu_hwpt_s390_kvm_invalidate, cc);
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	struct iommu_hwpt_s390_kvm_invalidate inv;
	int rc = 0, idx;
	u32 i = 0;

	if (array->type != IOMMU_HWPT_INVALIDATE_DATA_S390_KVM) {
		rc = -EINVAL;
		goto out;
	}
	/* Guest memory is read through the VMM's address space */
	if (current->mm != kdom->kvm->mm) {
		rc = -EPERM;
		goto out;
	}

	for (i = 0; i < array->entry_num; i++) {
		rc = iommu_copy_struct_from_user_array(&inv, array,
						       IOMMU_HWPT_INVALIDATE_DATA_S390_KVM,
						       i, status);
		if (rc)
			break;
		if (inv.flags) {
			rc = -EOPNOTSUPP;
			break;
		}

		idx = srcu_read_lock(&kdom->kvm->srcu);
		mutex_lock(&kdom->lock);
		rc = kdom->zdev ? s390_kvm_iommu_invalidate_one(kdom, &inv) :
				  -ENODEV;
		mutex_unlock(&kdom->lock);
		srcu_read_unlock(&kdom->kvm->srcu, idx);
		if (rc)
			break;

		if (copy_to_user(array->uptr + i * array->entry_len + out,
				 (u8 *)&inv + out, sizeof(inv) - out)) {
			rc = -EFAULT;
			break;
		}
	}
out:
	array->entry_num = i;
	return rc;
}

#ifdef CONFIG_S390_KVM_IOMMU_DEBUGFS
/*
 * Test-only view of the shadow, for checking it against the guest tables:
 * /sys/kernel/debug/s390-kvm-iommu/<VMM tgid>-<fh>. Writing "<start> <last>"
 * (hex IOVAs) selects a range; reading gives "pinned <pages>", then one
 * "<iova> <hpa> ro|rw" line per valid shadow PTE in the range. Nothing in
 * the RPCIT path depends on it.
 */
static struct dentry *s390_kvm_iommu_dbg_root;

static int s390_kvm_iommu_dbg_line(void *arg, u64 iova, u64 hpa, bool prot)
{
	seq_printf(arg, "0x%llx 0x%llx %s\n", iova, hpa, prot ? "ro" : "rw");
	return 0;
}

static int s390_kvm_iommu_dbg_show(struct seq_file *m, void *unused)
{
	struct s390_kvm_iommu_domain *kdom = m->private;

	mutex_lock(&kdom->lock);
	seq_printf(m, "pinned %lu\n", kdom->shadow.nr_pinned);
	s390_shadow_for_each(&kdom->shadow, kdom->dbg_start, kdom->dbg_last,
			     s390_kvm_iommu_dbg_line, m);
	mutex_unlock(&kdom->lock);
	return 0;
}

static int s390_kvm_iommu_dbg_open(struct inode *inode, struct file *file)
{
	return single_open(file, s390_kvm_iommu_dbg_show, inode->i_private);
}

static ssize_t s390_kvm_iommu_dbg_write(struct file *file,
					const char __user *ubuf, size_t count,
					loff_t *ppos)
{
	struct s390_kvm_iommu_domain *kdom =
		((struct seq_file *)file->private_data)->private;
	u64 start, last;
	char buf[64];

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = 0;
	if (sscanf(buf, "%llx %llx", &start, &last) != 2 || start > last)
		return -EINVAL;
	mutex_lock(&kdom->lock);
	kdom->dbg_start = start;
	kdom->dbg_last = last;
	mutex_unlock(&kdom->lock);
	return count;
}

static const struct file_operations s390_kvm_iommu_dbg_fops = {
	.owner		= THIS_MODULE,
	.open		= s390_kvm_iommu_dbg_open,
	.read		= seq_read,
	.write		= s390_kvm_iommu_dbg_write,
	.llseek		= seq_lseek,
	.release	= single_release,
};

static void s390_kvm_iommu_dbg_add(struct s390_kvm_iommu_domain *kdom)
{
	char name[32];

	snprintf(name, sizeof(name), "%d-%08x", task_tgid_nr(current),
		 kdom->fh);
	kdom->dbg_last = U64_MAX;
	kdom->dbg = debugfs_create_file(name, 0600, s390_kvm_iommu_dbg_root,
					kdom, &s390_kvm_iommu_dbg_fops);
}

static void s390_kvm_iommu_dbg_remove(struct s390_kvm_iommu_domain *kdom)
{
	/* waits for readers still inside the file's operations */
	debugfs_remove(kdom->dbg);
}

static int __init s390_kvm_iommu_dbg_init(void)
{
	s390_kvm_iommu_dbg_root = debugfs_create_dir(KMSG_COMPONENT, NULL);
	return 0;
}
late_initcall(s390_kvm_iommu_dbg_init);
#else
static void s390_kvm_iommu_dbg_add(struct s390_kvm_iommu_domain *kdom) {}
static void s390_kvm_iommu_dbg_remove(struct s390_kvm_iommu_domain *kdom) {}
#endif

static void s390_kvm_iommu_domain_free(struct iommu_domain *domain)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);

	s390_kvm_iommu_dbg_remove(kdom);
	mutex_lock(&s390_kvm_iommu_table_lock);
	hash_del_rcu(&kdom->hnode);
	mutex_unlock(&s390_kvm_iommu_table_lock);
	s390_kvm_iommu_put(kdom);
}

static const struct iommu_domain_ops s390_kvm_iommu_domain_ops = {
	.attach_dev		= s390_kvm_iommu_attach_device,
	.map_pages		= s390_kvm_iommu_map_pages,
	.unmap_pages		= s390_kvm_iommu_unmap_pages,
	.iova_to_phys		= s390_kvm_iommu_iova_to_phys,
	.cache_invalidate_user	= s390_kvm_iommu_cache_invalidate_user,
	.free			= s390_kvm_iommu_domain_free,
};

/* Insert into the (kvm, fh) table unless that pair is taken */
static int s390_kvm_iommu_publish(struct s390_kvm_iommu_domain *kdom)
{
	u32 key = s390_kvm_iommu_key(kdom->kvm, kdom->fh);
	struct s390_kvm_iommu_domain *other;
	int rc = 0;

	mutex_lock(&s390_kvm_iommu_table_lock);
	hash_for_each_possible(s390_kvm_iommu_table, other, hnode, key) {
		if (other->kvm == kdom->kvm && other->fh == kdom->fh) {
			rc = -EEXIST;
			goto out;
		}
	}
	hash_add_rcu(s390_kvm_iommu_table, &kdom->hnode, key);
out:
	mutex_unlock(&s390_kvm_iommu_table_lock);
	return rc;
}

static struct kvm *s390_kvm_iommu_kvm_get(int fd)
{
	struct kvm *(*get_file)(struct file *file);
	struct file *file;
	struct kvm *kvm;

	/* kvm.ko fills the hooks while loaded; a VM file pins kvm.ko */
	get_file = smp_load_acquire(&zpci_kvm_hook.kvm_get_file);
	if (!get_file)
		return ERR_PTR(-ENODEV);
	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	kvm = get_file(file);
	fput(file);
	return kvm;
}

/**
 * s390_kvm_iommu_domain_alloc() - Allocate a KVM-bound domain for a device
 * @dev: the PCI function the domain is for (the only one it will accept)
 * @flags: IOMMU_HWPT_ALLOC flags; none are supported
 * @user_data: struct iommu_hwpt_s390_kvm from userspace
 *
 * Takes a reference on the VM named by the data's kvm_fd for the domain's
 * lifetime, and the user to charge pins to (not limited if the caller has
 * CAP_IPC_LOCK, as in iommufd). The guest aperture [pba, pal]
 * must lie within the function's DMA aperture; the guest IOTA may be 0 (no
 * IOAT registered yet) or name an RTTO, RSTO or RFTO table.
 *
 * Context: process context (IOMMU_HWPT_ALLOC). May sleep.
 * Return: the domain, or ERR_PTR: -EOPNOTSUPP for flags, -EINVAL for
 * malformed data or an aperture outside the function's, -EBADF when kvm_fd
 * is not a KVM VM, -ENODEV without KVM or zPCI function, -EEXIST when the
 * VM already has a domain for that fh, -ENOMEM, -EFAULT.
 */
struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    const struct iommu_user_data *user_data)
{
	struct s390_kvm_iommu_domain *kdom;
	struct iommu_hwpt_s390_kvm data;
	struct zpci_dev *zdev;
	struct kvm *kvm;
	int rc;

	if (flags)
		return ERR_PTR(-EOPNOTSUPP);
	rc = iommu_copy_struct_from_user(&data, user_data,
					 IOMMU_HWPT_DATA_S390_KVM, pal);
	if (rc)
		return ERR_PTR(rc);
	if (data.flags || data.__reserved)
		return ERR_PTR(-EINVAL);

	zdev = to_zpci_dev(dev);
	if (!zdev)
		return ERR_PTR(-ENODEV);
	if (!s390_kvm_iommu_aperture_ok(zdev, data.pba, data.pal))
		return ERR_PTR(-EINVAL);

	kvm = s390_kvm_iommu_kvm_get(data.kvm_fd);
	if (IS_ERR(kvm))
		return ERR_CAST(kvm);

	kdom = kzalloc(sizeof(*kdom), GFP_KERNEL_ACCOUNT);
	if (!kdom) {
		rc = -ENOMEM;
		goto out_kvm;
	}
	kdom->dev = dev;
	kdom->kvm = kvm;
	kdom->fh = data.fh;
	kdom->pba = data.pba;
	kdom->pal = data.pal;
	refcount_set(&kdom->users, 1);
	mutex_init(&kdom->lock);
	INIT_HLIST_NODE(&kdom->hnode);

	rc = s390_shadow_init(&kdom->shadow, &s390_kvm_iommu_shadow_ops, kdom);
	if (rc)
		goto out_free;
	if (data.iota) {
		struct s390_shadow_result res = {};

		/* Nothing is mapped yet, so there is nothing to release */
		rc = s390_shadow_set_iota(&kdom->shadow, data.iota, &res);
		if (rc)
			goto out_shadow;
	}

	kdom->domain = s390_iommu_domain_alloc_shadow(dev,
						      &s390_kvm_iommu_domain_ops,
						      (unsigned long *)kdom->shadow.root,
						      kdom);
	if (!kdom->domain) {
		rc = -ENOMEM;
		goto out_shadow;
	}
	kdom->domain->geometry.aperture_start = zdev->start_dma;
	kdom->domain->geometry.aperture_end = zdev->end_dma;
	kdom->user = get_uid(current_user());
	kdom->account_user = !capable(CAP_IPC_LOCK);

	rc = s390_kvm_iommu_publish(kdom);
	if (rc)
		goto out_uid;
	s390_kvm_iommu_dbg_add(kdom);
	return kdom->domain;

out_uid:
	free_uid(kdom->user);
	s390_iommu_domain_free_shadow(kdom->domain);
out_shadow:
	s390_shadow_destroy(&kdom->shadow);
out_free:
	mutex_destroy(&kdom->lock);
	kfree(kdom);
out_kvm:
	zpci_kvm_hook.kvm_put(kvm);
	return ERR_PTR(rc);
}
