// SPDX-License-Identifier: GPL-2.0
/*
 * s390 KVM nested IOMMU domains: in-kernel RPCIT for passthrough zPCI functions
 *
 * A guest that owns a zPCI function keeps its own I/O translation tables in
 * guest memory and issues RPCIT (B9D3) after changing them. A domain of this
 * type is an iommufd nested domain: allocated for exactly one function on a
 * parent domain (IOMMU_HWPT_ALLOC_NEST_PARENT), bound to one KVM VM for life,
 * and standing for the I/O translation table the guest registered. It keeps
 * a shadow of the guest tables in the format the hardware walks
 * (s390-kvm-shadow.c) and registers that shadow as the function's IOAT while
 * attached. KVM's RPCIT intercept handler, and IOMMU_HWPT_INVALIDATE from the
 * VMM, refresh the shadow from guest memory without leaving the kernel.
 *
 * Two modes, chosen at allocation:
 * - on demand: a refresh pins each guest frame it newly maps, through the
 *   VM's memslots, FOLL_LONGTERM, once per domain however many IOVAs map it,
 *   charged to the allocating user's RLIMIT_MEMLOCK and to the VMM's
 *   pinned_vm as iommufd charges its own pins. Exhaustion is reported to the
 *   guest as RPCIT cc 1 status 16, which a Linux guest answers with a global
 *   refresh. A memslot that is deleted or moved loses its shadow entries.
 * - pinned parent (IOMMU_HWPT_S390_KVM_PINNED_PARENT): the parent maps all
 *   guest RAM at IOVA = GPA, pinned and accounted by iommufd; a refresh
 *   translates each guest frame through the parent and takes no pin. A range
 *   unmapped from the parent loses its shadow entries before iommufd unpins
 *   it.
 */

#define KMSG_COMPONENT "s390-kvm-iommu"
#define pr_fmt(fmt) KMSG_COMPONENT ": " fmt

#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/init.h>
#include <linux/iommu.h>
#include <linux/kvm_host.h>
#include <linux/kvm_types.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/user.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/xarray.h>
#include <asm/pci_dma.h>
#include <asm/pci_insn.h>
#include <asm/pci_kvm_iommu.h>

#include "s390-iommu.h"
#include "s390-kvm-shadow.h"

#define CREATE_TRACE_POINTS
#include "s390_kvm_iommu_trace.h"

/* Guest table pages whose HVA a domain keeps: region, segment, page table */
#define S390_KVM_READ_CACHE	4
/* Direct-mapped cache of recently mapped guest frames' pins (by gfn) */
#define S390_KVM_PIN_HOT	256

/**
 * struct s390_kvm_pin - one guest page pinned by an on-demand domain
 * @pfn: the host page frame
 * @gfn: the guest frame it was pinned through and @pin_gfns finds it by,
 *	or S390_KVM_NO_GFN once that guest frame left the VM
 * @refs: shadow PTEs that map the page, including those whose release
 *	waits for a host RPCIT
 * @writable: pinned with FOLL_WRITE
 * @dirty: a writable shadow PTE mapped it: unpinned with the page dirtied
 */
struct s390_kvm_pin {
	unsigned long	pfn;
	unsigned long	gfn;
	unsigned long	refs;
	bool		writable;
	bool		dirty;
};

#define S390_KVM_NO_GFN	ULONG_MAX

/**
 * struct s390_kvm_parent_hot - a recent translation through the parent
 * @gfn: the guest frame, S390_KVM_NO_GFN for an empty slot
 * @hpa: its host-physical address in the parent
 * @writable: the parent maps it writable
 */
struct s390_kvm_parent_hot {
	unsigned long	gfn;
	u64		hpa;
	bool		writable;
};

/**
 * struct s390_kvm_iommu_domain - an s390 KVM nested domain
 * @domain: the s390 domain over the shadow root (s390-iommu.c), so the
 *	attach, detach and IOAT re-registration paths there serve it too
 * @ctrs: @domain's zPCI IOMMU counters (debugfs statistics of the function)
 * @parent: the nest parent domain it was allocated on
 * @parent_link: entry in @parent's list of nested domains
 * @node: entry in s390_kvm_iommu_list
 * @dev: the one device this domain was allocated for
 * @kvm: the VM, referenced from allocation until the domain is freed
 * @kvm_ops: kvm.ko's services, referenced (module) as long as @kvm
 * @fh: the function handle the guest uses for the function
 * @pinned_parent: guest frames are translated through @parent, not pinned
 * @source_task: the allocating process, whose RLIMIT_MEMLOCK limits pins
 *	(as iommufd's source_task)
 * @user: the user charged for pins (RLIMIT_MEMLOCK), as iommufd does
 * @account_user: charge @user; false when the allocating task had
 *	CAP_IPC_LOCK, which exempts it from the limit as in iommufd
 * @pins: on-demand mode: pinned page frame number -> struct
 *	s390_kvm_pin; one pin per frame (under @lock)
 * @pin_gfns: on-demand mode: guest frame number -> the struct s390_kvm_pin
 *	of the frame it was pinned through, so that mapping a guest frame
 *	that is already pinned costs a lookup and no GUP (under @lock)
 * @nr_pins: frames in @pins, each pinned and charged once (under @lock)
 * @pin_hot: on-demand mode: the pins of recently mapped guest frames,
 *	slot gfn % S390_KVM_PIN_HOT, each one also in @pin_gfns (under @lock)
 * @parent_hot: pinned-parent mode: recent translations through @parent,
 *	slot gfn % S390_KVM_PIN_HOT, dropped when the range leaves the parent
 *	(under @lock)
 * @read_cache: translations of the guest table pages read last (memslot
 *	generation checked on every use; under @lock)
 * @read_next: the @read_cache entry to replace next
 * @read_last: the @read_cache entry used last
 * @read_gen: the memslot generation the current refresh runs under (the
 *	memslots it sees stay valid while it holds kvm->srcu)
 * @users: references: one for the iommufd hwpt, one per RPCIT in flight
 * @hnode: entry in s390_kvm_iommu_table while attached, keyed (@kvm, @fh)
 * @hashed: @hnode is in the table (under s390_kvm_iommu_table_lock)
 * @was_hashed: @hnode was in the table before (under the same lock)
 * @lock: serializes refreshes, parent and memslot unmaps, attach, detach
 * @zdev: the attached function, NULL while detached (under @lock)
 * @pending: a host RPCIT failed; what it should have made safe is still
 *	queued in @shadow and [@pending_start, @pending_end] is issued again
 *	with the next host RPCIT (under @lock)
 * @pending_start: first IOVA of the unconfirmed range (bytes)
 * @pending_end: last IOVA of the unconfirmed range (bytes, inclusive)
 * @quarantined: the IOAT deregistration failed, so the function may still
 *	walk the shadow: its pins and tables are never released
 * @resume_iova: a refresh stopped at the work bound (cc 2): the RPCIT's
 *	IOVA, so that its retry resumes at @resume_next (under @lock)
 * @resume_len: the RPCIT's length (bytes), 0 when there is nothing to resume
 * @resume_next: first IOVA the retry still has to refresh
 * @resume_nomem: resources ran out before the bound: the retry answers
 *	status 16 even if its part succeeds
 * @pba: first IOVA the guest may use (bytes)
 * @pal: last IOVA the guest may use (bytes, inclusive)
 * @shadow: the shadow tables (under @lock)
 * @rcu: frees the domain after lookups under RCU are done
 * @dbg: test-only debugfs view of the shadow, while attached
 * @dbg_start: first IOVA the view shows (under @lock)
 * @dbg_last: last IOVA the view shows (under @lock)
 */
struct s390_kvm_iommu_domain {
	struct rcu_head		rcu;
	struct iommu_domain	*domain;
	struct zpci_iommu_ctrs	*ctrs;
	struct iommu_domain	*parent;
	struct list_head	parent_link;
	struct list_head	node;
	struct device		*dev;
	struct kvm		*kvm;
	const struct s390_kvm_iommu_kvm_ops *kvm_ops;
	u32			fh;
	bool			pinned_parent;
	struct task_struct	*source_task;
	struct user_struct	*user;
	bool			account_user;
	struct xarray		pins;
	struct xarray		pin_gfns;
	unsigned long		nr_pins;
	struct gfn_to_hva_cache	read_cache[S390_KVM_READ_CACHE];
	unsigned int		read_next;
	unsigned int		read_last;
	u64			read_gen;
	refcount_t		users;
	struct hlist_node	hnode;
	bool			hashed;
	bool			was_hashed;
	struct mutex		lock;	/* see @lock above */
	struct zpci_dev		*zdev;
	bool			pending;
	u64			pending_start;
	u64			pending_end;
	bool			quarantined;
	u64			resume_iova;
	u64			resume_len;
	u64			resume_next;
	bool			resume_nomem;
	u64			pba;
	u64			pal;
	struct s390_shadow	shadow;
#ifdef CONFIG_S390_KVM_IOMMU_DEBUGFS
	struct dentry		*dbg;
	u64			dbg_start;
	u64			dbg_last;
#endif
	/* last: large, keeps the fields above within short displacements */
	union {
		struct s390_kvm_pin	*pin_hot[S390_KVM_PIN_HOT];
		struct s390_kvm_parent_hot parent_hot[S390_KVM_PIN_HOT];
	};
};

/* RPCIT condition codes (asm/pci_insn.h names them only from 6.12.115 on) */
#define S390_KVM_RPCIT_CC_OK	0
#define S390_KVM_RPCIT_CC_ERR	1
#define S390_KVM_RPCIT_CC_BUSY	2

/*
 * Work bound of one RPCIT: guest table entries examined per engine call
 * (between two checks for a fatal signal), and per instruction. A refresh
 * that reaches the bound answers busy (cc 2); the guest retries the same
 * RPCIT, which resumes where the last one stopped. 2^15 entries cover the
 * page tables of 128 MiB of IOVA per instruction.
 */
#define S390_KVM_RPCIT_CHUNK_VISIT	BIT(12)
#define S390_KVM_RPCIT_MAX_VISIT	BIT(15)

/* Events and totals shown in debugfs (summary) for tests */
static atomic_long_t s390_kvm_iommu_nr_domains;
static atomic_long_t s390_kvm_iommu_nr_attached;
static atomic_long_t s390_kvm_iommu_nr_pins;
static atomic_long_t s390_kvm_iommu_nr_tables;
static atomic_long_t s390_kvm_iommu_nr_pending;
static atomic_long_t s390_kvm_iommu_host_rpcit_failures;
static atomic_long_t s390_kvm_iommu_to_vmm;
static atomic_long_t s390_kvm_iommu_busy;

/*
 * Fault injection (CONFIG_FAULT_INJECTION): a pin fails with -ENOMEM, a host
 * RPCIT fails as if the firmware answered cc 1 with host_rpcit_fail_status
 * (16: insufficient resources, otherwise an error). Both take part in the
 * per-task fail-nth walk.
 */
static DECLARE_FAULT_ATTR(s390_kvm_iommu_fail_pin);
static DECLARE_FAULT_ATTR(s390_kvm_iommu_fail_host_rpcit);
static u32 s390_kvm_iommu_host_rpcit_fail_status = ZPCI_PCI_ST_INSUF_RES;

/* (kvm, guest fh) -> attached domain; lookups under RCU, updates under the mutex */
static DEFINE_HASHTABLE(s390_kvm_iommu_table, 6);
static DEFINE_MUTEX(s390_kvm_iommu_table_lock);

/* every domain, for memslot changes; under s390_kvm_iommu_list_lock */
static LIST_HEAD(s390_kvm_iommu_list);
static DEFINE_MUTEX(s390_kvm_iommu_list_lock);

/* kvm.ko's services while it is loaded; under s390_kvm_iommu_ops_lock */
static const struct s390_kvm_iommu_kvm_ops *s390_kvm_iommu_kvm_ops;
static DEFINE_MUTEX(s390_kvm_iommu_ops_lock);

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
 * (IOPT_PAGES_ACCOUNT_USER): against the allocating process's
 * RLIMIT_MEMLOCK in its user's locked_vm unless it had CAP_IPC_LOCK, and
 * always in the VMM's pinned_vm.
 */
static int s390_kvm_iommu_charge(struct s390_kvm_iommu_domain *kdom,
				 unsigned long npages)
{
	unsigned long limit, cur, new;

	if (kdom->account_user) {
		limit = task_rlimit(kdom->source_task, RLIMIT_MEMLOCK) >>
			PAGE_SHIFT;
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
 * Shadow engine services (s390-kvm-shadow.h). They run with kdom->lock
 * held, in the VMM's context (a vCPU thread or the thread issuing
 * IOMMU_HWPT_INVALIDATE, both holding kvm->srcu), so current->mm is the
 * VM's mm.
 */

/**
 * s390_shadow_read_guest() - Read guest table entries for the shadow engine
 * @priv: the domain
 * @gpa: guest-physical address of the first byte
 * @buf: destination
 * @len: bytes to read
 *
 * Reads through KVM's gfn-to-hva caches: the last guest table pages read
 * keep their HVA, revalidated against the memslot generation on every use,
 * so a walk down the three table levels does not search the memslots.
 *
 * Context: kdom->lock and kvm->srcu held. May sleep (page fault).
 * Return: 0, or -EFAULT when a byte is not backed by guest RAM.
 */
int s390_shadow_read_guest(void *priv, u64 gpa, void *buf, size_t len)
{
	struct s390_kvm_iommu_domain *kdom = priv;
	u64 page = gpa & PAGE_MASK;
	unsigned int i, k = kdom->read_last;
	struct gfn_to_hva_cache *ghc;

	/* a walk reads its levels in turn: start after the last one used */
	for (i = 0; i < S390_KVM_READ_CACHE; i++) {
		k = (k + 1) % S390_KVM_READ_CACHE;
		ghc = &kdom->read_cache[k];
		if (!ghc->len || ghc->gpa != page)
			continue;
		kdom->read_last = k;
		/*
		 * kvm_read_guest_offset_cached()'s own fast path: a one-page
		 * cache of the memslot generation this refresh runs under
		 * needs no call.
		 */
		if (ghc->generation == kdom->read_gen &&
		    ghc->memslot && !kvm_is_error_hva(ghc->hva) &&
		    offset_in_page(gpa) + len <= PAGE_SIZE)
			return __copy_from_user(buf, (void __user *)ghc->hva +
						offset_in_page(gpa), len) ?
			       -EFAULT : 0;
		goto read;
	}
	kdom->read_last = kdom->read_next++ % S390_KVM_READ_CACHE;
	ghc = &kdom->read_cache[kdom->read_last];
	ghc->len = 0;
read:
	return kdom->kvm_ops->read_guest_cached(kdom->kvm, ghc, gpa, buf, len) ?
	       -EFAULT : 0;
}

/*
 * Pinned parent: the parent's translation, no pin and no charge. Recent
 * translations are kept: the parent's pins stay until
 * s390_kvm_iommu_parent_unmapped() has dropped them.
 */
static int s390_kvm_iommu_pin_parent(struct s390_kvm_iommu_domain *kdom,
				     u64 gpa, bool write, u64 *hpa)
{
	unsigned long gfn = gpa >> PAGE_SHIFT;
	struct s390_kvm_parent_hot *hot;
	phys_addr_t phys;
	bool writable;

	hot = &kdom->parent_hot[gfn % S390_KVM_PIN_HOT];
	if (hot->gfn == gfn) {
		if (write && !hot->writable)
			return -EFAULT;
		*hpa = hot->hpa;
		return 0;
	}
	if (s390_iommu_parent_translate(kdom->parent, gpa & PAGE_MASK, &phys,
					&writable) ||
	    (write && !writable))
		return -EFAULT;
	hot->gfn = gfn;
	hot->hpa = phys;
	hot->writable = writable;
	*hpa = phys;
	return 0;
}

/* @pin no longer belongs to its guest frame: out of the hot slot too */
static void s390_kvm_iommu_pin_ungfn(struct s390_kvm_iommu_domain *kdom,
				     struct s390_kvm_pin *pin)
{
	struct s390_kvm_pin **slot;

	if (pin->gfn == S390_KVM_NO_GFN)
		return;
	slot = &kdom->pin_hot[pin->gfn % S390_KVM_PIN_HOT];
	if (*slot == pin)
		*slot = NULL;
	pin->gfn = S390_KVM_NO_GFN;
}

/* A new pin: tracked by its frame and, if possible, by its guest frame */
static int s390_kvm_iommu_pin_track(struct s390_kvm_iommu_domain *kdom,
				    unsigned long gfn, struct page *page,
				    bool write)
{
	struct s390_kvm_pin *pin, *old;
	int rc;

	rc = s390_kvm_iommu_charge(kdom, 1);
	if (rc)
		return rc;
	pin = kzalloc(sizeof(*pin), GFP_KERNEL_ACCOUNT);
	if (!pin)
		goto out_uncharge;
	pin->pfn = page_to_pfn(page);
	pin->gfn = gfn;
	pin->refs = 1;
	pin->writable = write;
	if (xa_err(xa_store(&kdom->pins, pin->pfn, pin, GFP_KERNEL_ACCOUNT)))
		goto out_free;
	/*
	 * The guest frame now finds this pin; one pinned earlier through it
	 * (read-only, before a write pin copied the page) keeps only its
	 * frame entry. Without the guest frame entry, the next map of the
	 * guest frame pins again: slower, still safe.
	 */
	old = xa_store(&kdom->pin_gfns, gfn, pin, GFP_KERNEL_ACCOUNT);
	if (xa_is_err(old))
		pin->gfn = S390_KVM_NO_GFN;
	else if (old)
		s390_kvm_iommu_pin_ungfn(kdom, old);
	kdom->nr_pins++;
	atomic_long_inc(&s390_kvm_iommu_nr_pins);
	atomic64_inc(&kdom->kvm->stat.rpcit_pinned_pages);
	return 0;

out_free:
	kfree(pin);
out_uncharge:
	s390_kvm_iommu_uncharge(kdom, 1);
	return -ENOMEM;
}

/**
 * s390_shadow_pin_frame() - Pin a guest frame for a new shadow PTE
 * @priv: the domain
 * @gpa: guest-physical address in the frame (bytes)
 * @write: the shadow PTE lets the device write the frame
 * @hpa: the host-physical address of the frame, on success
 *
 * On demand: a guest frame this domain pinned already gains a reference and
 * costs a lookup. Otherwise the frame is pinned through the VM's memslots
 * (FOLL_LONGTERM, only memslot-backed guest RAM, never MMIO or the VMM's own
 * memory) and charged once, however many IOVAs map it. The pinned page
 * stays what the guest frame maps for the device until its last shadow PTE
 * goes, as with any pinned DMA mapping; a memslot that is deleted or moved
 * drops the guest frames (s390_kvm_iommu_flush_gpa()). Pinned parent: the
 * parent's translation, no pin.
 *
 * Context: kdom->lock and kvm->srcu held. May sleep.
 * Return: 0; -EFAULT when @gpa is not guest RAM (or not writable for
 * @write); -ENOMEM when the memlock limit or memory is exhausted; -EBUSY
 * for a transient failure (the page is being migrated: the guest retries).
 */
int s390_shadow_pin_frame(void *priv, u64 gpa, bool write, u64 *hpa)
{
	unsigned int gup_flags = FOLL_LONGTERM | (write ? FOLL_WRITE : 0);
	struct s390_kvm_iommu_domain *kdom = priv;
	unsigned long gfn = gpa >> PAGE_SHIFT, hva, pfn;
	struct s390_kvm_pin *pin;
	struct page *page;
	bool writable;
	int rc;

	if (kdom->pinned_parent)
		return s390_kvm_iommu_pin_parent(kdom, gpa, write, hpa);

	pin = kdom->pin_hot[gfn % S390_KVM_PIN_HOT];
	if (!pin || pin->gfn != gfn) {
		pin = xa_load(&kdom->pin_gfns, gfn);
		if (pin)
			kdom->pin_hot[gfn % S390_KVM_PIN_HOT] = pin;
	}
	if (pin && (pin->writable || !write)) {
		pin->refs++;
		*hpa = PFN_PHYS(pin->pfn);
		return 0;
	}

	hva = kdom->kvm_ops->gpa_to_hva(kdom->kvm, gpa & PAGE_MASK, &writable);
	if (kvm_is_error_hva(hva) || (write && !writable)) {
		rc = -EFAULT;
		goto out_fail;
	}
	if (should_fail(&s390_kvm_iommu_fail_pin, 1)) {
		rc = -ENOMEM;
		goto out_fail;
	}

	rc = pin_user_pages_fast(hva, 1, gup_flags, &page);
	if (rc != 1) {
		/* transient (migration of the page, retry): the guest retries */
		if (rc == -EAGAIN || rc == -EBUSY)
			rc = -EBUSY;
		else
			rc = rc == -ENOMEM ? -ENOMEM : -EFAULT;
		goto out_fail;
	}
	pfn = page_to_pfn(page);
	*hpa = PFN_PHYS(pfn);

	pin = xa_load(&kdom->pins, pfn);
	if (pin) {
		/* pinned already, through another guest frame or read-only */
		unpin_user_page(page);
		pin->refs++;
		pin->writable |= write;
		return 0;
	}
	rc = s390_kvm_iommu_pin_track(kdom, gfn, page, write);
	if (!rc)
		return 0;
	unpin_user_page(page);
out_fail:
	trace_s390_kvm_iommu_pin_fail(kdom->fh, gpa, write, rc);
	return rc;
}

/**
 * s390_shadow_unpin_frame() - A shadow PTE's frame is released
 * @priv: the domain
 * @hpa: the host-physical address s390_shadow_pin_frame() returned
 * @dirty: the device could write the frame through the PTE
 *
 * Drops the PTE's reference; the last one unpins (dirtying the page if any
 * PTE was writable) and uncharges. Called only once the host RPCIT that
 * made the device forget the PTE succeeded.
 *
 * Context: kdom->lock held. May sleep.
 */
void s390_shadow_unpin_frame(void *priv, u64 hpa, bool dirty)
{
	struct s390_kvm_iommu_domain *kdom = priv;
	struct s390_kvm_pin *pin;
	struct page *page;

	if (kdom->pinned_parent)
		return;
	pin = xa_load(&kdom->pins, PHYS_PFN(hpa));
	if (WARN_ON_ONCE(!pin))
		return;
	pin->dirty |= dirty;
	if (--pin->refs)
		return;
	xa_erase(&kdom->pins, pin->pfn);
	if (pin->gfn != S390_KVM_NO_GFN)
		xa_cmpxchg(&kdom->pin_gfns, pin->gfn, pin, NULL, 0);
	s390_kvm_iommu_pin_ungfn(kdom, pin);
	kdom->nr_pins--;
	atomic_long_dec(&s390_kvm_iommu_nr_pins);
	atomic64_dec(&kdom->kvm->stat.rpcit_pinned_pages);
	page = pfn_to_page(pin->pfn);
	unpin_user_pages_dirty_lock(&page, 1, pin->dirty);
	s390_kvm_iommu_uncharge(kdom, 1);
	kfree(pin);
}

/*
 * Guest frames [first, last] left the VM or the parent: new shadow PTEs of
 * these guest frames must not find the old pins (which stay, by page
 * frame, until their last PTE is released) or parent translations.
 */
static void s390_kvm_iommu_forget_gfns(struct s390_kvm_iommu_domain *kdom,
				       u64 first, u64 last)
{
	struct s390_kvm_pin *pin;
	unsigned long gfn;
	unsigned int i;

	if (kdom->pinned_parent) {
		for (i = 0; i < S390_KVM_PIN_HOT; i++) {
			gfn = kdom->parent_hot[i].gfn;
			if (gfn >= first >> PAGE_SHIFT &&
			    gfn <= last >> PAGE_SHIFT)
				kdom->parent_hot[i].gfn = S390_KVM_NO_GFN;
		}
		return;
	}
	xa_for_each_range(&kdom->pin_gfns, gfn, pin, first >> PAGE_SHIFT,
			  last >> PAGE_SHIFT) {
		xa_erase(&kdom->pin_gfns, gfn);
		s390_kvm_iommu_pin_ungfn(kdom, pin);
	}
}

/**
 * s390_shadow_alloc_table() - Allocate a shadow region or segment table
 * @priv: the domain
 *
 * Context: may sleep.
 * Return: a 16 KiB table, 16 KiB aligned as the hardware requires
 * (contents undefined), or NULL.
 */
u64 *s390_shadow_alloc_table(void *priv)
{
	/* order 2: 16 KiB, naturally aligned as region/segment tables must be */
	u64 *table = (u64 *)__get_free_pages(GFP_KERNEL_ACCOUNT, 2);

	if (table)
		atomic_long_inc(&s390_kvm_iommu_nr_tables);
	return table;
}

/**
 * s390_shadow_free_table() - Free a table from s390_shadow_alloc_table()
 * @priv: the domain
 * @table: the table
 *
 * Context: any context that may free pages.
 */
void s390_shadow_free_table(void *priv, u64 *table)
{
	atomic_long_dec(&s390_kvm_iommu_nr_tables);
	free_pages((unsigned long)table, 2);
}

/**
 * s390_shadow_alloc_pt() - Allocate a shadow page table
 * @priv: the domain
 *
 * Context: may sleep.
 * Return: a 4 KiB page (first 2 KiB: the hardware page table, second:
 * the engine's bookkeeping), or NULL.
 */
u64 *s390_shadow_alloc_pt(void *priv)
{
	u64 *pt = (u64 *)__get_free_page(GFP_KERNEL_ACCOUNT);

	if (pt)
		atomic_long_inc(&s390_kvm_iommu_nr_tables);
	return pt;
}

/**
 * s390_shadow_free_pt() - Free a table from s390_shadow_alloc_pt()
 * @priv: the domain
 * @pt: the page table
 *
 * Context: any context that may free pages.
 */
void s390_shadow_free_pt(void *priv, u64 *pt)
{
	atomic_long_dec(&s390_kvm_iommu_nr_tables);
	free_page((unsigned long)pt);
}

static void s390_kvm_iommu_set_pending(struct s390_kvm_iommu_domain *kdom,
				       bool pending, u64 start, u64 last)
{
	if (pending != kdom->pending)
		atomic_long_add(pending ? 1 : -1, &s390_kvm_iommu_nr_pending);
	kdom->pending = pending;
	kdom->pending_start = start;
	kdom->pending_end = last;
}

/*
 * Issue a host RPCIT for [start, last] of the attached function: 0,
 * -ENOMEM (status 16) or -EIO. A failure is counted and leaves the range
 * pending, to be issued again with the next host RPCIT.
 */
static int s390_kvm_iommu_host_rpcit(struct s390_kvm_iommu_domain *kdom,
				     u64 start, u64 last)
{
	struct zpci_dev *zdev = kdom->zdev;
	int rc;

	if (should_fail(&s390_kvm_iommu_fail_host_rpcit, 1))
		rc = s390_kvm_iommu_host_rpcit_fail_status ==
		     ZPCI_PCI_ST_INSUF_RES ? -ENOMEM : -EIO;
	else
		rc = zpci_refresh_trans((u64)zdev->fh << 32, start,
					last - start + 1);
	if (rc) {
		atomic_long_inc(&s390_kvm_iommu_host_rpcit_failures);
		trace_s390_kvm_iommu_host_rpcit_fail(zdev->fh, start, last, rc);
		s390_kvm_iommu_set_pending(kdom, true, start, last);
	}
	return rc;
}

/*
 * Make the hardware forget what the last engine call changed, then release
 * what that call unpinned or freed. A removed or changed entry always needs
 * the host RPCIT; entries that only became valid need it only when the
 * function requires refresh (zdev->tlb_refresh), as in s390-iommu's
 * iotlb_sync_map. One host RPCIT covers the whole changed range together
 * with the range of an earlier host RPCIT that failed, clamped to the
 * function's DMA aperture (nothing outside it is ever mapped, and the
 * firmware rejects a range past end_dma).
 *
 * Nothing is released unless the host RPCIT succeeded: after a failure the
 * unpins and table frees stay queued and the range pending, until a later
 * host RPCIT covering it succeeds or the IOAT is deregistered. A domain
 * that is not attached has no IOAT, so the device cannot reach the shadow.
 */
static int s390_kvm_iommu_sync(struct s390_kvm_iommu_domain *kdom,
			       struct s390_shadow_result *res)
{
	struct zpci_dev *zdev = kdom->zdev;
	struct zpci_iommu_ctrs *ctrs;
	unsigned long released;
	bool need;
	u64 start, last;
	int rc;

	/* an unchanged range: nothing to count, issue or release */
	if (!res->changed && !kdom->pending && !kdom->quarantined &&
	    !kdom->shadow.nr_gather)
		return 0;
	ctrs = kdom->ctrs;
	if (res->pinned)
		atomic64_add(res->pinned, &ctrs->mapped_pages);
	if (kdom->quarantined)
		return zdev ? -EIO : 0;
	if (!zdev)
		goto release;
	need = res->changed && (res->removed || zdev->tlb_refresh);
	if (!need && !kdom->pending)
		goto release;
	start = need ? res->start : kdom->pending_start;
	last = need ? res->end : kdom->pending_end;
	if (kdom->pending) {
		start = min(start, kdom->pending_start);
		last = max(last, kdom->pending_end);
	}
	start = max_t(u64, start, zdev->start_dma);
	last = min_t(u64, last, zdev->end_dma);
	if (start > last) {
		s390_kvm_iommu_set_pending(kdom, false, 0, 0);
		goto release;
	}
	atomic64_inc(res->removed ? &ctrs->sync_rpcits : &ctrs->sync_map_rpcits);
	rc = s390_kvm_iommu_host_rpcit(kdom, start, last);
	if (rc)
		return rc;
	if (kdom->pending)
		s390_kvm_iommu_set_pending(kdom, false, 0, 0);
release:
	released = s390_shadow_release(&kdom->shadow);
	if (released)
		atomic64_add(released, &ctrs->unmapped_pages);
	return 0;
}

/*
 * The RPCIT answer for the result of a refresh: cc 0; cc 1 status 16 for
 * insufficient resources (pin limit, memory, or the host RPCIT's status
 * 16); cc 2 (busy) at the work bound or for a transient pin failure;
 * -EINTR for a fatal signal. Every other outcome is one the architecture
 * answers with cc 1 status 8 and the function in the error state:
 * -EOPNOTSUPP, for the VMM to decide.
 */
static int s390_kvm_iommu_cc(int rc, u8 *status)
{
	*status = 0;
	switch (rc) {
	case 0:
		return S390_KVM_RPCIT_CC_OK;
	case -ENOMEM:
		*status = ZPCI_PCI_ST_INSUF_RES;
		return S390_KVM_RPCIT_CC_ERR;
	case -EBUSY:
		atomic_long_inc(&s390_kvm_iommu_busy);
		return S390_KVM_RPCIT_CC_BUSY;
	case -EINTR:
		return -EINTR;
	default:
		return -EOPNOTSUPP;
	}
}

/* A guest aperture [pba, pal] must lie within the function's DMA aperture */
static bool s390_kvm_iommu_aperture_ok(struct zpci_dev *zdev, u64 pba, u64 pal)
{
	return pba <= pal && pba >= zdev->start_dma && pal <= zdev->end_dma;
}

/*
 * Walk [cur, last] in engine calls of bounded work, syncing after each;
 * *@visited accumulates the guest entries examined, *@released the shadow
 * PTEs whose release the host RPCIT confirmed; *@nomem is set when a pin
 * or allocation ran out of resources. Returns the first
 * engine or host error, -EAGAIN with *@next set at the work bound, or
 * -EINTR for a fatal signal.
 */
static int s390_kvm_iommu_walk(struct s390_kvm_iommu_domain *kdom, u64 cur,
			       u64 last, u64 *next, unsigned long *visited,
			       unsigned long *released, bool *nomem)
{
	struct s390_shadow_result res;
	int rc, hrc;

	for (;;) {
		rc = s390_shadow_refresh(&kdom->shadow, cur, last - cur + 1,
					 &res);
		hrc = s390_kvm_iommu_sync(kdom, &res);
		*visited += res.visited;
		if (!hrc)
			*released += res.unpinned;
		if (res.nomem)
			*nomem = true;
		if (rc != -EAGAIN)
			break;
		if (hrc) {
			rc = hrc;
			break;
		}
		cur = res.next;
		*next = cur;
		if (fatal_signal_pending(current))
			return -EINTR;
		if (*visited >= S390_KVM_RPCIT_MAX_VISIT)
			return -EAGAIN;
		cond_resched();
	}
	if (rc == -EBUSY)
		*next = res.next;
	if (!rc && *nomem)
		rc = -ENOMEM;
	/* a table error takes precedence over the host's answer */
	return rc ?: hrc;
}

/*
 * Refresh [iova, iova + len) with kdom->lock held: the RPCIT semantics.
 * A retry of an RPCIT that answered busy resumes where it stopped. When
 * resources ran out but the walk released translations (a global refresh
 * finding lazily unmapped entries), the range is walked once more with the
 * released pins uncharged, as the guest expects from its global refresh.
 */
static int s390_kvm_iommu_refresh(struct s390_kvm_iommu_domain *kdom,
				  u64 iova, u64 len, u8 *status)
{
	u64 last = iova + len - 1, cur = iova, next = iova;
	unsigned long visited = 0, released = 0;
	bool nomem = false;
	int rc;

	lockdep_assert_held(&kdom->lock);

	if (!len)
		return s390_kvm_iommu_cc(0, status);
	/* The whole range must lie in [pba, pal] of the registered IOAT */
	if (last < iova || iova < kdom->pba || last > kdom->pal)
		return s390_kvm_iommu_cc(-EINVAL, status);

	kdom->read_gen = kvm_memslots(kdom->kvm)->generation;
	if (kdom->resume_len && kdom->resume_iova == iova &&
	    kdom->resume_len == len) {
		cur = kdom->resume_next;
		nomem = kdom->resume_nomem;
	}
	kdom->resume_len = 0;

	rc = s390_kvm_iommu_walk(kdom, cur, last, &next, &visited, &released,
				 &nomem);
	if (rc == -ENOMEM && released && visited < S390_KVM_RPCIT_MAX_VISIT) {
		released = 0;
		nomem = false;
		rc = s390_kvm_iommu_walk(kdom, iova, last, &next, &visited,
					 &released, &nomem);
	}

	if (rc == -EAGAIN || rc == -EBUSY) {
		kdom->resume_iova = iova;
		kdom->resume_len = len;
		kdom->resume_next = next;
		kdom->resume_nomem = nomem;
		rc = -EBUSY;
	}
	return s390_kvm_iommu_cc(rc, status);
}

/*
 * Remove every shadow entry built from a guest frame in [first, last]:
 * host RPCIT first, then the release, in rounds as the engine asks.
 */
static void s390_kvm_iommu_unmap_gpa(struct s390_kvm_iommu_domain *kdom,
				     u64 first, u64 last)
{
	struct s390_shadow_result res;
	int rc;

	lockdep_assert_held(&kdom->lock);

	do {
		rc = s390_shadow_unmap_gpa(&kdom->shadow, first, last, &res);
		/* a failed host RPCIT keeps the rest queued: no progress */
		if (s390_kvm_iommu_sync(kdom, &res))
			break;
	} while (rc == -EAGAIN);
	s390_kvm_iommu_forget_gfns(kdom, first, last);
}

/**
 * s390_kvm_iommu_parent_unmapped() - A range left a KVM domain's parent
 * @link: the nested domain's entry in the parent's list
 * @first: first IOVA of the parent (guest-physical address, bytes)
 * @last: last IOVA of the parent (bytes, inclusive)
 *
 * Called by s390-iommu.c after it invalidated the parent's entries for the
 * range and before the caller (iommufd) unpins the pages. In pinned-parent
 * mode every shadow entry translated through the range is removed and the
 * host RPCIT issued before this returns, so the device can never reach a
 * page that is about to be unpinned; the guest's next refresh of such an
 * IOVA answers cc 1 status 8. On-demand domains do not use the parent.
 *
 * Context: process context, the parent's nested-domain mutex held. May
 * sleep.
 */
void s390_kvm_iommu_parent_unmapped(struct list_head *link, u64 first,
				    u64 last)
{
	struct s390_kvm_iommu_domain *kdom =
		container_of(link, struct s390_kvm_iommu_domain, parent_link);

	if (!kdom->pinned_parent)
		return;
	mutex_lock(&kdom->lock);
	s390_kvm_iommu_unmap_gpa(kdom, first, last);
	mutex_unlock(&kdom->lock);
}

/**
 * s390_kvm_iommu_flush_gpa() - Guest memory left a VM: drop its translations
 * @kvm: the VM
 * @gpa: first guest-physical address of the memory (bytes)
 * @size: size of the memory (bytes)
 *
 * For a memslot that is deleted or moved (kvm_arch_flush_shadow_memslot):
 * every on-demand domain of @kvm removes the shadow entries built from
 * frames in the range, issues the host RPCIT and then unpins them. The slot
 * is already invalid, so no refresh can pin from it again; the guest's next
 * refresh of such an IOVA answers cc 1 status 8.
 *
 * Context: process context, kvm->slots_lock held, kvm->srcu not held. May
 * sleep.
 */
void s390_kvm_iommu_flush_gpa(struct kvm *kvm, u64 gpa, u64 size)
{
	struct s390_kvm_iommu_domain *kdom;

	if (!size)
		return;
	mutex_lock(&s390_kvm_iommu_list_lock);
	list_for_each_entry(kdom, &s390_kvm_iommu_list, node) {
		if (kdom->kvm != kvm || kdom->pinned_parent)
			continue;
		mutex_lock(&kdom->lock);
		s390_kvm_iommu_unmap_gpa(kdom, gpa, gpa + size - 1);
		mutex_unlock(&kdom->lock);
	}
	mutex_unlock(&s390_kvm_iommu_list_lock);
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_flush_gpa);

/**
 * s390_kvm_iommu_get() - Find the attached KVM domain serving an fh
 * @kvm: the VM whose vCPU executed RPCIT
 * @fh: the function handle from the RPCIT's r1
 *
 * Context: any context that may use RCU; does not sleep.
 * Return: the domain with a reference held (release it with
 * s390_kvm_iommu_put()), or NULL when no attached domain of @kvm serves
 * @fh, in which case the instruction is left to userspace exactly as
 * without this driver.
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
	const struct s390_kvm_iommu_kvm_ops *kvm_ops = kdom->kvm_ops;

	WARN_ON(kdom->zdev);
	s390_iommu_domain_free_shadow(kdom->domain);
	/* a quarantined shadow may still be walked: it stays, with its pins */
	if (!kdom->quarantined) {
		s390_shadow_destroy(&kdom->shadow);
		WARN_ON(kdom->nr_pins);
		xa_destroy(&kdom->pins);
		xa_destroy(&kdom->pin_gfns);
	}
	atomic_long_dec(&s390_kvm_iommu_nr_domains);
	kvm_ops->put_kvm(kdom->kvm);
	put_task_struct(kdom->source_task);
	free_uid(kdom->user);
	mutex_destroy(&kdom->lock);
	kfree_rcu(kdom, rcu);
	/* last: kvm.ko may go once no domain needs its services */
	module_put(kvm_ops->owner);
}

/**
 * s390_kvm_iommu_put() - Drop a reference from s390_kvm_iommu_get()
 * @kdom: the domain
 *
 * The last reference unpins every guest page, frees the shadow and drops
 * the VM and kvm.ko references.
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
 * Implements Refresh PCI Translations for a function attached to a KVM
 * domain: walks the guest tables for the range through the VM's memslots,
 * maps newly valid guest frames (pinned on demand, or translated through
 * the pinned parent), updates the shadow and issues the host RPCIT. The
 * range must lie within [pba, pal] of the guest's registered IOAT. The
 * caller has done the instruction's program-exception checks.
 *
 * Only answers that leave the function's state alone are given here. What
 * the architecture answers with cc 1 status 8 and the function in the error
 * state (with a PCI error event), the guest-visible state the VMM owns, is
 * left to the VMM, which repeats the refresh with IOMMU_HWPT_INVALIDATE to
 * learn the answer.
 *
 * Context: process context of a vCPU thread, kvm->srcu read lock held.
 * May sleep.
 * Return: the condition code: 0 (done; also for a zero length), 1 with
 * @status 16 (insufficient resources: memlock limit, memory, or the host
 * RPCIT's status 16; invalidations in the range were still processed, a
 * later refresh recovers) or 2 (busy: the work bound of one instruction was
 * reached or a pin failed transiently; the guest retries and the retry
 * resumes); -ENOENT when the domain is not attached to its function and
 * -EOPNOTSUPP for an error answer (range outside [pba, pal], a guest
 * translation table error, a guest frame that is not guest RAM or not
 * mapped by the parent, a failed host RPCIT): the VMM handles the
 * instruction; -EINTR on a fatal signal.
 */
int s390_kvm_iommu_rpcit(struct s390_kvm_iommu_domain *kdom, u64 iova,
			 u64 len, u8 *status)
{
	int cc = -ENOENT;

	if (mutex_lock_killable(&kdom->lock))
		return -EINTR;
	if (kdom->zdev)
		cc = s390_kvm_iommu_refresh(kdom, iova, len, status);
	mutex_unlock(&kdom->lock);
	if (cc == -EOPNOTSUPP)
		atomic_long_inc(&s390_kvm_iommu_to_vmm);
	return cc;
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_rpcit);

#ifdef CONFIG_S390_KVM_IOMMU_DEBUGFS
/*
 * Test-only view of the shadow, for checking it against the guest tables:
 * /sys/kernel/debug/s390-kvm-iommu/<VMM tgid>-<fh> while the domain is
 * attached. Writing "<start> <last>" (hex IOVAs) selects a range; reading
 * gives "pinned <frames> entries <PTEs>", then one "<iova> <hpa> ro|rw" line
 * per valid shadow PTE in the range. Nothing in the RPCIT path depends on it.
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
	seq_printf(m, "pinned %lu entries %lu\n", kdom->nr_pins,
		   kdom->shadow.nr_pinned);
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

	snprintf(name, sizeof(name), "%d-%08x", task_tgid_nr(kdom->source_task),
		 kdom->fh);
	kdom->dbg_last = U64_MAX;
	kdom->dbg = debugfs_create_file(name, 0600, s390_kvm_iommu_dbg_root,
					kdom, &s390_kvm_iommu_dbg_fops);
}

static void s390_kvm_iommu_dbg_remove(struct s390_kvm_iommu_domain *kdom)
{
	/* waits for readers still inside the file's operations */
	debugfs_remove(kdom->dbg);
	kdom->dbg = NULL;
}

/*
 * "summary": one line of totals over all domains, for tests that check that
 * everything came back to its baseline
 */
static int s390_kvm_iommu_dbg_summary_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "domains %ld attached %ld pins %ld tables %ld ",
		   atomic_long_read(&s390_kvm_iommu_nr_domains),
		   atomic_long_read(&s390_kvm_iommu_nr_attached),
		   atomic_long_read(&s390_kvm_iommu_nr_pins),
		   atomic_long_read(&s390_kvm_iommu_nr_tables));
	seq_printf(m, "host_rpcit_failures %ld pending %ld to_vmm %ld busy %ld\n",
		   atomic_long_read(&s390_kvm_iommu_host_rpcit_failures),
		   atomic_long_read(&s390_kvm_iommu_nr_pending),
		   atomic_long_read(&s390_kvm_iommu_to_vmm),
		   atomic_long_read(&s390_kvm_iommu_busy));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(s390_kvm_iommu_dbg_summary);

static int __init s390_kvm_iommu_dbg_init(void)
{
	s390_kvm_iommu_dbg_root = debugfs_create_dir(KMSG_COMPONENT, NULL);
	debugfs_create_file("summary", 0400, s390_kvm_iommu_dbg_root, NULL,
			    &s390_kvm_iommu_dbg_summary_fops);
	debugfs_create_u32("host_rpcit_fail_status", 0600,
			   s390_kvm_iommu_dbg_root,
			   &s390_kvm_iommu_host_rpcit_fail_status);
	return 0;
}
late_initcall(s390_kvm_iommu_dbg_init);
#else
static void s390_kvm_iommu_dbg_add(struct s390_kvm_iommu_domain *kdom) {}
static void s390_kvm_iommu_dbg_remove(struct s390_kvm_iommu_domain *kdom) {}
#endif

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
static int __init s390_kvm_iommu_fault_init(void)
{
	fault_create_debugfs_attr("fail_s390_kvm_pin", NULL,
				  &s390_kvm_iommu_fail_pin);
	fault_create_debugfs_attr("fail_s390_kvm_host_rpcit", NULL,
				  &s390_kvm_iommu_fail_host_rpcit);
	return 0;
}
late_initcall(s390_kvm_iommu_fault_init);
#endif

/* Leave the (kvm, fh) table; lookups already under RCU may still finish */
static void s390_kvm_iommu_unhash(struct s390_kvm_iommu_domain *kdom)
{
	mutex_lock(&s390_kvm_iommu_table_lock);
	if (kdom->hashed) {
		hash_del_rcu(&kdom->hnode);
		kdom->hashed = false;
		kdom->was_hashed = true;
	}
	mutex_unlock(&s390_kvm_iommu_table_lock);
}

/* Another device's domain serves @kdom's fh of @kdom's VM; table lock held */
static bool s390_kvm_iommu_fh_taken(struct s390_kvm_iommu_domain *kdom)
{
	u32 key = s390_kvm_iommu_key(kdom->kvm, kdom->fh);
	struct s390_kvm_iommu_domain *other;

	lockdep_assert_held(&s390_kvm_iommu_table_lock);
	hash_for_each_possible(s390_kvm_iommu_table, other, hnode, key) {
		if (other != kdom && other->kvm == kdom->kvm &&
		    other->fh == kdom->fh && other->dev != kdom->dev)
			return true;
	}
	return false;
}

/*
 * Enter the (kvm, fh) table once attached. A domain of the same device that
 * was replaced left it when it was detached; should another device's domain
 * have taken the fh meanwhile, this one leaves the fh's RPCITs to userspace.
 */
static void s390_kvm_iommu_hash(struct s390_kvm_iommu_domain *kdom)
{
	mutex_lock(&s390_kvm_iommu_table_lock);
	if (kdom->hashed || s390_kvm_iommu_fh_taken(kdom))
		goto out;
	/* an RCU reader may still walk a chain through the old node */
	if (kdom->was_hashed)
		synchronize_rcu();
	hash_add_rcu(s390_kvm_iommu_table, &kdom->hnode,
		     s390_kvm_iommu_key(kdom->kvm, kdom->fh));
	kdom->hashed = true;
out:
	mutex_unlock(&s390_kvm_iommu_table_lock);
}

static int s390_kvm_iommu_span(void *arg, u64 iova, u64 hpa, bool prot)
{
	u64 *span = arg;

	span[0] = min(span[0], iova);
	span[1] = max(span[1], iova + PAGE_SIZE - 1);
	return 0;
}

/*
 * A function that requires refresh (zdev->tlb_refresh) uses only the
 * translations a host RPCIT announced since its IOAT was registered: after
 * attaching a domain whose shadow kept translations (re-attach, failed
 * replace), announce them with one host RPCIT over their span.
 */
static void s390_kvm_iommu_announce(struct s390_kvm_iommu_domain *kdom)
{
	struct zpci_dev *zdev = kdom->zdev;
	u64 span[2] = { U64_MAX, 0 };

	lockdep_assert_held(&kdom->lock);

	if (!zdev->tlb_refresh || !kdom->shadow.nr_pinned)
		return;
	s390_shadow_for_each(&kdom->shadow, 0, U64_MAX, s390_kvm_iommu_span,
			     span);
	if (span[0] > span[1])
		return;
	/* a failure leaves the span pending: the next refresh re-issues it */
	s390_kvm_iommu_host_rpcit(kdom, span[0], span[1]);
}

static int s390_kvm_iommu_attach_device(struct iommu_domain *domain,
					struct device *dev)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	bool taken;
	int rc;

	/* A KVM domain serves the one function it was allocated for */
	if (dev != kdom->dev)
		return -EINVAL;
	mutex_lock(&s390_kvm_iommu_table_lock);
	taken = s390_kvm_iommu_fh_taken(kdom);
	mutex_unlock(&s390_kvm_iommu_table_lock);
	if (taken)
		return -EEXIST;

	/*
	 * Detaches the current domain (a replaced KVM domain keeps its shadow)
	 * and registers the shadow root as the function's IOAT
	 */
	rc = s390_iommu_attach_device(domain, dev);
	if (rc)
		return rc;

	mutex_lock(&kdom->lock);
	kdom->zdev = to_zpci_dev(dev);
	s390_kvm_iommu_announce(kdom);
	mutex_unlock(&kdom->lock);
	atomic_long_inc(&s390_kvm_iommu_nr_attached);
	s390_kvm_iommu_hash(kdom);
	s390_kvm_iommu_dbg_add(kdom);
	return 0;
}

/**
 * s390_kvm_iommu_detach_begin() - The function is about to leave a KVM domain
 * @domain: the KVM domain the function is attached to
 *
 * Called by s390-iommu.c before it deregisters the function's IOAT. RPCITs
 * of the fh go to userspace from now on, and no refresh issues a host RPCIT
 * or releases anything until s390_kvm_iommu_detached(): a host RPCIT for a
 * function without IOAT would put it into the error state, and a release
 * before the deregistration could free what the device still reaches.
 *
 * Context: process context, iommu group mutex held. May sleep. Returns
 * with the domain's lock held, which s390_kvm_iommu_detached() drops.
 */
void s390_kvm_iommu_detach_begin(struct iommu_domain *domain)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);

	s390_kvm_iommu_dbg_remove(kdom);
	s390_kvm_iommu_unhash(kdom);
	mutex_lock(&kdom->lock);
	kdom->zdev = NULL;
	kdom->resume_len = 0;
}

/**
 * s390_kvm_iommu_detached() - The function left a KVM domain
 * @domain: the KVM domain the function was attached to
 * @zdev: the function, whose IOAT deregistration was just attempted
 * @dereg_rc: the result of that deregistration (0 or -errno)
 *
 * Called by s390-iommu.c after s390_kvm_iommu_detach_begin() when a
 * function detaches (deregistration by the guest, replacement by a new
 * nested domain, or release). The shadow and its pins are kept: a domain
 * attached again translates as before; they go when the domain is freed.
 * With the IOAT gone the device no longer reaches the shadow, so releases
 * still waiting for a host RPCIT that failed are performed now. If the
 * deregistration failed, the function may still walk the shadow: the domain
 * is quarantined and never releases its pins or tables.
 *
 * Context: process context, iommu group mutex and the domain's lock (from
 * s390_kvm_iommu_detach_begin()) held; drops the latter. May sleep.
 */
void s390_kvm_iommu_detached(struct iommu_domain *domain,
			     struct zpci_dev *zdev, int dereg_rc)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	struct s390_shadow_result res = {};

	lockdep_assert_held(&kdom->lock);
	if (dereg_rc) {
		pr_warn("fid %08x: IOAT deregistration failed (%d), shadow kept\n",
			zdev->fid, dereg_rc);
		kdom->quarantined = true;
	}
	/* no IOAT: pending releases are safe now */
	s390_kvm_iommu_sync(kdom, &res);
	s390_kvm_iommu_set_pending(kdom, false, 0, 0);
	mutex_unlock(&kdom->lock);
	atomic_long_dec(&s390_kvm_iommu_nr_attached);
}

/**
 * s390_domain_is_kvm() - Is @domain an s390 KVM nested domain?
 * @domain: an s390 domain
 *
 * Context: any.
 * Return: true for domains from s390_kvm_iommu_domain_alloc().
 */
bool s390_domain_is_kvm(struct iommu_domain *domain)
{
	return domain->ops == &s390_kvm_iommu_domain_ops;
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
	return hpa;
}

static int
s390_kvm_iommu_cache_invalidate_user(struct iommu_domain *domain,
				     struct iommu_user_data_array *array)
{
	const size_t out = offsetof(struct iommu_hwpt_s390_kvm_invalidate, cc);
	const size_t out_len = sizeof_field(struct iommu_hwpt_s390_kvm_invalidate, cc) +
			       sizeof_field(struct iommu_hwpt_s390_kvm_invalidate, status);
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);
	struct iommu_hwpt_s390_kvm_invalidate inv;
	int rc = 0, idx, cc = 0;
	u8 status = 0;
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
						       i, __reserved);
		if (rc)
			break;
		if (inv.flags || inv.__reserved) {
			rc = -EOPNOTSUPP;
			break;
		}

		if (mutex_lock_killable(&kdom->lock)) {
			rc = -EINTR;
			break;
		}
		idx = srcu_read_lock(&kdom->kvm->srcu);
		if (kdom->zdev)
			cc = s390_kvm_iommu_refresh(kdom, inv.iova, inv.len,
						    &status);
		else
			rc = -ENODEV;
		srcu_read_unlock(&kdom->kvm->srcu, idx);
		mutex_unlock(&kdom->lock);
		/* the VMM is told the error answer the guest would get */
		if (cc == -EOPNOTSUPP) {
			cc = S390_KVM_RPCIT_CC_ERR;
			status = ZPCI_PCI_ST_FUNC_IN_ERR;
		}
		if (cc == -EINTR)
			rc = -EINTR;
		if (rc)
			break;

		inv.cc = cc;
		inv.status = status;
		if (copy_to_user(array->uptr + i * array->entry_len + out,
				 (u8 *)&inv + out, out_len)) {
			rc = -EFAULT;
			break;
		}
		if (fatal_signal_pending(current)) {
			i++;
			rc = -EINTR;
			break;
		}
		cond_resched();
	}
out:
	array->entry_num = i;
	return rc;
}

static void s390_kvm_iommu_domain_free(struct iommu_domain *domain)
{
	struct s390_kvm_iommu_domain *kdom = to_kvm_domain(domain);

	s390_kvm_iommu_dbg_remove(kdom);
	s390_kvm_iommu_unhash(kdom);
	s390_iommu_parent_unlink(kdom->parent, &kdom->parent_link);
	mutex_lock(&s390_kvm_iommu_list_lock);
	list_del(&kdom->node);
	mutex_unlock(&s390_kvm_iommu_list_lock);
	s390_kvm_iommu_put(kdom);
}

static const struct iommu_domain_ops s390_kvm_iommu_domain_ops = {
	.attach_dev		= s390_kvm_iommu_attach_device,
	.iova_to_phys		= s390_kvm_iommu_iova_to_phys,
	.cache_invalidate_user	= s390_kvm_iommu_cache_invalidate_user,
	.free			= s390_kvm_iommu_domain_free,
};

/**
 * s390_kvm_iommu_register_kvm() - kvm.ko offers its VM services
 * @ops: the services; @ops->owner is referenced by every domain
 *
 * Context: kvm.ko initialization. May sleep.
 * Return: 0, or -EBUSY when services are registered already.
 */
int s390_kvm_iommu_register_kvm(const struct s390_kvm_iommu_kvm_ops *ops)
{
	int rc = 0;

	mutex_lock(&s390_kvm_iommu_ops_lock);
	if (s390_kvm_iommu_kvm_ops)
		rc = -EBUSY;
	else
		s390_kvm_iommu_kvm_ops = ops;
	mutex_unlock(&s390_kvm_iommu_ops_lock);
	return rc;
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_register_kvm);

/**
 * s390_kvm_iommu_unregister_kvm() - kvm.ko withdraws its VM services
 *
 * No domain exists any more: each holds a reference on kvm.ko, and
 * allocations racing with the unload fail to take one (-ENODEV).
 *
 * Context: kvm.ko exit. May sleep.
 */
void s390_kvm_iommu_unregister_kvm(void)
{
	mutex_lock(&s390_kvm_iommu_ops_lock);
	s390_kvm_iommu_kvm_ops = NULL;
	mutex_unlock(&s390_kvm_iommu_ops_lock);
}
EXPORT_SYMBOL_GPL(s390_kvm_iommu_unregister_kvm);

/* kvm.ko's services with a module reference, or NULL when it is not loaded */
static const struct s390_kvm_iommu_kvm_ops *s390_kvm_iommu_kvm_ops_get(void)
{
	const struct s390_kvm_iommu_kvm_ops *ops;

	mutex_lock(&s390_kvm_iommu_ops_lock);
	ops = s390_kvm_iommu_kvm_ops;
	if (ops && !try_module_get(ops->owner))
		ops = NULL;
	mutex_unlock(&s390_kvm_iommu_ops_lock);
	return ops;
}

/*
 * The VM named by @fd, referenced, if the caller may bind a domain of @zdev
 * to it: only the VM's owner (current->mm is the VM's, so guest memory is
 * the caller's memory), and only the VM vfio associated the device with,
 * if any.
 */
static struct kvm *
s390_kvm_iommu_kvm_bind(const struct s390_kvm_iommu_kvm_ops *ops, int fd,
			struct zpci_dev *zdev)
{
	struct kvm *kvm, *vfio_kvm;
	struct file *file;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	kvm = ops->get_kvm_file(file);
	fput(file);
	if (IS_ERR(kvm))
		return kvm;
	if (kvm->mm != current->mm) {
		ops->put_kvm(kvm);
		return ERR_PTR(-EPERM);
	}
	/* Secure Execution guests: their RPCIT is not supported here yet */
	if (ops->is_protected(kvm)) {
		ops->put_kvm(kvm);
		return ERR_PTR(-EOPNOTSUPP);
	}
	vfio_kvm = ops->vfio_kvm(zdev);
	if (vfio_kvm && vfio_kvm != kvm) {
		ops->put_kvm(kvm);
		return ERR_PTR(-EXDEV);
	}
	return kvm;
}

/**
 * s390_kvm_iommu_domain_alloc() - Allocate a KVM nested domain for a device
 * @dev: the PCI function the domain is for (the only one it will accept)
 * @flags: IOMMU_HWPT_ALLOC flags; none are supported
 * @parent: the nest parent (an s390 paging domain allocated with
 *	IOMMU_HWPT_ALLOC_NEST_PARENT), referenced by iommufd for the nested
 *	domain's life
 * @user_data: struct iommu_hwpt_s390_kvm from userspace
 *
 * Binds the domain to the VM named by the data's kvm_fd for its lifetime
 * (VM and kvm.ko references), records the user to charge pins to (not
 * limited if the caller has CAP_IPC_LOCK, as in iommufd) and adopts the
 * guest's registered IOAT: its IOTA (non-zero, designation type STO, RTTO,
 * RSTO or RFTO) and aperture [pba, pal], which must lie within the
 * function's DMA aperture. The mode (on demand, or pinned parent with
 * IOMMU_HWPT_S390_KVM_PINNED_PARENT) is fixed for the domain's life.
 *
 * Context: process context (IOMMU_HWPT_ALLOC). May sleep.
 * Return: the domain, or ERR_PTR: -EOPNOTSUPP for unknown flags,
 * -EINVAL for a non-zero reserved field, a bad IOTA or an aperture outside
 * the function's, -ENODEV without zPCI function or with kvm.ko not loaded,
 * -EBADF when kvm_fd is not a KVM VM, -EPERM when the caller's mm is not
 * the VM's, -EOPNOTSUPP for a protected (Secure Execution) VM, -EXDEV when
 * vfio associated the device with another VM,
 * -ENOMEM, -EFAULT.
 */
struct iommu_domain *
s390_kvm_iommu_domain_alloc(struct device *dev, u32 flags,
			    struct iommu_domain *parent,
			    const struct iommu_user_data *user_data)
{
	const struct s390_kvm_iommu_kvm_ops *kvm_ops;
	struct s390_kvm_iommu_domain *kdom;
	struct s390_shadow_result res;
	struct iommu_hwpt_s390_kvm data;
	struct zpci_dev *zdev;
	unsigned int i;
	struct kvm *kvm;
	int rc;

	if (flags)
		return ERR_PTR(-EOPNOTSUPP);
	rc = iommu_copy_struct_from_user(&data, user_data,
					 IOMMU_HWPT_DATA_S390_KVM, pal);
	if (rc)
		return ERR_PTR(rc);
	if (data.flags & ~IOMMU_HWPT_S390_KVM_PINNED_PARENT)
		return ERR_PTR(-EOPNOTSUPP);
	if (data.__reserved || !data.iota)
		return ERR_PTR(-EINVAL);

	zdev = to_zpci_dev(dev);
	if (!zdev)
		return ERR_PTR(-ENODEV);
	if (!s390_kvm_iommu_aperture_ok(zdev, data.pba, data.pal))
		return ERR_PTR(-EINVAL);

	kvm_ops = s390_kvm_iommu_kvm_ops_get();
	if (!kvm_ops)
		return ERR_PTR(-ENODEV);
	kvm = s390_kvm_iommu_kvm_bind(kvm_ops, data.kvm_fd, zdev);
	if (IS_ERR(kvm)) {
		rc = PTR_ERR(kvm);
		goto out_module;
	}

	kdom = kzalloc(sizeof(*kdom), GFP_KERNEL_ACCOUNT);
	if (!kdom) {
		rc = -ENOMEM;
		goto out_kvm;
	}
	kdom->parent = parent;
	kdom->dev = dev;
	kdom->kvm = kvm;
	kdom->kvm_ops = kvm_ops;
	kdom->fh = data.fh;
	kdom->pinned_parent = data.flags & IOMMU_HWPT_S390_KVM_PINNED_PARENT;
	kdom->pba = data.pba;
	kdom->pal = data.pal;
	xa_init(&kdom->pins);
	xa_init(&kdom->pin_gfns);
	for (i = 0; kdom->pinned_parent && i < S390_KVM_PIN_HOT; i++)
		kdom->parent_hot[i].gfn = S390_KVM_NO_GFN;
	refcount_set(&kdom->users, 1);
	mutex_init(&kdom->lock);
	INIT_HLIST_NODE(&kdom->hnode);

	rc = s390_shadow_init(&kdom->shadow, kdom);
	if (rc)
		goto out_free;
	kdom->shadow.max_visit = S390_KVM_RPCIT_CHUNK_VISIT;
	/* Nothing is mapped yet, so there is nothing to release */
	rc = s390_shadow_set_iota(&kdom->shadow, data.iota, &res);
	if (rc)
		goto out_shadow;

	kdom->domain = s390_iommu_domain_alloc_shadow(dev,
						      &s390_kvm_iommu_domain_ops,
						      (unsigned long *)kdom->shadow.root,
						      kdom);
	if (!kdom->domain) {
		rc = -ENOMEM;
		goto out_shadow;
	}
	kdom->ctrs = s390_iommu_domain_ctrs(kdom->domain);
	kdom->domain->geometry.aperture_start = zdev->start_dma;
	kdom->domain->geometry.aperture_end = zdev->end_dma;
	kdom->source_task = get_task_struct(current->group_leader);
	kdom->user = get_uid(current_user());
	kdom->account_user = !capable(CAP_IPC_LOCK);

	atomic_long_inc(&s390_kvm_iommu_nr_domains);
	s390_iommu_parent_link(parent, &kdom->parent_link);
	mutex_lock(&s390_kvm_iommu_list_lock);
	list_add_tail(&kdom->node, &s390_kvm_iommu_list);
	mutex_unlock(&s390_kvm_iommu_list_lock);
	return kdom->domain;

out_shadow:
	s390_shadow_destroy(&kdom->shadow);
out_free:
	mutex_destroy(&kdom->lock);
	kfree(kdom);
out_kvm:
	kvm_ops->put_kvm(kvm);
out_module:
	module_put(kvm_ops->owner);
	return ERR_PTR(rc);
}
