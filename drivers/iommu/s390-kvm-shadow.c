// SPDX-License-Identifier: GPL-2.0
/*
 * Shadow I/O translation tables for s390 zPCI functions owned by a KVM guest.
 *
 * The guest keeps its own s390 I/O translation tables (region, segment and
 * page tables, big-endian, in guest-physical memory) and issues RPCIT after
 * changing them.  This engine maintains a host copy of those tables (the
 * shadow) in which every valid page table entry points to the pinned host
 * page backing the guest frame.  The shadow root is always a region-third
 * table, so it can be registered as the function's IOAT with
 * ZPCI_IOTA_RTTO_FLAG whatever the guest designation type is.
 *
 * Rules (guest tables are untrusted):
 * - The shadow only ever maps guest RAM (s390_shadow_pin_frame() decides), read-only when
 *   the guest PTE or one of the region/segment entries above it has the
 *   protection bit set.
 * - Entries are cleared with WRITE_ONCE() and new tables are linked only
 *   after they are fully initialized, because the device walks the shadow
 *   concurrently.
 * - Pages and tables the device may still reach through its IOTLB are not
 *   released by refresh: they are queued and released by
 *   s390_shadow_release() once the caller has issued the host RPCIT.
 * - No shadow table without a valid entry: a page or segment table is
 *   linked when its first entry becomes valid and unlinked (then queued)
 *   when its last one goes, so shadow memory follows what the guest maps.
 * - Work is bounded: at most sh->max_visit guest entries per refresh call,
 *   so aliased guest tables cannot make one call walk 2^30 entries.
 * - A shadow page table is 4 KiB: the first 2 KiB are the 256 hardware
 *   PTEs, the second 2 KiB hold the guest PTE value (with inherited
 *   protection) that each shadow PTE was built from, so an unchanged guest
 *   PTE costs a compare, not a pin, and the table's number of valid PTEs
 *   (see sh_seen_val()).  The number of valid entries of each shadow
 *   segment table is kept in sh->nr_ste.  So clearing an entry never scans
 *   a table to find out whether it became empty.
 *
 * Copyright IBM Corp. 2026
 */

#include <linux/bits.h>
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/io.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/types.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>
#include <asm/page.h>
#include <asm/pci_dma.h>

#include "s390-kvm-shadow.h"

#define SH_PAGE_SHIFT	12
#define SH_PAGE_SIZE	BIT_ULL(SH_PAGE_SHIFT)
#define SH_PAGE_MASK	(~(SH_PAGE_SIZE - 1))
#define SH_SEG_SHIFT	(ZPCI_PT_BITS + SH_PAGE_SHIFT)
#define SH_SEG_SIZE	BIT_ULL(SH_SEG_SHIFT)
#define SH_REG_SHIFT	(SH_SEG_SHIFT + ZPCI_TABLE_BITS)
#define SH_REG_SIZE	BIT_ULL(SH_REG_SHIFT)
#define SH_RT_REACH	BIT_ULL(SH_REG_SHIFT + ZPCI_TABLE_BITS)
#define SH_ST_REACH	SH_REG_SIZE
#define SH_ENTRIES	2048
#define SH_PTES		256
/* Offset/length fields of region entries count in units of 512 entries */
#define SH_TFL_SHIFT	9

/* Deferred release list entries: page/table physical address | type */
#define SH_G_UNPIN	0x0ULL
#define SH_G_UNPIN_DIRTY 0x1ULL
#define SH_G_PT		0x2ULL
#define SH_G_ST		0x3ULL
#define SH_G_TYPE	0x3ULL
/* room to detach every root entry: set_iota after a release cannot fail */
#define SH_GATHER_MIN	SH_ENTRIES
/*
 * Gather slots reserved before clearing a PTE / detaching a page table:
 * the entry itself plus the page table and segment table it may leave
 * without a valid entry, which are unlinked too.
 */
#define SH_ROOM_PTE	3
#define SH_ROOM_PT	2

/* Format control of a segment entry: 1 = the entry maps a 1 MiB frame */
#define SH_STE_FC	0x400ULL

static inline unsigned int sh_rtx(u64 iova)
{
	return (iova >> SH_REG_SHIFT) & (SH_ENTRIES - 1);
}

static inline unsigned int sh_sx(u64 iova)
{
	return (iova >> SH_SEG_SHIFT) & (SH_ENTRIES - 1);
}

static inline unsigned int sh_px(u64 iova)
{
	return (iova >> SH_PAGE_SHIFT) & (SH_PTES - 1);
}

static inline bool sh_entry_valid(u64 e)
{
	return (e & ZPCI_TABLE_VALID_MASK) == ZPCI_TABLE_VALID;
}

static inline bool sh_pte_valid(u64 e)
{
	return (e & ZPCI_PTE_VALID_MASK) == ZPCI_PTE_VALID;
}

/*
 * Second half of a shadow page table: one slot per PTE.  Slot i holds the
 * guest PTE value (inherited protection included) that the valid shadow
 * PTE i was built from, or 0 when shadow PTE i is invalid (a valid guest
 * PTE is never 0).  Bit 10 of a slot (SH_SEEN_NR, the position of the PTE
 * invalid bit, which is 0 in every valid guest PTE) is not part of the
 * value: bits 10 of slots 0..8 hold the number of valid PTEs of the table
 * (0..256, slot k bit k of the number).
 */
#define SH_SEEN_NR	((u64)ZPCI_PTE_INVALID)

static inline u64 *sh_seen(u64 *pt)
{
	return pt + SH_PTES;
}

/* Guest PTE value shadow PTE @i of @pt was built from, 0 if it is invalid */
static inline u64 sh_seen_val(const u64 *pt, unsigned int i)
{
	return pt[SH_PTES + i] & ~SH_SEEN_NR;
}

/* Number of valid PTEs of the shadow page table @pt */
static unsigned int sh_pt_nr(const u64 *pt)
{
	const u64 *s = pt + SH_PTES;

	/* bit 10 (SH_SEEN_NR) of slot k is bit k of the number */
	return ((s[0] >> 10) & 0x001) | ((s[1] >> 9) & 0x002) |
	       ((s[2] >> 8) & 0x004) | ((s[3] >> 7) & 0x008) |
	       ((s[4] >> 6) & 0x010) | ((s[5] >> 5) & 0x020) |
	       ((s[6] >> 4) & 0x040) | ((s[7] >> 3) & 0x080) |
	       ((s[8] >> 2) & 0x100);
}

/* Add one to the number of valid PTEs of @pt; only changed bits written */
static inline void sh_pt_inc(u64 *pt)
{
	u64 *seen = sh_seen(pt);
	unsigned int k;

	/* flip the trailing one bits and the lowest zero bit */
	for (k = 0; k < 8 && (seen[k] & SH_SEEN_NR); k++)
		seen[k] ^= SH_SEEN_NR;
	seen[k] ^= SH_SEEN_NR;
}

/* Subtract one from the number of valid PTEs of @pt; true if none is left */
static inline bool sh_pt_dec(u64 *pt)
{
	u64 *seen = sh_seen(pt);
	unsigned int k;

	/* flip the trailing zero bits and the lowest one bit */
	for (k = 0; k < 8 && !(seen[k] & SH_SEEN_NR); k++)
		seen[k] ^= SH_SEEN_NR;
	seen[k] ^= SH_SEEN_NR;
	if (k)
		return false;	/* bits below k are set now */
	/* odd to even: zero if no higher bit is set */
	for (k = 1; k <= 8; k++)
		if (seen[k] & SH_SEEN_NR)
			return false;
	return true;
}

/* sh_pt_account() but for +1 on an even number; only changed bits written */
static bool sh_pt_account_slow(u64 *pt, int delta)
{
	u64 *seen = sh_seen(pt);
	unsigned int old, n, x, k;

	if (delta == 1) {
		sh_pt_inc(pt);
		return false;
	}
	if (delta == -1)
		return sh_pt_dec(pt);
	old = sh_pt_nr(pt);
	n = old + delta;
	for (x = old ^ n, k = 0; x; x >>= 1, k++)
		if (x & 1)
			seen[k] ^= SH_SEEN_NR;
	return !n;
}

/*
 * Apply the change @delta of the number of valid PTEs of @pt made by one
 * pass over it (entries are set and cleared without updating the number);
 * true if no valid PTE is left.
 */
static inline bool sh_pt_account(u64 *pt, int delta)
{
	u64 *seen = sh_seen(pt);

	/* +1 on an even number: only bit 0 changes */
	if (delta == 1 && !(seen[0] & SH_SEEN_NR)) {
		seen[0] |= SH_SEEN_NR;
		return false;
	}
	return sh_pt_account_slow(pt, delta);
}

static inline u64 *sh_virt(u64 phys)
{
	return phys_to_virt(phys);
}

static inline u64 sh_phys(void *virt)
{
	return virt_to_phys(virt);
}

/*
 * State of one refresh walk.  @pos is the IOVA of the guest entry being
 * processed: where the walk stopped when it returns early.
 */
struct sh_walk {
	struct s390_shadow_result *res;
	u64 start;
	u64 pos;
};

static void sh_res_add(struct s390_shadow_result *res, u64 start, u64 last,
		       bool removed)
{
	if (!res->changed) {
		res->start = start;
		res->end = last;
		res->changed = true;
	} else {
		res->start = min(res->start, start);
		res->end = max(res->end, last);
	}
	if (removed)
		res->removed = true;
}

/* Make room for @n more deferred releases; nothing changes on failure */
static int sh_gather_reserve(struct s390_shadow *sh, unsigned long n)
{
	unsigned long want;
	u64 *p;

	if (sh->max_gather - sh->nr_gather >= n)
		return 0;
	want = max(sh->max_gather * 2, sh->nr_gather + n);
	p = kvrealloc(sh->gather, want * sizeof(*p), GFP_KERNEL_ACCOUNT);
	if (!p)
		return -ENOMEM;
	sh->gather = p;
	sh->max_gather = want;
	return 0;
}

static void sh_gather_add(struct s390_shadow *sh, u64 val)
{
	sh->gather[sh->nr_gather++] = val;
}

static unsigned long sh_st_count(const u64 *st)
{
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < SH_ENTRIES; i++)
		if (sh_entry_valid(st[i]))
			n += sh_pt_nr(sh_virt(st[i] & ZPCI_STE_ADDR_MASK));
	return n;
}

/* Unpin every page of a detached page table and free it */
static unsigned long sh_free_pt(struct s390_shadow *sh, u64 *pt)
{
	unsigned long n = 0, nr = sh_pt_nr(pt);
	unsigned int i;

	for (i = 0; i < SH_PTES && n < nr; i++) {
		if (!sh_pte_valid(pt[i]))
			continue;
		s390_shadow_unpin_frame(sh->priv, pt[i] & ZPCI_PTE_ADDR_MASK,
					!(pt[i] & ZPCI_TABLE_PROT_MASK));
		sh->nr_pinned--;
		n++;
	}
	s390_shadow_free_pt(sh->priv, pt);
	sh->nr_pts--;
	return n;
}

/* Release a detached segment table with everything below it */
static unsigned long sh_free_st(struct s390_shadow *sh, u64 *st)
{
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < SH_ENTRIES; i++) {
		if (!sh_entry_valid(st[i]))
			continue;
		n += sh_free_pt(sh, sh_virt(st[i] & ZPCI_STE_ADDR_MASK));
		cond_resched();
	}
	s390_shadow_free_table(sh->priv, st);
	sh->nr_tables--;
	return n;
}

/* Shadow segment table for @iova, NULL if there is none */
static u64 *sh_shadow_st(struct s390_shadow *sh, u64 iova)
{
	u64 rte = sh->root[sh_rtx(iova)];

	if (!sh_entry_valid(rte))
		return NULL;
	return sh_virt(rte & ZPCI_RTE_ADDR_MASK);
}

/* Shadow segment table entry for @iova, NULL if there is no segment table */
static u64 *sh_shadow_ste(struct s390_shadow *sh, u64 iova)
{
	u64 *st = sh_shadow_st(sh, iova);

	return st ? st + sh_sx(iova) : NULL;
}

/* Shadow page table for @iova, NULL if there is none */
static u64 *sh_shadow_pt(struct s390_shadow *sh, u64 iova)
{
	u64 *step = sh_shadow_ste(sh, iova);

	if (!step || !sh_entry_valid(*step))
		return NULL;
	return sh_virt(*step & ZPCI_STE_ADDR_MASK);
}

/*
 * Unlink the shadow page table of the segment of @iova, which has no valid
 * PTE left (sh_pt_account() said so), and queue it for release; the host
 * RPCIT must then cover the whole segment (the device may cache the
 * segment entry).  Uses one of the gather slots reserved by the clear that
 * emptied it.
 */
static void sh_drop_pt(struct s390_shadow *sh, u64 iova,
		       struct s390_shadow_result *res)
{
	u64 base = iova & ~(SH_SEG_SIZE - 1);
	u64 *step = sh_shadow_ste(sh, iova), *pt;

	if (!step || !sh_entry_valid(*step))
		return;
	pt = sh_virt(*step & ZPCI_STE_ADDR_MASK);
	if (sh->nr_gather == sh->max_gather)
		return;
	WRITE_ONCE(*step, ZPCI_TABLE_INVALID);
	sh->nr_ste[sh_rtx(iova)]--;
	sh_gather_add(sh, sh_phys(pt) | SH_G_PT);
	sh_res_add(res, base, base + SH_SEG_SIZE - 1, true);
}

/*
 * Unlink the shadow segment table of the region of @iova if it has no valid
 * entry left and queue it for release (the RPCIT then covers the region)
 */
static void sh_drop_st(struct s390_shadow *sh, u64 iova,
		       struct s390_shadow_result *res)
{
	u64 base = iova & ~(SH_REG_SIZE - 1);
	u64 *rtep = &sh->root[sh_rtx(iova)], *st;

	if (!sh_entry_valid(*rtep))
		return;
	st = sh_virt(*rtep & ZPCI_RTE_ADDR_MASK);
	if (sh->nr_ste[sh_rtx(iova)] || sh->nr_gather == sh->max_gather)
		return;
	WRITE_ONCE(*rtep, ZPCI_TABLE_INVALID);
	sh_gather_add(sh, sh_phys(st) | SH_G_ST);
	sh_res_add(res, base, base + SH_REG_SIZE - 1, true);
}

/*
 * The page table of @iova has no valid PTE left: unlink it, and its segment
 * table if that has no valid entry left then (gather slots reserved)
 */
static void sh_drop_pt_st(struct s390_shadow *sh, u64 iova,
			  struct s390_shadow_result *res)
{
	sh_drop_pt(sh, iova, res);
	/* a no-op while the segment table has a valid entry */
	sh_drop_st(sh, iova, res);
}

/*
 * Clear one valid shadow PTE and queue its unpin; one gather slot reserved.
 * The caller accounts the table's number of valid PTEs (sh_pt_account()).
 */
static __always_inline void __sh_clear_pte(struct s390_shadow *sh, u64 *pt,
					   unsigned int i, u64 iova,
					   struct s390_shadow_result *res)
{
	u64 old = pt[i];

	WRITE_ONCE(pt[i], ZPCI_PTE_INVALID);
	sh_seen(pt)[i] &= SH_SEEN_NR;
	sh_gather_add(sh, (old & ZPCI_PTE_ADDR_MASK) |
		      ((old & ZPCI_TABLE_PROT_MASK) ? SH_G_UNPIN : SH_G_UNPIN_DIRTY));
	res->unpinned++;
	sh_res_add(res, iova, iova + SH_PAGE_SIZE - 1, true);
}

/* __sh_clear_pte() out of line, for the walks over many entries */
static void sh_clear_pte(struct s390_shadow *sh, u64 *pt, unsigned int i,
			 u64 iova, struct s390_shadow_result *res)
{
	__sh_clear_pte(sh, pt, i, iova, res);
}

/*
 * Clear [start, last] (inside one segment) below the valid shadow segment
 * entry @step.  A fully covered segment is detached as a whole; a page
 * table left without a valid PTE is unlinked as well.
 */
static int sh_clear_seg(struct s390_shadow *sh, u64 *step, u64 start, u64 last,
			struct s390_shadow_result *res)
{
	u64 base = start & ~(SH_SEG_SIZE - 1);
	u64 *pt = sh_virt(*step & ZPCI_STE_ADDR_MASK);
	unsigned int i;
	int delta = 0;
	int rc = 0;

	if (start == base && last == base + SH_SEG_SIZE - 1) {
		if (sh_gather_reserve(sh, SH_ROOM_PT))
			return -ENOMEM;
		WRITE_ONCE(*step, ZPCI_TABLE_INVALID);
		sh->nr_ste[sh_rtx(start)]--;
		sh_gather_add(sh, sh_phys(pt) | SH_G_PT);
		res->unpinned += sh_pt_nr(pt);
		sh_res_add(res, start, last, true);
		return 0;
	}
	for (i = sh_px(start); i <= sh_px(last); i++) {
		if (!sh_pte_valid(pt[i]))
			continue;
		/* at a valid PTE: the table cannot be empty on failure */
		rc = sh_gather_reserve(sh, SH_ROOM_PTE);
		if (rc)
			break;
		sh_clear_pte(sh, pt, i, base + ((u64)i << SH_PAGE_SHIFT), res);
		delta--;
	}
	if (delta && sh_pt_account(pt, delta))
		sh_drop_pt(sh, start, res);
	return rc;
}

/*
 * Clear [start, last] (inside one region-third entry) below the valid
 * shadow region entry @rtep.  A fully covered region is detached as a
 * whole; a segment table left without a valid entry is unlinked as well.
 */
static int sh_clear_region(struct s390_shadow *sh, u64 *rtep, u64 start,
			   u64 last, struct s390_shadow_result *res)
{
	u64 base = start & ~(SH_REG_SIZE - 1);
	u64 *st = sh_virt(*rtep & ZPCI_RTE_ADDR_MASK);
	bool dropped = false;
	unsigned int i;
	int rc = 0;

	if (start == base && last == base + SH_REG_SIZE - 1) {
		if (sh_gather_reserve(sh, 1))
			return -ENOMEM;
		WRITE_ONCE(*rtep, ZPCI_TABLE_INVALID);
		sh->nr_ste[sh_rtx(start)] = 0;
		sh_gather_add(sh, sh_phys(st) | SH_G_ST);
		res->unpinned += sh_st_count(st);
		sh_res_add(res, start, last, true);
		return 0;
	}
	for (i = sh_sx(start); i <= sh_sx(last); i++) {
		u64 s = base + ((u64)i << SH_SEG_SHIFT);

		if (!sh_entry_valid(st[i]))
			continue;
		rc = sh_clear_seg(sh, &st[i], max(start, s),
				  min(last, s + SH_SEG_SIZE - 1), res);
		if (!sh_entry_valid(st[i]))
			dropped = true;
		if (rc)
			break;
	}
	if (dropped)
		sh_drop_st(sh, start, res);
	return rc;
}

/* Clear the whole shadow for [start, last] (below the 4 TiB reach) */
static int sh_clear_range(struct s390_shadow *sh, u64 start, u64 last,
			  struct s390_shadow_result *res)
{
	unsigned int i;
	int rc;

	for (i = sh_rtx(start); i <= sh_rtx(last); i++) {
		u64 s = (u64)i << SH_REG_SHIFT;

		if (!sh_entry_valid(sh->root[i]))
			continue;
		rc = sh_clear_region(sh, &sh->root[i], max(start, s),
				     min(last, s + SH_REG_SIZE - 1), res);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read @n guest table entries at @gpa in one call */
static int sh_read(struct s390_shadow *sh, u64 gpa, void *buf, unsigned int n,
		   struct s390_shadow_result *res)
{
	res->reads++;
	if (s390_shadow_read_guest(sh->priv, gpa, buf, n * sizeof(__be64)))
		return -EFAULT;
	return 0;
}

/*
 * Account one guest table entry at @iova (the first IOVA of the range it
 * covers); true if the work bound stops the walk before it.  The walk
 * always gets past its first page, so every call makes progress.
 */
static inline bool sh_visit(struct s390_shadow *sh, struct sh_walk *w, u64 iova)
{
	w->pos = iova;
	if (sh->max_visit && w->res->visited >= sh->max_visit && iova > w->start)
		return true;
	w->res->visited++;
	return false;
}

/*
 * How many of the @n entries of a guest table slice starting at @iova the
 * work bound lets the walk examine, as sh_visit() would one by one: all
 * without a bound, else what is left of it, but at least the walk's first
 * entry (the slice's IOVAs increase, only its first one can be w->start).
 */
static inline unsigned int sh_budget(struct s390_shadow *sh,
				     struct sh_walk *w, u64 iova,
				     unsigned int n)
{
	u64 left;

	if (!sh->max_visit)
		return n;
	if (w->res->visited < sh->max_visit)
		left = sh->max_visit - w->res->visited;
	else
		left = iova <= w->start;
	return min_t(u64, left, n);
}

/*
 * Outcome of a failed pin: -ENOMEM is remembered and the walk goes on
 * without mapping (0), -EBUSY/-EAGAIN stop it (-EBUSY), anything else is
 * a guest error (-EFAULT).
 */
static int sh_map_error(struct sh_walk *w, int rc)
{
	if (rc == -ENOMEM) {
		w->res->nomem = true;
		return 0;
	}
	if (rc == -EBUSY || rc == -EAGAIN)
		return -EBUSY;
	return -EFAULT;
}

/*
 * Write shadow PTE @i of @pt for guest PTE value @g and the pinned @hpa;
 * @removed: it was valid.  The caller accounts the table's number of valid
 * PTEs.
 */
static inline void sh_set_pte(struct s390_shadow *sh, u64 *pt,
			      unsigned int i, u64 iova, u64 g, u64 hpa,
			      bool removed, struct s390_shadow_result *res)
{
	bool write = !(g & ZPCI_TABLE_PROT_MASK);

	WRITE_ONCE(pt[i], (hpa & ZPCI_PTE_ADDR_MASK) | ZPCI_PTE_VALID |
		   (write ? ZPCI_TABLE_UNPROTECTED : ZPCI_TABLE_PROTECTED));
	sh_seen(pt)[i] = g | (sh_seen(pt)[i] & SH_SEEN_NR);
	sh->nr_pinned++;
	res->pinned++;
	sh_res_add(res, iova, iova + SH_PAGE_SIZE - 1, removed);
}

/*
 * Map shadow PTE @i of the linked page table @pt (IOVA @iova) for guest PTE
 * value @g (valid, inherited protection included).  The new page is pinned
 * before the old one is queued for release.  If the new page cannot be
 * pinned, the old translation is removed as well (the guest no longer
 * wants it), except for -EBUSY, where the walk resumes at this page.
 */
static __always_inline int sh_map_pte(struct s390_shadow *sh,
				      struct sh_walk *w, u64 *pt,
				      unsigned int i, u64 iova, u64 g)
{
	bool write = !(g & ZPCI_TABLE_PROT_MASK);
	struct s390_shadow_result *res = w->res;
	u64 old = pt[i];
	u64 hpa;
	int rc;

	if (sh_pte_valid(old) && sh_gather_reserve(sh, SH_ROOM_PTE))
		return -ENOMEM;
	rc = s390_shadow_pin_frame(sh->priv, g & ZPCI_PTE_ADDR_MASK, write, &hpa);
	if (rc) {
		rc = sh_map_error(w, rc);
		if (rc != -EBUSY && sh_pte_valid(old))
			sh_clear_pte(sh, pt, i, iova, res);
		return rc;
	}
	sh_set_pte(sh, pt, i, iova, g, hpa, sh_pte_valid(old), res);
	if (sh_pte_valid(old)) {
		sh_gather_add(sh, (old & ZPCI_PTE_ADDR_MASK) |
			      ((old & ZPCI_TABLE_PROT_MASK) ?
			       SH_G_UNPIN : SH_G_UNPIN_DIRTY));
		res->unpinned++;
	}
	return 0;
}

/*
 * Map the first PTE of a segment without a shadow page table: allocate the
 * page table (and the segment table if the region has none), pin, fill in
 * the PTE and only then link the tables, bottom-up.  So the device never
 * sees a half-built table, and no table is linked without a valid entry:
 * on failure the new tables, never reachable, are freed at once.  Returns
 * 0 with *@ptp set (NULL if nothing was mapped) or a stopping error.  The
 * new table's number of valid PTEs is 0 until the caller accounts the PTE.
 */
static int sh_map_new(struct s390_shadow *sh, struct sh_walk *w, u64 iova,
		      u64 g, u64 **ptp)
{
	bool write = !(g & ZPCI_TABLE_PROT_MASK);
	u64 *rtep = &sh->root[sh_rtx(iova)];
	u64 *st = NULL, *pt, ste, hpa;
	unsigned int i;
	int rc = -ENOMEM;

	*ptp = NULL;
	if (!sh_entry_valid(*rtep)) {
		st = s390_shadow_alloc_table(sh->priv);
		if (!st)
			return sh_map_error(w, rc);
		sh->nr_tables++;
		for (i = 0; i < SH_ENTRIES; i++)
			st[i] = ZPCI_TABLE_INVALID;
	}
	pt = s390_shadow_alloc_pt(sh->priv);
	if (!pt)
		goto free_st;
	sh->nr_pts++;
	for (i = 0; i < SH_PTES; i++) {
		pt[i] = ZPCI_PTE_INVALID;
		sh_seen(pt)[i] = 0;
	}
	rc = s390_shadow_pin_frame(sh->priv, g & ZPCI_PTE_ADDR_MASK, write, &hpa);
	if (rc)
		goto free_pt;
	sh_set_pte(sh, pt, sh_px(iova), iova, g, hpa, false, w->res);
	ste = (sh_phys(pt) & ZPCI_STE_ADDR_MASK) | ZPCI_TABLE_TYPE_SX |
	      ZPCI_TABLE_VALID | ZPCI_TABLE_UNPROTECTED;
	dma_wmb();
	if (st) {
		st[sh_sx(iova)] = ste;
		dma_wmb();
		WRITE_ONCE(*rtep, (sh_phys(st) & ZPCI_RTE_ADDR_MASK) |
			   ZPCI_TABLE_TYPE_RTX | ZPCI_TABLE_LEN_RTX |
			   ZPCI_TABLE_VALID | ZPCI_TABLE_UNPROTECTED);
	} else {
		WRITE_ONCE(*sh_shadow_ste(sh, iova), ste);
	}
	sh->nr_ste[sh_rtx(iova)]++;
	*ptp = pt;
	return 0;

free_pt:
	s390_shadow_free_pt(sh->priv, pt);
	sh->nr_pts--;
free_st:
	if (st) {
		s390_shadow_free_table(sh->priv, st);
		sh->nr_tables--;
	}
	return sh_map_error(w, rc);
}

/*
 * A valid guest PTE @g differs from shadow PTE @i (or it has none): map it,
 * or after an -ENOMEM only drop the old translation.
 */
static __always_inline int sh_update_pte(struct s390_shadow *sh,
					 struct sh_walk *w, u64 **ptp,
					 unsigned int i, u64 iova, u64 g)
{
	u64 *pt = *ptp;

	if (!w->res->nomem)
		return pt ? sh_map_pte(sh, w, pt, i, iova, g) :
			    sh_map_new(sh, w, iova, g, ptp);
	if (pt && sh_pte_valid(pt[i])) {
		if (sh_gather_reserve(sh, SH_ROOM_PTE))
			return -ENOMEM;
		sh_clear_pte(sh, pt, i, iova, w->res);
	}
	return 0;
}

/*
 * [start, last] lies in one segment; @pto is the guest page table origin,
 * @pt the linked shadow page table of the segment (NULL: none yet).
 *
 * The loop does per entry only what depends on it: an invalid guest PTE
 * without a shadow PTE and an unchanged one cost a load and a compare (the
 * guest entry tested in its big-endian form); the work bound is turned
 * into an index before the loop, the visits are counted after it, and the
 * table's number of valid PTEs is updated once, if it changed.
 */
static int sh_walk_pt(struct s390_shadow *sh, struct sh_walk *w, u64 *pt,
		      u64 pto, u64 start, u64 last, u64 prot)
{
	unsigned int first = sh_px(start), n = sh_px(last) - first + 1;
	struct s390_shadow_result *res = w->res;
	u64 base = start & ~(SH_SEG_SIZE - 1);
	u64 pinned = res->pinned, unpinned = res->unpinned;
	__be64 *buf = sh->buf_pt;
	unsigned int i, end;
	int delta, rc;

	rc = sh_read(sh, pto + first * sizeof(__be64), buf, n, res);
	if (rc)
		return rc;
	end = first + sh_budget(sh, w, start, n);
	for (i = first; i < end; i++) {
		__be64 raw = buf[i - first];
		u64 g;

		if (raw & cpu_to_be64(ZPCI_PTE_INVALID)) {
			if (!pt || !sh_pte_valid(pt[i]))
				continue;
			rc = sh_gather_reserve(sh, SH_ROOM_PTE);
			if (rc)
				break;
			sh_clear_pte(sh, pt, i, base + ((u64)i << SH_PAGE_SHIFT),
				     res);
			continue;
		}
		g = be64_to_cpu(raw);
		if (!g) {
			rc = -EINVAL;
			break;
		}
		g |= prot;
		/* an invalid shadow PTE's slot is 0: never equal */
		if (pt && !((sh_seen(pt)[i] ^ g) & ~SH_SEEN_NR))
			continue;
		rc = sh_update_pte(sh, w, &pt, i,
				   base + ((u64)i << SH_PAGE_SHIFT), g);
		if (rc)
			break;
	}
	if (rc) {
		/* stopped at entry i, which was examined */
		res->visited += i - first + 1;
	} else {
		res->visited += end - first;
		if (end < first + n) {
			rc = -EAGAIN;
			i = end;
		} else {
			i = end - 1;
		}
	}
	w->pos = base + ((u64)i << SH_PAGE_SHIFT);
	/*
	 * Each PTE made valid or replaced pinned a page, each one cleared or
	 * replaced queued an unpin: the change of the valid PTEs of @pt.
	 */
	delta = (int)(res->pinned - pinned) - (int)(res->unpinned - unpinned);
	if (pt && delta && sh_pt_account(pt, delta))
		sh_drop_pt(sh, start, res);
	return rc;
}

/*
 * The rest of sh_walk_pte1() for a guest PTE @g that differs from shadow PTE
 * @i of @pt (NULL: no page table): sh_update_pte() and the accounting, out
 * of line (a replaced translation, a new page table, after an -ENOMEM)
 */
static noinline int sh_update_pte1(struct s390_shadow *sh, struct sh_walk *w,
				   u64 *pt, unsigned int i, u64 iova, u64 g)
{
	bool was = pt && sh_pte_valid(pt[i]);
	int delta, rc;

	rc = sh_update_pte(sh, w, &pt, i, iova, g);
	/* the PTE became valid or invalid (also after an error) */
	delta = (int)(pt && sh_pte_valid(pt[i])) - (int)was;
	if (delta && sh_pt_account(pt, delta))
		sh_drop_pt_st(sh, iova, w->res);
	return rc;
}

/*
 * sh_walk_pt() for the one page @iova (page aligned, the walk's first: the
 * work bound never stops before it): reads only its guest PTE.  The shadow
 * is looked at only after the read.  A page table left without a valid PTE
 * is unlinked, and then the segment table if it has no valid entry left.
 */
static int sh_walk_pte1(struct s390_shadow *sh, struct sh_walk *w, u64 pto,
			u64 iova, u64 prot)
{
	struct s390_shadow_result *res = w->res;
	unsigned int i = sh_px(iova);
	u64 g, hpa, *pt;
	__be64 raw;
	int rc;

	rc = sh_read(sh, pto + i * sizeof(__be64), &raw, 1, res);
	if (rc)
		return rc;
	res->visited++;
	w->pos = iova;
	pt = sh_shadow_pt(sh, iova);
	if (raw & cpu_to_be64(ZPCI_PTE_INVALID)) {
		if (!pt || !sh_pte_valid(pt[i]))
			return 0;
		if (sh_gather_reserve(sh, SH_ROOM_PTE))
			return -ENOMEM;
		__sh_clear_pte(sh, pt, i, iova, res);
		if (sh_pt_dec(pt))
			sh_drop_pt_st(sh, iova, res);
		return 0;
	}
	g = be64_to_cpu(raw);
	if (!g)
		return -EINVAL;
	g |= prot;
	/* an invalid shadow PTE's slot is 0: never equal */
	if (pt && !((sh_seen(pt)[i] ^ g) & ~SH_SEEN_NR))
		return 0;
	if (pt && !sh_pte_valid(pt[i]) && !res->nomem) {
		/* the common new mapping: sh_map_pte() without an old PTE */
		rc = s390_shadow_pin_frame(sh->priv, g & ZPCI_PTE_ADDR_MASK,
					   !(g & ZPCI_TABLE_PROT_MASK), &hpa);
		if (rc)
			return sh_map_error(w, rc);
		sh_set_pte(sh, pt, i, iova, g, hpa, false, res);
		sh_pt_inc(pt);
		return 0;
	}
	return sh_update_pte1(sh, w, pt, i, iova, g);
}

/*
 * Number of leading entries of the @n guest region/segment entries @buf that
 * are invalid and whose shadow entries in @shadow (NULL: no shadow table)
 * are invalid too: nothing to do for them but to count them.
 */
static unsigned int sh_skip_invalid(const __be64 *buf, const u64 *shadow,
				    unsigned int n)
{
	unsigned int j;

	if (!shadow) {
		for (j = 0; j < n; j++)
			if (!(buf[j] & cpu_to_be64(ZPCI_TABLE_INVALID)))
				break;
		return j;
	}
	for (j = 0; j < n; j++)
		if (!(buf[j] & cpu_to_be64(ZPCI_TABLE_INVALID)) ||
		    sh_entry_valid(shadow[j]))
			break;
	return j;
}

/*
 * [start, last] lies in one region; @sto is the guest segment table origin.
 * An invalid guest entry without a shadow page table costs a load and a
 * test; the work bound is an index, recomputed after each page table walk.
 */
static int sh_walk_seg(struct s390_shadow *sh, struct sh_walk *w, u64 sto,
		       u64 start, u64 last, u64 prot)
{
	unsigned int first = sh_sx(start), lastx = sh_sx(last), i, end;
	struct s390_shadow_result *res = w->res;
	u64 base = start & ~(SH_REG_SIZE - 1);
	__be64 *buf = sh->buf_st;
	bool dropped = false;
	u64 *st;
	int rc;

	rc = sh_read(sh, sto + first * sizeof(__be64), buf, lastx - first + 1,
		     res);
	if (rc)
		return rc;
	/* linked below; not unlinked before the end of this function */
	st = sh_shadow_st(sh, start);
	end = first + sh_budget(sh, w, start, lastx - first + 1);
	for (i = first; i <= lastx; i++) {
		u64 g, s, l, *step;
		unsigned int j;
		bool was;

		j = sh_skip_invalid(buf + (i - first), st ? st + i : NULL,
				    end - i) + i;
		res->visited += j - i;
		i = j;
		if (i > lastx)
			break;
		if (i >= end) {
			w->pos = max(start, base + ((u64)i << SH_SEG_SHIFT));
			rc = -EAGAIN;
			break;
		}
		res->visited++;
		step = st ? &st[i] : NULL;
		was = step && sh_entry_valid(*step);
		s = base + ((u64)i << SH_SEG_SHIFT);
		l = min(last, s + SH_SEG_SIZE - 1);
		s = max(start, s);
		w->pos = s;
		g = be64_to_cpu(buf[i - first]);
		if (!g) {
			rc = -EINVAL;
			break;
		}
		if (!sh_entry_valid(g)) {
			rc = sh_clear_seg(sh, step, s, l, res);
		} else if ((g & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_SX ||
			   (g & SH_STE_FC)) {
			rc = -EINVAL;
		} else {
			rc = sh_walk_pt(sh, w,
					was ? sh_virt(*step & ZPCI_STE_ADDR_MASK) :
					      NULL,
					g & ZPCI_STE_ADDR_MASK, s, l,
					prot | (g & ZPCI_TABLE_PROT_MASK));
			if (!st)
				st = sh_shadow_st(sh, start);
			if (!rc && sh->max_visit)
				end = i + 1 + sh_budget(sh, w, s + SH_SEG_SIZE,
							lastx - i);
			/* a global refresh may walk many page tables */
			cond_resched();
		}
		if (was && !sh_entry_valid(*step))
			dropped = true;
		if (rc)
			break;
	}
	if (dropped)
		sh_drop_st(sh, start, res);
	return rc;
}

/*
 * sh_walk_seg() for a range [start, last] inside one page: reads the one
 * guest segment entry of the range and does what the loop of sh_walk_seg()
 * does for it (the walk's first entry: the work bound never stops before
 * it), continuing with sh_walk_pte1().
 */
static int sh_walk_seg1(struct s390_shadow *sh, struct sh_walk *w, u64 sto,
			u64 start, u64 last, u64 prot)
{
	struct s390_shadow_result *res = w->res;
	__be64 raw;
	u64 g, *step;
	int rc;

	rc = sh_read(sh, sto + sh_sx(start) * sizeof(__be64), &raw, 1, res);
	if (rc)
		return rc;
	res->visited++;
	w->pos = start;
	g = be64_to_cpu(raw);
	if (!sh_entry_valid(g)) {
		step = sh_shadow_ste(sh, start);
		/* invalid guest entry without a shadow page table */
		if (!step || !sh_entry_valid(*step))
			return 0;
		rc = sh_clear_seg(sh, step, start, last, res);
		if (!sh_entry_valid(*step))
			sh_drop_st(sh, start, res);
		return rc;
	}
	if (!g || (g & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_SX ||
	    (g & SH_STE_FC))
		return -EINVAL;
	return sh_walk_pte1(sh, w, g & ZPCI_STE_ADDR_MASK, start,
			    prot | (g & ZPCI_TABLE_PROT_MASK));
}

/* [start, last] below 4 TiB; @rto is the guest region-third table origin */
static int sh_walk_rt(struct s390_shadow *sh, struct sh_walk *w, u64 rto,
		      u64 start, u64 last, u64 prot)
{
	unsigned int first = sh_rtx(start), lastx = sh_rtx(last), i;
	__be64 *buf = sh->buf_rt;
	int rc;

	rc = sh_read(sh, rto + first * sizeof(__be64), buf, lastx - first + 1,
		     w->res);
	if (rc)
		return rc;
	for (i = first; i <= lastx; i++) {
		__be64 raw = buf[i - first];
		u64 g, s, l;
		unsigned int tf, tl;

		/* invalid guest entry without a shadow segment table */
		if ((raw & cpu_to_be64(ZPCI_TABLE_INVALID)) &&
		    !sh_entry_valid(sh->root[i]) && !sh->max_visit) {
			w->res->visited++;
			continue;
		}
		g = be64_to_cpu(raw);
		s = (u64)i << SH_REG_SHIFT;
		l = min(last, s + SH_REG_SIZE - 1);
		s = max(start, s);
		if (sh_visit(sh, w, s))
			return -EAGAIN;
		if (!g)
			return -EINVAL;
		if (!sh_entry_valid(g)) {
			if (sh_entry_valid(sh->root[i])) {
				rc = sh_clear_region(sh, &sh->root[i], s, l,
						     w->res);
				if (rc)
					return rc;
			}
			continue;
		}
		if ((g & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RTX)
			return -EINVAL;
		tf = (g & ZPCI_TABLE_OFFSET_MASK) >> 6;
		tl = g & ZPCI_TABLE_LEN_RTX;
		if ((sh_sx(s) >> SH_TFL_SHIFT) < tf ||
		    (sh_sx(l) >> SH_TFL_SHIFT) > tl)
			return -EINVAL;
		rc = sh_walk_seg(sh, w, g & ZPCI_RTE_ADDR_MASK, s, l,
				 prot | (g & ZPCI_TABLE_PROT_MASK));
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * The region-third level of sh_walk_rt() for a range [start, last] inside
 * one segment: reads only the guest entry of the range (the walk's first
 * entry: the work bound never stops before it).  Returns 0 with *@origin
 * (the guest segment table origin) and *@prot updated, 1 if the entry is
 * invalid (the caller clears the range), or -EFAULT/-EINVAL.
 */
static int sh_walk_rte1(struct s390_shadow *sh, struct sh_walk *w,
			u64 *origin, u64 start, u64 *prot)
{
	unsigned int tx = sh_sx(start) >> SH_TFL_SHIFT;
	__be64 raw;
	u64 g;
	int rc;

	rc = sh_read(sh, *origin + sh_rtx(start) * sizeof(__be64), &raw, 1,
		     w->res);
	if (rc)
		return rc;
	w->res->visited++;
	g = be64_to_cpu(raw);
	if (!sh_entry_valid(g))
		return 1;
	if (!g || (g & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RTX ||
	    tx < ((g & ZPCI_TABLE_OFFSET_MASK) >> 6) ||
	    tx > (g & ZPCI_TABLE_LEN_RTX))
		return -EINVAL;
	*origin = g & ZPCI_RTE_ADDR_MASK;
	*prot |= g & ZPCI_TABLE_PROT_MASK;
	return 0;
}

/*
 * Follow entry 0 of a guest region-first or region-second table at
 * *@origin (IOVAs below 4 TiB only use index 0 of those tables).  The
 * entry's table offset/length must cover the next-level indices
 * @nfirst..@nlast.  Returns 1 if the entry is invalid, 0 with *@origin and
 * *@prot updated, or -EFAULT/-EINVAL.
 */
static int sh_walk_upper(struct s390_shadow *sh, struct sh_walk *w,
			 u64 *origin, u64 type, unsigned int nfirst,
			 unsigned int nlast, u64 *prot)
{
	__be64 *buf = sh->buf_rt;
	unsigned int tf, tl;
	u64 g;
	int rc;

	rc = sh_read(sh, *origin, buf, 1, w->res);
	if (rc)
		return rc;
	g = be64_to_cpu(buf[0]);
	/* at the first page of the walk: never stops */
	sh_visit(sh, w, w->start);
	if (!g)
		return -EINVAL;
	if (!sh_entry_valid(g))
		return 1;
	if ((g & ZPCI_TABLE_TYPE_MASK) != type)
		return -EINVAL;
	tf = (g & ZPCI_TABLE_OFFSET_MASK) >> 6;
	tl = g & ZPCI_TABLE_LEN_RTX;
	if ((nfirst >> SH_TFL_SHIFT) < tf || (nlast >> SH_TFL_SHIFT) > tl)
		return -EINVAL;
	*origin = g & ZPCI_RTE_ADDR_MASK;
	*prot |= g & ZPCI_TABLE_PROT_MASK;
	return 0;
}

/**
 * s390_shadow_refresh() - bring the shadow up to date for an IOVA range
 * @sh: the shadow
 * @iova: first IOVA of the range (bytes; need not be page aligned)
 * @len: length of the range in bytes, as in RPCIT r2 + 1
 * @res: output, describes what changed (valid whatever the return value)
 *
 * Walks the guest I/O translation tables designated by the guest IOTA for
 * every 4 KiB page touching [@iova, @iova + @len) following the s390 zPCI
 * DMA table format (asm/pci_dma.h): a valid guest PTE is pinned (read-only
 * if it or a region/segment entry above it is protected) and written to the
 * shadow; an unchanged guest PTE costs nothing; an invalid guest PTE, or an
 * invalid region/segment entry, clears the corresponding shadow entries
 * without looking at lower guest levels.  Guest tables are read one covered
 * table slice per s390_shadow_read_guest() call: for a range inside one
 * 1 MiB segment one 8-byte entry per region/segment level and the covered
 * PTEs (a one-page range reads one entry per level).  Cleared pages and
 * tables are queued, not released: the caller must issue the host RPCIT for
 * [@res->start, @res->end] when @res->changed and (@res->removed or the
 * function requires refresh), and then call s390_shadow_release().
 *
 * Shadow tables exist only below valid entries: a page table (and a segment
 * table) is linked when its first entry becomes valid, and one whose last
 * valid entry is cleared is unlinked and queued for release.  @res then
 * covers the whole 1 MiB segment (2 GiB region) of the unlinked table, also
 * outside [@iova, @iova + @len): the caller clamps it to the aperture.  A
 * table allocated for a PTE whose pin fails is freed at once.
 *
 * The range is checked only against the reach of the shadow: 4 TiB (the
 * region-third root; also for RSTO/RFTO guests, whose region-first/second
 * index is then 0) or 2 GiB for a segment-table (STO) guest; the caller
 * checks the function's aperture.  A zero @len does nothing.
 *
 * Table type, offset and length of a guest region/segment entry are checked
 * only when the entry is valid (Linux writes invalid entries as bare 0x20);
 * an entry that is 0 at any level is an error, as is a valid segment entry
 * with the format-control bit (1 MiB frames are not supported).
 *
 * Errors: a table error stops the walk at once: entries already processed
 * have their new value, entries not reached keep their old one (their pages
 * stay pinned), all pins are accounted and @res covers what changed so far.
 * A shadow PTE whose new guest frame cannot be pinned is left invalid.  An
 * -ENOMEM from s390_shadow_pin_frame() or a table allocation does not stop the walk: it
 * sets @res->nomem, and from then on no new translation is made (a changed
 * guest PTE loses its old one; frames are not checked any more), while
 * cleared guest entries are still removed to the end of the range.  A pin
 * answering -EBUSY or -EAGAIN stops the walk before that page, which keeps
 * its old translation.
 *
 * Bounded work: with @sh->max_visit set, a walk that has examined that many
 * guest table entries (@res->visited) stops before the next one.  It always
 * gets past its first page (one entry per level), so a call examines at most
 * max(@sh->max_visit, 5) entries and @res->next is greater than the
 * page-aligned @iova.
 *
 * @res->next is the first IOVA not processed yet (page aligned): the end of
 * the range rounded up to a page when the walk completed (0, -ENOMEM), the
 * resume point after -EAGAIN or -EBUSY (call again for [@res->next, last]
 * after the host RPCIT and s390_shadow_release(); everything before it is
 * done), the entry that failed after -EINVAL/-EFAULT, the page-aligned
 * @iova when nothing was walked.
 *
 * Context: Process context, caller holds the mutex serializing all calls on
 * @sh; the device may walk the shadow concurrently.  May sleep (the user's services).
 * Return: 0 on success;
 * -EINVAL if the range wraps or exceeds the reach, no guest IOTA is set, or
 * a guest entry is 0, a guest region/segment entry has a wrong table type,
 * the index is outside its table offset/length, or a segment entry has the
 * format-control bit;
 * -EFAULT if a guest table is not readable or a PTE frame is not guest RAM
 * (the pin failed other than with -ENOMEM/-EBUSY/-EAGAIN) (the caller maps
 * -EINVAL and -EFAULT to RPCIT cc 1 status 8; they take precedence over an
 * earlier -ENOMEM);
 * -ENOMEM if a pin hit the limit or memory ran out and the walk reached the
 * end of the range, or at once if the deferred release list cannot grow
 * (cc 1 status 16; @res->nomem is set);
 * -EBUSY if a pin answered -EBUSY or -EAGAIN (@res->next is that page);
 * -EAGAIN if the work bound @sh->max_visit stopped the walk before the end
 * of the range (@res->next: resume point; @res->nomem tells whether an
 * -ENOMEM was met before, which the caller has to remember).
 */
int s390_shadow_refresh(struct s390_shadow *sh, u64 iova, u64 len,
			struct s390_shadow_result *res)
{
	struct sh_walk w = { .res = res };
	u64 dt = (sh->iota >> 2) & 7;
	u64 start, last, origin, prot = 0;
	bool one, page;
	int rc;

	memset(res, 0, sizeof(*res));
	start = iova & SH_PAGE_MASK;
	res->next = start;
	if (!len)
		return 0;
	last = iova + len - 1;
	/* without a guest IOTA the reach is 0 */
	if (last < iova || last >= sh->reach)
		return -EINVAL;
	origin = sh->iota & ZPCI_RTE_ADDR_MASK;
	w.start = start;
	w.pos = start;

	/*
	 * A range inside one segment reads one region-third entry, a range
	 * inside one page one guest entry per level.
	 */
	one = !((start ^ last) >> SH_SEG_SHIFT);
	page = !((start ^ last) >> SH_PAGE_SHIFT);
	switch (dt) {
	case ZPCI_IOTA_RFTO:
		/* region-second index of IOVAs below 4 TiB: 0 */
		rc = sh_walk_upper(sh, &w, &origin, ZPCI_TABLE_TYPE_RFX, 0, 0,
				   &prot);
		if (rc)
			break;
		fallthrough;
	case ZPCI_IOTA_RSTO:
		rc = sh_walk_upper(sh, &w, &origin, ZPCI_TABLE_TYPE_RSX,
				   sh_rtx(start), sh_rtx(last), &prot);
		if (rc)
			break;
		fallthrough;
	case ZPCI_IOTA_RTTO:
		if (!one) {
			rc = sh_walk_rt(sh, &w, origin, start, last, prot);
			break;
		}
		rc = sh_walk_rte1(sh, &w, &origin, start, &prot);
		if (rc)
			break;
		fallthrough;
	default:	/* ZPCI_IOTA_STO */
		rc = page ? sh_walk_seg1(sh, &w, origin, start, last, prot) :
			    sh_walk_seg(sh, &w, origin, start, last, prot);
		break;
	}
	/*
	 * invalid region-first/second entry (nothing below 4 TiB is valid) or,
	 * for a range inside one segment, region-third entry
	 */
	if (rc == 1)
		rc = sh_clear_range(sh, start, last, res);
	if (rc == -ENOMEM)
		res->nomem = true;
	if (rc) {
		res->next = w.pos;
		return rc;
	}
	res->next = (last | ~SH_PAGE_MASK) + 1;
	return res->nomem ? -ENOMEM : 0;
}
EXPORT_SYMBOL_GPL(s390_shadow_refresh);

/* s390_shadow_release() with releases pending */
static noinline unsigned long sh_release_gather(struct s390_shadow *sh)
{
	unsigned long i, n = 0;

	for (i = 0; i < sh->nr_gather; i++) {
		u64 val = sh->gather[i];
		u64 addr = val & SH_PAGE_MASK;

		switch (val & SH_G_TYPE) {
		case SH_G_UNPIN:
		case SH_G_UNPIN_DIRTY:
			s390_shadow_unpin_frame(sh->priv, addr,
						(val & SH_G_TYPE) ==
						SH_G_UNPIN_DIRTY);
			sh->nr_pinned--;
			n++;
			break;
		case SH_G_PT:
			n += sh_free_pt(sh, sh_virt(addr));
			break;
		default:
			n += sh_free_st(sh, sh_virt(addr));
			break;
		}
		cond_resched();
	}
	sh->nr_gather = 0;
	return n;
}

/**
 * s390_shadow_release() - perform the releases deferred by earlier calls
 * @sh: the shadow
 *
 * Unpins the pages and frees the shadow tables that s390_shadow_refresh()
 * or s390_shadow_set_iota() removed from the shadow.  Call it only after the
 * host RPCIT covering the reported ranges completed (the device may use
 * stale translations until then).
 *
 * Context: Process context, caller holds the mutex serializing all calls on
 * @sh.  May sleep (s390_shadow_unpin_frame()).
 * Return: the number of 4 KiB pages unpinned.
 */
unsigned long s390_shadow_release(struct s390_shadow *sh)
{
	/* nothing queued (an unchanged or mapping refresh): no frame needed */
	if (!sh->nr_gather)
		return 0;
	return sh_release_gather(sh);
}
EXPORT_SYMBOL_GPL(s390_shadow_release);

/**
 * s390_shadow_set_iota() - switch to a new guest I/O translation anchor
 * @sh: the shadow
 * @iota: guest IOTA: table origin (16 KiB aligned guest-physical address) |
 *	designation type << 2 (ZPCI_IOTA_STO, _RTTO, _RSTO or _RFTO); the
 *	enable and key bits are ignored.  0 means "no guest table" (clear).
 * @res: output, describes what changed (valid whatever the return value)
 *
 * Removes every shadow mapping (queued for s390_shadow_release(), so the
 * caller flushes the host IOTLB for [@res->start, @res->end] first) and
 * makes @iota the guest table later refreshes walk.  The shadow root itself
 * stays, so the registered host IOAT remains valid.
 *
 * Context: Process context, caller holds the mutex serializing all calls on
 * @sh.  May sleep.
 * Return: 0; -EINVAL for an unsupported designation type (nothing changed);
 * -ENOMEM if the deferred release list cannot grow (nothing changed).  The
 * list always has room for 2048 entries, so -ENOMEM is impossible when no
 * release is pending (s390_shadow_release() was called after the last
 * refresh).
 */
int s390_shadow_set_iota(struct s390_shadow *sh, u64 iota,
			 struct s390_shadow_result *res)
{
	u64 dt = (iota >> 2) & 7;
	unsigned long nr = 0;
	unsigned int i;

	memset(res, 0, sizeof(*res));
	if (iota && dt > ZPCI_IOTA_RFTO)
		return -EINVAL;
	for (i = 0; i < SH_ENTRIES; i++)
		nr += sh_entry_valid(sh->root[i]);
	if (sh_gather_reserve(sh, nr))
		return -ENOMEM;
	/* cannot fail: every region is fully covered and slots are reserved */
	sh_clear_range(sh, 0, SH_RT_REACH - 1, res);
	sh->iota = iota;
	sh->has_iota = iota != 0;
	if (!iota)
		sh->reach = 0;
	else if (dt == ZPCI_IOTA_STO)
		sh->reach = SH_ST_REACH;
	else
		sh->reach = SH_RT_REACH;
	return 0;
}
EXPORT_SYMBOL_GPL(s390_shadow_set_iota);

/**
 * s390_shadow_lookup() - translate one IOVA through the shadow
 * @sh: the shadow
 * @iova: IOVA to translate (bytes)
 * @hpa: output, host physical address for @iova (page offset kept)
 * @prot: output, true if the translation is read-only for the device
 *
 * Intended for tests and debugging.
 *
 * Context: Caller holds the mutex serializing all calls on @sh.  Does not
 * sleep.
 * Return: true if the shadow holds a valid translation for @iova.
 */
bool s390_shadow_lookup(struct s390_shadow *sh, u64 iova, u64 *hpa, bool *prot)
{
	u64 *pt, pte;

	if (iova >= SH_RT_REACH)
		return false;
	pt = sh_shadow_pt(sh, iova);
	if (!pt)
		return false;
	pte = READ_ONCE(pt[sh_px(iova)]);
	if (!sh_pte_valid(pte))
		return false;
	*hpa = (pte & ZPCI_PTE_ADDR_MASK) | (iova & ~SH_PAGE_MASK);
	*prot = pte & ZPCI_TABLE_PROT_MASK;
	return true;
}
EXPORT_SYMBOL_GPL(s390_shadow_lookup);

/*
 * Call @fn for every valid shadow PTE in [start, last], in IOVA order, with
 * its page table and index; a non-zero return stops the walk. Visits only
 * valid shadow tables, so the cost follows the shadow's population.
 */
static int sh_walk_valid(struct s390_shadow *sh, u64 start, u64 last,
			 int (*fn)(u64 *pt, unsigned int px, u64 iova,
				   void *arg),
			 void *arg)
{
	unsigned int rtx, sx, px;
	u64 *st, *pt, iova;
	int rc;

	if (start > last || start >= SH_RT_REACH)
		return 0;
	last = min(last, SH_RT_REACH - 1);
	for (rtx = sh_rtx(start); rtx <= sh_rtx(last); rtx++) {
		if (!sh_entry_valid(sh->root[rtx]))
			continue;
		st = sh_virt(sh->root[rtx] & ZPCI_RTE_ADDR_MASK);
		for (sx = 0; sx < SH_ENTRIES; sx++) {
			if (!sh_entry_valid(st[sx]))
				continue;
			pt = sh_virt(st[sx] & ZPCI_STE_ADDR_MASK);
			for (px = 0; px < SH_PTES; px++) {
				iova = ((u64)rtx << SH_REG_SHIFT) |
				       ((u64)sx << SH_SEG_SHIFT) |
				       ((u64)px << SH_PAGE_SHIFT);
				if (iova < (start & SH_PAGE_MASK) || iova > last ||
				    !sh_pte_valid(pt[px]))
					continue;
				rc = fn(pt, px, iova, arg);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

struct sh_visit_ctx {
	int (*fn)(void *arg, u64 iova, u64 hpa, bool prot);
	void *arg;
};

static int sh_visit_fn(u64 *pt, unsigned int px, u64 iova, void *arg)
{
	struct sh_visit_ctx *v = arg;

	return v->fn(v->arg, iova, pt[px] & ZPCI_PTE_ADDR_MASK,
		     pt[px] & ZPCI_TABLE_PROT_MASK);
}

/**
 * s390_shadow_for_each() - Visit every valid shadow translation in a range
 * @sh: the shadow
 * @start: first IOVA of the range (bytes)
 * @last: last IOVA of the range (bytes, inclusive)
 * @fn: called for each valid shadow PTE in IOVA order with the page's IOVA,
 *	the host physical address it maps to and whether it is read-only;
 *	a non-zero return stops the walk
 * @arg: first argument of @fn
 *
 * For tests and debugging: walks only valid shadow tables, so the cost
 * follows the shadow's population, not the size of the range.
 *
 * Context: the caller's shadow mutex held.
 * Return: 0 after a complete walk, else the first non-zero value of @fn.
 */
int s390_shadow_for_each(struct s390_shadow *sh, u64 start, u64 last,
			 int (*fn)(void *arg, u64 iova, u64 hpa, bool prot),
			 void *arg)
{
	struct sh_visit_ctx v = { .fn = fn, .arg = arg };

	return sh_walk_valid(sh, start, last, sh_visit_fn, &v);
}
EXPORT_SYMBOL_GPL(s390_shadow_for_each);

/*
 * Clear the shadow PTEs of the linked page table @pt (segment at @base) that
 * were built from a guest frame in [@first, @last]; unlink the table if that
 * leaves it empty.  -EAGAIN when the deferred release list is full.
 */
static int sh_unmap_gpa_pt(struct s390_shadow *sh, u64 *pt, u64 base,
			   u64 first, u64 last, struct s390_shadow_result *res)
{
	unsigned int px;
	int delta = 0;
	int rc = 0;

	for (px = 0; px < SH_PTES; px++) {
		u64 gpa = sh_seen_val(pt, px) & ZPCI_PTE_ADDR_MASK;

		if (!sh_pte_valid(pt[px]) || gpa < first || gpa > last)
			continue;
		if (sh->max_gather - sh->nr_gather < SH_ROOM_PTE) {
			rc = -EAGAIN;
			break;
		}
		sh_clear_pte(sh, pt, px, base + ((u64)px << SH_PAGE_SHIFT), res);
		delta--;
	}
	if (delta && sh_pt_account(pt, delta))
		sh_drop_pt(sh, base, res);
	return rc;
}

/**
 * s390_shadow_unmap_gpa() - Remove the translations of a guest-physical range
 * @sh: the shadow
 * @first: first guest-physical address of the range (bytes)
 * @last: last guest-physical address of the range (bytes, inclusive)
 * @res: output, describes what changed (valid whatever the return value)
 *
 * Clears every valid shadow PTE that was built from a guest frame in
 * [@first, @last], whatever IOVA maps it, and queues its release: for guest
 * memory that goes away under the guest (a memslot deleted or moved, a range
 * unmapped from the parent domain). The guest tables are not read; a later
 * refresh of such an IOVA finds the frame no longer backed. The walk visits
 * only valid shadow tables. A page table (segment table) left without a
 * valid entry is unlinked and queued as well; @res then covers its whole
 * segment (region).  @res->next and @res->visited are not used (0).
 *
 * Context: Process context, caller holds the mutex serializing all calls on
 * @sh.  Does not sleep.
 * Return: 0 when no such translation is left; -EAGAIN when the deferred
 * release list is full (unlike the -EAGAIN of s390_shadow_refresh(), this
 * is not a work bound: the walk is bounded by the shadow's population):
 * issue the host RPCIT for @res, call s390_shadow_release() and call again
 * (the list then has room for at least 2048 entries, so every call makes
 * progress).
 */
int s390_shadow_unmap_gpa(struct s390_shadow *sh, u64 first, u64 last,
			  struct s390_shadow_result *res)
{
	unsigned int rtx, sx;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	first &= SH_PAGE_MASK;
	for (rtx = 0; rtx < SH_ENTRIES && !rc; rtx++) {
		u64 rbase = (u64)rtx << SH_REG_SHIFT;
		bool dropped = false;
		u64 *st;

		if (!sh_entry_valid(sh->root[rtx]))
			continue;
		st = sh_virt(sh->root[rtx] & ZPCI_RTE_ADDR_MASK);
		for (sx = 0; sx < SH_ENTRIES && !rc; sx++) {
			if (!sh_entry_valid(st[sx]))
				continue;
			rc = sh_unmap_gpa_pt(sh, sh_virt(st[sx] & ZPCI_STE_ADDR_MASK),
					     rbase + ((u64)sx << SH_SEG_SHIFT),
					     first, last, res);
			if (!sh_entry_valid(st[sx]))
				dropped = true;
		}
		if (dropped)
			sh_drop_st(sh, rbase, res);
	}
	return rc;
}
EXPORT_SYMBOL_GPL(s390_shadow_unmap_gpa);

/**
 * s390_shadow_root_phys() - physical address of the shadow root table
 * @sh: the shadow
 *
 * The root is a region-third table in hardware format: register
 * s390_shadow_root_phys() | ZPCI_IOTA_RTTO_FLAG as the function's IOAT.
 * It does not change between s390_shadow_init() and s390_shadow_destroy().
 *
 * Context: Any context.  Does not sleep.
 * Return: the physical address (16 KiB aligned).
 */
u64 s390_shadow_root_phys(struct s390_shadow *sh)
{
	return sh_phys(sh->root);
}
EXPORT_SYMBOL_GPL(s390_shadow_root_phys);

static void sh_free_buffers(struct s390_shadow *sh)
{
	if (sh->root)
		s390_shadow_free_table(sh->priv, sh->root);
	if (sh->buf_rt)
		s390_shadow_free_table(sh->priv, sh->buf_rt);
	if (sh->buf_st)
		s390_shadow_free_table(sh->priv, sh->buf_st);
	if (sh->buf_pt)
		s390_shadow_free_pt(sh->priv, sh->buf_pt);
	kvfree(sh->gather);
	kvfree(sh->nr_ste);
	sh->root = NULL;
	sh->buf_rt = NULL;
	sh->buf_st = NULL;
	sh->buf_pt = NULL;
	sh->gather = NULL;
	sh->nr_ste = NULL;
}

/**
 * s390_shadow_init() - set up an empty shadow
 * @sh: the shadow to initialize (caller-allocated; overwritten)
 * @priv: first argument of every call of the user's services
 *	(s390_shadow_read_guest() etc., see s390-kvm-shadow.h)
 *
 * Allocates the shadow root (a region-third table with all 2048 entries
 * invalid), the guest-table read buffers, the deferred release list and
 * the per-region counts of valid segment table entries.
 * No guest IOTA is set: refreshes fail with -EINVAL until
 * s390_shadow_set_iota() is called.
 *
 * Context: Process context.  May sleep (allocations).
 * Return: 0 or -ENOMEM (nothing allocated).
 */
int s390_shadow_init(struct s390_shadow *sh, void *priv)
{
	unsigned int i;

	memset(sh, 0, sizeof(*sh));
	sh->priv = priv;
	sh->root = s390_shadow_alloc_table(priv);
	sh->buf_rt = s390_shadow_alloc_table(priv);
	sh->buf_st = s390_shadow_alloc_table(priv);
	sh->buf_pt = s390_shadow_alloc_pt(priv);
	sh->gather = kvrealloc(NULL, SH_GATHER_MIN * sizeof(u64),
			       GFP_KERNEL_ACCOUNT);
	sh->nr_ste = kvrealloc(NULL, SH_ENTRIES * sizeof(*sh->nr_ste),
			       GFP_KERNEL_ACCOUNT);
	if (!sh->root || !sh->buf_rt || !sh->buf_st || !sh->buf_pt ||
	    !sh->gather || !sh->nr_ste) {
		sh_free_buffers(sh);
		return -ENOMEM;
	}
	sh->max_gather = SH_GATHER_MIN;
	for (i = 0; i < SH_ENTRIES; i++) {
		sh->root[i] = ZPCI_TABLE_INVALID;
		sh->nr_ste[i] = 0;
	}
	sh->nr_tables = 1;
	return 0;
}
EXPORT_SYMBOL_GPL(s390_shadow_init);

/**
 * s390_shadow_destroy() - release all shadow state
 * @sh: the shadow (initialized by s390_shadow_init())
 *
 * Performs pending deferred releases, unpins every page still mapped and
 * frees every shadow table including the root.  The caller guarantees that
 * no device uses the shadow any more (IOAT deregistered and flushed).
 *
 * Context: Process context, no concurrent call on @sh.  May sleep.
 */
void s390_shadow_destroy(struct s390_shadow *sh)
{
	unsigned int i;

	if (!sh->root)
		return;
	s390_shadow_release(sh);
	for (i = 0; i < SH_ENTRIES; i++) {
		if (!sh_entry_valid(sh->root[i]))
			continue;
		sh_free_st(sh, sh_virt(sh->root[i] & ZPCI_RTE_ADDR_MASK));
		sh->root[i] = ZPCI_TABLE_INVALID;
		sh->nr_ste[i] = 0;
	}
	sh->nr_tables--;
	sh_free_buffers(sh);
	sh->has_iota = false;
	sh->iota = 0;
	sh->reach = 0;
}
EXPORT_SYMBOL_GPL(s390_shadow_destroy);

MODULE_DESCRIPTION("s390 zPCI shadow I/O translation tables for KVM guests");
MODULE_LICENSE("GPL");
