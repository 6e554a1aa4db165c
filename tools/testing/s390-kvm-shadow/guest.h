/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fake guest for the host-native tests of the s390 KVM shadow engine:
 * guest RAM at GPA 0, pin accounting, failure injection, and helpers that
 * build guest I/O translation tables (big-endian, like a Linux guest).
 */
#ifndef _SHADOW_TEST_GUEST_H
#define _SHADOW_TEST_GUEST_H

#include <linux/bits.h>
#include <linux/types.h>
#include <asm/page.h>
#include <asm/pci_dma.h>
#include "s390-kvm-shadow.h"

#define G_PAGE		4096ULL
#define G_SEG		BIT_ULL(20)
#define G_REG		BIT_ULL(31)
#define G_REACH		BIT_ULL(42)

struct fake_guest {
	u8 *ram;
	u64 size;		/* guest RAM: [0, size) */
	u64 data_end;		/* data pages below, guest tables above */
	u64 table_next;		/* bump allocator for guest tables */
	u32 *pins;		/* per guest page */
	u32 *wpins;		/* writable pins per guest page */
	long nr_pins;
	long pin_limit;		/* < 0: unlimited */
	long pin_calls, unpin_calls, read_calls;
	long tables_live, pts_live;
	long fail_table_in;	/* fail the n-th next table alloc (1 = next), 0 off */
	long fail_pt_in;
	long fail_realloc_in;
	long fail_pin_in;	/* fail the n-th next pin with fail_pin_rc */
	int fail_pin_rc;
	long errors;		/* accounting violations seen by the services */
	bool trivial_pin;	/* bench: no accounting */
	u64 dirty_lo, dirty_hi;	/* RAM written since init/recycle: [lo, hi) */
	u32 *chk_cnt, *chk_wcnt;	/* scratch of shadow_check() */
};

/*
 * guest.c defines the engine's services (s390_shadow_read_guest() etc.);
 * the shadow's @priv is the struct fake_guest.
 */
int fg_init(struct fake_guest *fg, u64 size);
void fg_destroy(struct fake_guest *fg);
/* back to the state right after fg_init(), keeping the buffers */
void fg_recycle(struct fake_guest *fg);
void fg_reset_tables(struct fake_guest *fg);

/* guest memory accessors (table entries are big-endian) */
u64 fg_rd(struct fake_guest *fg, u64 gpa);
void fg_wr(struct fake_guest *fg, u64 gpa, u64 val);
/* allocate a guest table: region/segment (16 KiB) or page table (2 KiB) */
u64 fg_alloc_rst(struct fake_guest *fg);
u64 fg_alloc_pt(struct fake_guest *fg);
u64 fg_hpa(struct fake_guest *fg, u64 gpa);

/* guest-side table building, like the Linux s390-iommu driver */
u64 fg_new_root(struct fake_guest *fg, int dt);	/* returns the IOTA */
/* address of the guest entry for @iova at @level (0 PTE, 1 STE, 2 RTE, 3 RSE,
 * 4 RFE), creating missing lower tables; 0 if the IOTA has no such level
 */
u64 fg_entry_addr(struct fake_guest *fg, u64 iota, u64 iova, int level,
		  bool create);
void fg_map(struct fake_guest *fg, u64 iota, u64 iova, u64 gpa, bool prot);
void fg_unmap(struct fake_guest *fg, u64 iota, u64 iova);

/* reference walk: 1 valid, 0 invalid, -1 table error */
int fg_ref_walk(struct fake_guest *fg, u64 iota, u64 iova, u64 *gpa,
		bool *prot);

/* number of valid PTEs in a shadow (walks the hardware format) */
unsigned long shadow_count_valid(struct s390_shadow *sh);

/*
 * Recount the shadow and compare with the engine's and the fake's books:
 * nr_pts/nr_tables equal the linked tables plus those queued for release,
 * the fake's live table counts match (plus the scratch buffers), every
 * page's pin count equals the valid shadow PTEs mapping it plus its queued
 * unpins (so no shadow PTE maps a frame that is not pinned), no linked
 * page/segment table is without a valid entry, and the engine's
 * bookkeeping matches the tables: every page table's valid count (linked
 * or queued) equals its valid PTEs, its seen slots are 0 exactly for the
 * invalid PTEs and carry the protection of the valid ones, and sh->nr_ste
 * equals the valid entries of every linked segment table (0 for an
 * invalid root entry).  Returns 0 or -1 after
 * printing what differs.
 */
int shadow_check(struct fake_guest *fg, struct s390_shadow *sh);

#endif
