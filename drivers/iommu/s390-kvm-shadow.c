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
 * - The shadow only ever maps guest RAM (ops->pin decides), read-only when
 *   the guest PTE or one of the region/segment entries above it has the
 *   protection bit set.
 * - Entries are cleared with WRITE_ONCE() and new tables are linked only
 *   after they are fully initialized, because the device walks the shadow
 *   concurrently.
 * - Pages and tables the device may still reach through its IOTLB are not
 *   released by refresh: they are queued and released by
 *   s390_shadow_release() once the caller has issued the host RPCIT.
 * - A shadow page table is 4 KiB: the first 2 KiB are the 256 hardware
 *   PTEs, the second 2 KiB hold the guest PTE value (with inherited
 *   protection) that each shadow PTE was built from, so an unchanged guest
 *   PTE costs a compare, not a pin.
 *
 * Copyright IBM Corp. 2026
 */

#include <linux/bits.h>
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/sched.h>
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

/* Guest PTE values the shadow PTEs were built from */
static inline u64 *sh_seen(u64 *pt)
{
	return pt + SH_PTES;
}

static inline u64 *sh_virt(struct s390_shadow *sh, u64 phys)
{
	return sh->ops->phys_to_virt(sh->priv, phys);
}

static inline u64 sh_phys(struct s390_shadow *sh, void *virt)
{
	return sh->ops->virt_to_phys(sh->priv, virt);
}

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
	p = sh->ops->realloc(sh->priv, sh->gather, want * sizeof(*p));
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

static unsigned long sh_pt_count(const u64 *pt)
{
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < SH_PTES; i++)
		n += sh_pte_valid(pt[i]);
	return n;
}

static unsigned long sh_st_count(struct s390_shadow *sh, const u64 *st)
{
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < SH_ENTRIES; i++)
		if (sh_entry_valid(st[i]))
			n += sh_pt_count(sh_virt(sh, st[i] & ZPCI_STE_ADDR_MASK));
	return n;
}

/* Unpin every page of a detached page table and free it */
static unsigned long sh_free_pt(struct s390_shadow *sh, u64 *pt)
{
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < SH_PTES; i++) {
		if (!sh_pte_valid(pt[i]))
			continue;
		sh->ops->unpin(sh->priv, pt[i] & ZPCI_PTE_ADDR_MASK,
			       !(pt[i] & ZPCI_TABLE_PROT_MASK));
		sh->nr_pinned--;
		n++;
	}
	sh->ops->free_pt(sh->priv, pt);
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
		n += sh_free_pt(sh, sh_virt(sh, st[i] & ZPCI_STE_ADDR_MASK));
		cond_resched();
	}
	sh->ops->free_table(sh->priv, st);
	sh->nr_tables--;
	return n;
}

/* Clear one valid shadow PTE and queue its unpin; one gather slot reserved */
static void sh_clear_pte(struct s390_shadow *sh, u64 *pt, unsigned int i,
			 u64 iova, struct s390_shadow_result *res)
{
	u64 old = pt[i];

	WRITE_ONCE(pt[i], ZPCI_PTE_INVALID);
	sh_seen(pt)[i] = ZPCI_PTE_INVALID;
	sh_gather_add(sh, (old & ZPCI_PTE_ADDR_MASK) |
		      ((old & ZPCI_TABLE_PROT_MASK) ? SH_G_UNPIN : SH_G_UNPIN_DIRTY));
	res->unpinned++;
	sh_res_add(res, iova, iova + SH_PAGE_SIZE - 1, true);
}

/*
 * Clear [start, last] (inside one segment) below the valid shadow segment
 * entry @step.  A fully covered segment is detached as a whole.
 */
static int sh_clear_seg(struct s390_shadow *sh, u64 *step, u64 start, u64 last,
			struct s390_shadow_result *res)
{
	u64 base = start & ~(SH_SEG_SIZE - 1);
	u64 *pt = sh_virt(sh, *step & ZPCI_STE_ADDR_MASK);
	unsigned int i;

	if (start == base && last == base + SH_SEG_SIZE - 1) {
		if (sh_gather_reserve(sh, 1))
			return -ENOMEM;
		WRITE_ONCE(*step, ZPCI_TABLE_INVALID);
		sh_gather_add(sh, sh_phys(sh, pt) | SH_G_PT);
		res->unpinned += sh_pt_count(pt);
		sh_res_add(res, start, last, true);
		return 0;
	}
	for (i = sh_px(start); i <= sh_px(last); i++) {
		if (!sh_pte_valid(pt[i]))
			continue;
		if (sh_gather_reserve(sh, 1))
			return -ENOMEM;
		sh_clear_pte(sh, pt, i, base + ((u64)i << SH_PAGE_SHIFT), res);
	}
	return 0;
}

/*
 * Clear [start, last] (inside one region-third entry) below the valid
 * shadow region entry @rtep.  A fully covered region is detached as a whole.
 */
static int sh_clear_region(struct s390_shadow *sh, u64 *rtep, u64 start,
			   u64 last, struct s390_shadow_result *res)
{
	u64 base = start & ~(SH_REG_SIZE - 1);
	u64 *st = sh_virt(sh, *rtep & ZPCI_RTE_ADDR_MASK);
	unsigned int i;
	int rc;

	if (start == base && last == base + SH_REG_SIZE - 1) {
		if (sh_gather_reserve(sh, 1))
			return -ENOMEM;
		WRITE_ONCE(*rtep, ZPCI_TABLE_INVALID);
		sh_gather_add(sh, sh_phys(sh, st) | SH_G_ST);
		res->unpinned += sh_st_count(sh, st);
		sh_res_add(res, start, last, true);
		return 0;
	}
	for (i = sh_sx(start); i <= sh_sx(last); i++) {
		u64 s = base + ((u64)i << SH_SEG_SHIFT);

		if (!sh_entry_valid(st[i]))
			continue;
		rc = sh_clear_seg(sh, &st[i], max(start, s),
				  min(last, s + SH_SEG_SIZE - 1), res);
		if (rc)
			return rc;
	}
	return 0;
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

/* Shadow segment table entry for @iova, NULL if there is no segment table */
static u64 *sh_shadow_ste(struct s390_shadow *sh, u64 iova)
{
	u64 rte = sh->root[sh_rtx(iova)];

	if (!sh_entry_valid(rte))
		return NULL;
	return sh_virt(sh, rte & ZPCI_RTE_ADDR_MASK) + sh_sx(iova);
}

/*
 * Find the shadow page table for @iova; with @alloc, create the missing
 * segment and page tables.  Tables are fully initialized before they are
 * linked, so the device never sees a half-built table.
 */
static int sh_get_pt(struct s390_shadow *sh, u64 iova, bool alloc, u64 **ptp)
{
	u64 *rtep = &sh->root[sh_rtx(iova)];
	u64 *st, *step, *pt;
	unsigned int i;

	*ptp = NULL;
	if (sh_entry_valid(*rtep)) {
		st = sh_virt(sh, *rtep & ZPCI_RTE_ADDR_MASK);
	} else {
		if (!alloc)
			return 0;
		st = sh->ops->alloc_table(sh->priv);
		if (!st)
			return -ENOMEM;
		for (i = 0; i < SH_ENTRIES; i++)
			st[i] = ZPCI_TABLE_INVALID;
		sh->nr_tables++;
		dma_wmb();
		WRITE_ONCE(*rtep, (sh_phys(sh, st) & ZPCI_RTE_ADDR_MASK) |
			   ZPCI_TABLE_TYPE_RTX | ZPCI_TABLE_LEN_RTX |
			   ZPCI_TABLE_VALID | ZPCI_TABLE_UNPROTECTED);
	}
	step = &st[sh_sx(iova)];
	if (sh_entry_valid(*step)) {
		*ptp = sh_virt(sh, *step & ZPCI_STE_ADDR_MASK);
		return 0;
	}
	if (!alloc)
		return 0;
	pt = sh->ops->alloc_pt(sh->priv);
	if (!pt)
		return -ENOMEM;
	for (i = 0; i < 2 * SH_PTES; i++)
		pt[i] = ZPCI_PTE_INVALID;
	sh->nr_pts++;
	dma_wmb();
	WRITE_ONCE(*step, (sh_phys(sh, pt) & ZPCI_STE_ADDR_MASK) |
		   ZPCI_TABLE_TYPE_SX | ZPCI_TABLE_VALID |
		   ZPCI_TABLE_UNPROTECTED);
	*ptp = pt;
	return 0;
}

/* Read @n guest table entries at @gpa in one call */
static int sh_read(struct s390_shadow *sh, u64 gpa, void *buf, unsigned int n,
		   struct s390_shadow_result *res)
{
	res->reads++;
	if (sh->ops->read(sh->priv, gpa, buf, n * sizeof(__be64)))
		return -EFAULT;
	return 0;
}

/*
 * Map shadow PTE @i of @pt (IOVA @iova) for guest PTE value @g (valid,
 * inherited protection included).  The new page is pinned before the old
 * one is queued for release.  If the new page cannot be pinned, the old
 * translation is removed as well: the guest no longer wants it.
 */
static int sh_map_pte(struct s390_shadow *sh, u64 *pt, unsigned int i,
		      u64 iova, u64 g, struct s390_shadow_result *res)
{
	bool write = !(g & ZPCI_TABLE_PROT_MASK);
	u64 old = pt[i];
	u64 hpa, pte;
	int rc;

	if (sh_pte_valid(old) && sh_gather_reserve(sh, 1))
		return -ENOMEM;
	rc = sh->ops->pin(sh->priv, g & ZPCI_PTE_ADDR_MASK, write, &hpa);
	if (rc) {
		if (sh_pte_valid(old))
			sh_clear_pte(sh, pt, i, iova, res);
		return rc == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	pte = (hpa & ZPCI_PTE_ADDR_MASK) | ZPCI_PTE_VALID |
	      (write ? ZPCI_TABLE_UNPROTECTED : ZPCI_TABLE_PROTECTED);
	WRITE_ONCE(pt[i], pte);
	sh_seen(pt)[i] = g;
	sh->nr_pinned++;
	res->pinned++;
	if (sh_pte_valid(old)) {
		sh_gather_add(sh, (old & ZPCI_PTE_ADDR_MASK) |
			      ((old & ZPCI_TABLE_PROT_MASK) ?
			       SH_G_UNPIN : SH_G_UNPIN_DIRTY));
		res->unpinned++;
	}
	sh_res_add(res, iova, iova + SH_PAGE_SIZE - 1, sh_pte_valid(old));
	return 0;
}

/* [start, last] lies in one segment; @pto is the guest page table origin */
static int sh_walk_pt(struct s390_shadow *sh, u64 pto, u64 start, u64 last,
		      u64 prot, struct s390_shadow_result *res)
{
	unsigned int first = sh_px(start), lastx = sh_px(last), i;
	u64 base = start & ~(SH_SEG_SIZE - 1);
	__be64 *buf = sh->buf_pt;
	u64 *pt;
	int rc;

	rc = sh_read(sh, pto + first * sizeof(__be64), buf, lastx - first + 1,
		     res);
	if (rc)
		return rc;
	sh_get_pt(sh, start, false, &pt);
	for (i = first; i <= lastx; i++) {
		u64 g = be64_to_cpu(buf[i - first]);
		u64 iova = base + ((u64)i << SH_PAGE_SHIFT);

		res->visited++;
		if (!sh_pte_valid(g)) {
			if (pt && sh_pte_valid(pt[i])) {
				if (sh_gather_reserve(sh, 1))
					return -ENOMEM;
				sh_clear_pte(sh, pt, i, iova, res);
			}
			continue;
		}
		g |= prot;
		if (pt && sh_pte_valid(pt[i]) && sh_seen(pt)[i] == g)
			continue;
		if (!pt) {
			rc = sh_get_pt(sh, start, true, &pt);
			if (rc)
				return rc;
		}
		rc = sh_map_pte(sh, pt, i, iova, g, res);
		if (rc)
			return rc;
	}
	return 0;
}

/* [start, last] lies in one region; @sto is the guest segment table origin */
static int sh_walk_seg(struct s390_shadow *sh, u64 sto, u64 start, u64 last,
		       u64 prot, struct s390_shadow_result *res)
{
	unsigned int first = sh_sx(start), lastx = sh_sx(last), i;
	u64 base = start & ~(SH_REG_SIZE - 1);
	__be64 *buf = sh->buf_st;
	int rc;

	rc = sh_read(sh, sto + first * sizeof(__be64), buf, lastx - first + 1,
		     res);
	if (rc)
		return rc;
	for (i = first; i <= lastx; i++) {
		u64 g = be64_to_cpu(buf[i - first]);
		u64 s = base + ((u64)i << SH_SEG_SHIFT);
		u64 l = min(last, s + SH_SEG_SIZE - 1);
		u64 *step;

		s = max(start, s);
		res->visited++;
		if (!sh_entry_valid(g)) {
			step = sh_shadow_ste(sh, s);
			if (step && sh_entry_valid(*step)) {
				rc = sh_clear_seg(sh, step, s, l, res);
				if (rc)
					return rc;
			}
			continue;
		}
		if ((g & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_SX)
			return -EINVAL;
		rc = sh_walk_pt(sh, g & ZPCI_STE_ADDR_MASK, s, l,
				prot | (g & ZPCI_TABLE_PROT_MASK), res);
		if (rc)
			return rc;
		/* a global refresh may walk many page tables */
		cond_resched();
	}
	return 0;
}

/* [start, last] below 4 TiB; @rto is the guest region-third table origin */
static int sh_walk_rt(struct s390_shadow *sh, u64 rto, u64 start, u64 last,
		      u64 prot, struct s390_shadow_result *res)
{
	unsigned int first = sh_rtx(start), lastx = sh_rtx(last), i;
	__be64 *buf = sh->buf_rt;
	int rc;

	rc = sh_read(sh, rto + first * sizeof(__be64), buf, lastx - first + 1,
		     res);
	if (rc)
		return rc;
	for (i = first; i <= lastx; i++) {
		u64 g = be64_to_cpu(buf[i - first]);
		u64 s = (u64)i << SH_REG_SHIFT;
		u64 l = min(last, s + SH_REG_SIZE - 1);
		unsigned int tf, tl;

		s = max(start, s);
		res->visited++;
		if (!sh_entry_valid(g)) {
			if (sh_entry_valid(sh->root[i])) {
				rc = sh_clear_region(sh, &sh->root[i], s, l,
						     res);
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
		rc = sh_walk_seg(sh, g & ZPCI_RTE_ADDR_MASK, s, l,
				 prot | (g & ZPCI_TABLE_PROT_MASK), res);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Follow entry 0 of a guest region-first or region-second table at
 * *@origin (IOVAs below 4 TiB only use index 0 of those tables).  The
 * entry's table offset/length must cover the next-level indices
 * @nfirst..@nlast.  Returns 1 if the entry is invalid, 0 with *@origin and
 * *@prot updated, or -EFAULT/-EINVAL.
 */
static int sh_walk_upper(struct s390_shadow *sh, u64 *origin, u64 type,
			 unsigned int nfirst, unsigned int nlast, u64 *prot,
			 struct s390_shadow_result *res)
{
	__be64 *buf = sh->buf_rt;
	unsigned int tf, tl;
	u64 g;
	int rc;

	rc = sh_read(sh, *origin, buf, 1, res);
	if (rc)
		return rc;
	g = be64_to_cpu(buf[0]);
	res->visited++;
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
 * table slice per ops->read call.  Cleared pages and tables are queued, not
 * released: the caller must issue the host RPCIT for [@res->start,
 * @res->end] when @res->changed and (@res->removed or the function requires
 * refresh), and then call s390_shadow_release().
 *
 * The range is checked only against the reach of the shadow: 4 TiB (the
 * region-third root; also for RSTO/RFTO guests, whose region-first/second
 * index is then 0) or 2 GiB for a segment-table (STO) guest; the caller
 * checks the function's aperture.  A zero @len does nothing.
 *
 * Table type, offset and length of a guest region/segment entry are checked
 * only when the entry is valid (Linux writes invalid entries as bare 0x20).
 * On error the walk stops: entries already processed have their new value,
 * entries not reached keep their old one (their pages stay pinned), all pins
 * are accounted and @res covers what changed so far.  A shadow PTE whose new
 * guest frame cannot be pinned is left invalid.
 *
 * Context: Process context, caller holds the mutex serializing all calls on
 * @sh; the device may walk the shadow concurrently.  May sleep (ops).
 * Return: 0 on success;
 * -EINVAL if the range wraps or exceeds the reach, no guest IOTA is set, or
 * a guest region/segment entry has a wrong table type or the index is outside
 * its table offset/length;
 * -EFAULT if a guest table is not readable or a PTE frame is not guest RAM
 * (the caller maps -EINVAL and -EFAULT to RPCIT cc 1 status 8);
 * -ENOMEM if a pin hit the limit or memory ran out (cc 1 status 16).
 */
int s390_shadow_refresh(struct s390_shadow *sh, u64 iova, u64 len,
			struct s390_shadow_result *res)
{
	u64 dt = (sh->iota >> 2) & 7;
	u64 start, last, origin, prot = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!len)
		return 0;
	last = iova + len - 1;
	if (last < iova || !sh->has_iota || last >= sh->reach)
		return -EINVAL;
	start = iova & SH_PAGE_MASK;
	origin = sh->iota & ZPCI_RTE_ADDR_MASK;

	switch (dt) {
	case ZPCI_IOTA_STO:
		return sh_walk_seg(sh, origin, start, last, 0, res);
	case ZPCI_IOTA_RFTO:
		/* region-second index of IOVAs below 4 TiB: 0 */
		rc = sh_walk_upper(sh, &origin, ZPCI_TABLE_TYPE_RFX, 0, 0,
				   &prot, res);
		if (rc)
			break;
		fallthrough;
	case ZPCI_IOTA_RSTO:
		rc = sh_walk_upper(sh, &origin, ZPCI_TABLE_TYPE_RSX,
				   sh_rtx(start), sh_rtx(last), &prot, res);
		if (rc)
			break;
		fallthrough;
	default:
		return sh_walk_rt(sh, origin, start, last, prot, res);
	}
	if (rc < 0)
		return rc;
	/* invalid region-first/second entry: nothing below 4 TiB is valid */
	return sh_clear_range(sh, start, last, res);
}
EXPORT_SYMBOL_GPL(s390_shadow_refresh);

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
 * @sh.  May sleep (ops->unpin).
 * Return: the number of 4 KiB pages unpinned.
 */
unsigned long s390_shadow_release(struct s390_shadow *sh)
{
	unsigned long i, n = 0;

	for (i = 0; i < sh->nr_gather; i++) {
		u64 val = sh->gather[i];
		u64 addr = val & SH_PAGE_MASK;

		switch (val & SH_G_TYPE) {
		case SH_G_UNPIN:
		case SH_G_UNPIN_DIRTY:
			sh->ops->unpin(sh->priv, addr,
				       (val & SH_G_TYPE) == SH_G_UNPIN_DIRTY);
			sh->nr_pinned--;
			n++;
			break;
		case SH_G_PT:
			n += sh_free_pt(sh, sh_virt(sh, addr));
			break;
		default:
			n += sh_free_st(sh, sh_virt(sh, addr));
			break;
		}
		cond_resched();
	}
	sh->nr_gather = 0;
	return n;
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
	sh_get_pt(sh, iova, false, &pt);
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
		st = sh_virt(sh, sh->root[rtx] & ZPCI_RTE_ADDR_MASK);
		for (sx = 0; sx < SH_ENTRIES; sx++) {
			if (!sh_entry_valid(st[sx]))
				continue;
			pt = sh_virt(sh, st[sx] & ZPCI_STE_ADDR_MASK);
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

struct sh_unmap_gpa {
	struct s390_shadow *sh;
	u64 first;
	u64 last;
	struct s390_shadow_result *res;
};

/* Clear one shadow PTE built from a frame in the range, if there is room */
static int sh_unmap_gpa_pte(u64 *pt, unsigned int px, u64 iova, void *arg)
{
	struct sh_unmap_gpa *u = arg;
	struct s390_shadow *sh = u->sh;
	u64 gpa = sh_seen(pt)[px] & ZPCI_PTE_ADDR_MASK;

	if (gpa < u->first || gpa > u->last)
		return 0;
	if (sh->nr_gather == sh->max_gather)
		return -EAGAIN;
	sh_clear_pte(sh, pt, px, iova, u->res);
	return 0;
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
 * only valid shadow tables.
 *
 * Context: Process context, caller holds the mutex serializing all calls on
 * @sh.  Does not sleep.
 * Return: 0 when no such translation is left; -EAGAIN when the deferred
 * release list is full: issue the host RPCIT for @res, call
 * s390_shadow_release() and call again (the list then has room for at
 * least 2048 entries, so every call makes progress).
 */
int s390_shadow_unmap_gpa(struct s390_shadow *sh, u64 first, u64 last,
			  struct s390_shadow_result *res)
{
	struct sh_unmap_gpa u = { .sh = sh, .first = first & SH_PAGE_MASK,
				  .last = last, .res = res };

	memset(res, 0, sizeof(*res));
	return sh_walk_valid(sh, 0, SH_RT_REACH - 1, sh_unmap_gpa_pte, &u);
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
	return sh_phys(sh, sh->root);
}
EXPORT_SYMBOL_GPL(s390_shadow_root_phys);

static void sh_free_buffers(struct s390_shadow *sh)
{
	if (sh->root)
		sh->ops->free_table(sh->priv, sh->root);
	if (sh->buf_rt)
		sh->ops->free_table(sh->priv, sh->buf_rt);
	if (sh->buf_st)
		sh->ops->free_table(sh->priv, sh->buf_st);
	if (sh->buf_pt)
		sh->ops->free_pt(sh->priv, sh->buf_pt);
	sh->ops->free(sh->priv, sh->gather);
	sh->root = NULL;
	sh->buf_rt = NULL;
	sh->buf_st = NULL;
	sh->buf_pt = NULL;
	sh->gather = NULL;
}

/**
 * s390_shadow_init() - set up an empty shadow
 * @sh: the shadow to initialize (caller-allocated; overwritten)
 * @ops: services used by the engine; must stay valid until destroy
 * @priv: passed to every @ops call
 *
 * Allocates the shadow root (a region-third table with all 2048 entries
 * invalid), the guest-table read buffers and the deferred release list.
 * No guest IOTA is set: refreshes fail with -EINVAL until
 * s390_shadow_set_iota() is called.
 *
 * Context: Process context.  May sleep (ops allocations).
 * Return: 0 or -ENOMEM (nothing allocated).
 */
int s390_shadow_init(struct s390_shadow *sh, const struct s390_shadow_ops *ops,
		     void *priv)
{
	unsigned int i;

	memset(sh, 0, sizeof(*sh));
	sh->ops = ops;
	sh->priv = priv;
	sh->root = ops->alloc_table(priv);
	sh->buf_rt = ops->alloc_table(priv);
	sh->buf_st = ops->alloc_table(priv);
	sh->buf_pt = ops->alloc_pt(priv);
	sh->gather = ops->realloc(priv, NULL, SH_GATHER_MIN * sizeof(u64));
	if (!sh->root || !sh->buf_rt || !sh->buf_st || !sh->buf_pt ||
	    !sh->gather) {
		sh_free_buffers(sh);
		return -ENOMEM;
	}
	sh->max_gather = SH_GATHER_MIN;
	for (i = 0; i < SH_ENTRIES; i++)
		sh->root[i] = ZPCI_TABLE_INVALID;
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
		sh_free_st(sh, sh_virt(sh, sh->root[i] & ZPCI_RTE_ADDR_MASK));
		sh->root[i] = ZPCI_TABLE_INVALID;
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
