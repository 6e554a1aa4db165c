// SPDX-License-Identifier: GPL-2.0
/*
 * Host-native tests of the s390 KVM shadow engine
 * (drivers/iommu/s390-kvm-shadow.c compiled unmodified against ./shim).
 *
 * Usage: shadow_test [test-name-substring] [seed]
 *        shadow_test fuzz N      deterministic fuzz loop of N inputs
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <linux/array_size.h>
#include <linux/bits.h>
#include "guest.h"
#include "fuzz_core.h"

#define RAM		(16ULL << 20)
#define GIB		BIT_ULL(30)

static int checks_failed;
static u64 seed = 0x5eed5390ULL;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "  %s:%d: %s: CHECK(%s) failed\n",	\
			__FILE__, __LINE__, __func__, #cond);		\
		checks_failed++;					\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	unsigned long long __a = (unsigned long long)(a);		\
	unsigned long long __b = (unsigned long long)(b);		\
	if (__a != __b) {						\
		fprintf(stderr, "  %s:%d: %s: %s == %#llx, expected %s == %#llx\n", \
			__FILE__, __LINE__, __func__, #a, __a, #b, __b); \
		checks_failed++;					\
	}								\
} while (0)

static u64 rnd_state;

static u64 rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

struct env {
	struct fake_guest fg;
	struct s390_shadow sh;
	u64 iota;
};

static void env_init_ram(struct env *e, int dt, u64 ram)
{
	struct s390_shadow_result r;

	if (fg_init(&e->fg, ram))
		abort();
	CHECK_EQ(s390_shadow_init(&e->sh, &e->fg), 0);
	e->iota = fg_new_root(&e->fg, dt);
	CHECK_EQ(s390_shadow_set_iota(&e->sh, e->iota, &r), 0);
	CHECK(!r.changed);
}

static void env_init(struct env *e, int dt)
{
	env_init_ram(e, dt, RAM);
}

static void check_accounting(struct env *e)
{
	CHECK_EQ(e->fg.nr_pins, e->sh.nr_pinned);
	CHECK_EQ(e->fg.errors, 0);
}

static void env_fini(struct env *e)
{
	u64 i;

	check_accounting(e);
	s390_shadow_destroy(&e->sh);
	CHECK_EQ(e->fg.nr_pins, 0);
	CHECK_EQ(e->fg.tables_live, 0);
	CHECK_EQ(e->fg.pts_live, 0);
	CHECK_EQ(e->fg.errors, 0);
	for (i = 0; i < RAM / G_PAGE && i < e->fg.size / G_PAGE; i++) {
		if (e->fg.pins[i] || e->fg.wpins[i]) {
			CHECK(!"page still pinned after destroy");
			break;
		}
	}
	fg_destroy(&e->fg);
}

static int refresh(struct env *e, u64 iova, u64 len,
		   struct s390_shadow_result *r)
{
	long unpins = e->fg.unpin_calls;
	int rc = s390_shadow_refresh(&e->sh, iova, len, r);

	/* deferred release: refresh never unpins */
	CHECK_EQ(e->fg.unpin_calls, unpins);
	check_accounting(e);
	return rc;
}

static int global(struct env *e, struct s390_shadow_result *r)
{
	u64 reach = ((e->iota >> 2) & 7) == ZPCI_IOTA_STO ? 2 * GIB : G_REACH;

	return refresh(e, 0, reach, r);
}

/* shadow translation of @iova equals guest gpa/prot (or is absent) */
static void expect_map(struct env *e, u64 iova, u64 gpa, bool prot)
{
	u64 hpa = 0;
	bool p = !prot;

	CHECK(s390_shadow_lookup(&e->sh, iova, &hpa, &p));
	CHECK_EQ(hpa, fg_hpa(&e->fg, gpa));
	CHECK_EQ(p, prot);
}

static void expect_unmapped(struct env *e, u64 iova)
{
	u64 hpa;
	bool p;

	CHECK(!s390_shadow_lookup(&e->sh, iova, &hpa, &p));
}

/* ------------------------------------------------------------------ */

static void t_init_destroy(void)
{
	struct fake_guest fg;
	struct s390_shadow sh;
	struct env e;
	int k, i;

	env_init(&e, ZPCI_IOTA_RTTO);
	CHECK_EQ(s390_shadow_root_phys(&e.sh) & 0x3fff, 0);
	for (i = 0; i < 2048; i++)
		CHECK_EQ(e.sh.root[i], ZPCI_TABLE_INVALID);
	env_fini(&e);

	/* every allocation failure of init: -ENOMEM, nothing leaked */
	for (k = 0; k < 5; k++) {
		if (fg_init(&fg, 1 << 20))
			abort();
		if (k < 3)
			fg.fail_table_in = k + 1;
		else if (k == 3)
			fg.fail_pt_in = 1;
		else
			fg.fail_realloc_in = 1;
		CHECK_EQ(s390_shadow_init(&sh, &fg), -ENOMEM);
		CHECK_EQ(fg.tables_live, 0);
		CHECK_EQ(fg.pts_live, 0);
		s390_shadow_destroy(&sh);	/* harmless after failed init */
		fg_destroy(&fg);
	}
}

static void t_basic_map(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 iova[300], gpa[300];
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 300; i++) {
		iova[i] = (u64)(i % 3 ? i % 7 : 2047) * G_REG +
			  (u64)(i * 37 % 2048) * G_SEG + (u64)(i % 256) * G_PAGE;
		gpa[i] = (u64)(i + 1) * G_PAGE;
		fg_map(&e.fg, e.iota, iova[i], gpa[i], i % 3 == 0);
	}
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 300);
	CHECK(r.changed && !r.removed);
	for (i = 0; i < 300; i++) {
		u64 pfn = gpa[i] / G_PAGE;

		expect_map(&e, iova[i], gpa[i], i % 3 == 0);
		CHECK_EQ(e.fg.pins[pfn], 1);
		CHECK_EQ(e.fg.wpins[pfn], i % 3 ? 1 : 0);
		expect_unmapped(&e, iova[i] + 300 * G_PAGE);
	}
	CHECK_EQ(e.fg.nr_pins, 300);
	CHECK_EQ(shadow_count_valid(&e.sh), 300);
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	env_fini(&e);
}

struct fe_ctx {
	struct env *e;
	u64 prev;
	int n, stop_at;
};

static int fe_visit(void *arg, u64 iova, u64 hpa, bool prot)
{
	struct fe_ctx *c = arg;
	u64 h;
	bool p;

	CHECK(c->n == 0 || iova > c->prev);
	CHECK(s390_shadow_lookup(&c->e->sh, iova, &h, &p));
	CHECK_EQ(h, hpa);
	CHECK_EQ(p, prot);
	c->prev = iova;
	return ++c->n == c->stop_at ? 42 : 0;
}

static void t_for_each(void)
{
	struct s390_shadow_result r;
	struct fe_ctx c = { 0 };
	struct env e;
	u64 iova;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	c.e = &e;
	/* 3 pages in region 1, 2 in region 700 (one protected), gaps between */
	for (i = 0; i < 3; i++)
		fg_map(&e.fg, e.iota, 1 * G_REG + i * 9 * G_SEG, (u64)(i + 1) * G_PAGE,
		       false);
	fg_map(&e.fg, e.iota, 700 * G_REG + 4 * G_PAGE, 0x20000, true);
	fg_map(&e.fg, e.iota, 700 * G_REG + 5 * G_PAGE, 0x21000, false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(s390_shadow_for_each(&e.sh, 0, G_REG * 2048 - 1, fe_visit, &c), 0);
	CHECK_EQ(c.n, 5);
	/* bounds inside pages: both pages they touch are visited */
	c.n = 0;
	iova = 700 * G_REG + 5 * G_PAGE;
	CHECK_EQ(s390_shadow_for_each(&e.sh, iova - 1, iova + 1, fe_visit, &c), 0);
	CHECK_EQ(c.n, 2);
	/* empty range between the regions */
	c.n = 0;
	CHECK_EQ(s390_shadow_for_each(&e.sh, 2 * G_REG, 699 * G_REG, fe_visit, &c), 0);
	CHECK_EQ(c.n, 0);
	/* a non-zero return stops the walk and is passed through */
	c.n = 0;
	c.stop_at = 2;
	CHECK_EQ(s390_shadow_for_each(&e.sh, 0, G_REG * 2048 - 1, fe_visit, &c), 42);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	env_fini(&e);
}

/* memory leaving the guest: every IOVA built from a frame in range goes */
static void t_unmap_gpa(void)
{
	struct s390_shadow_result r;
	unsigned long released = 0;
	struct env e;
	int i, rc, rounds = 0;

	env_init(&e, ZPCI_IOTA_RTTO);
	/* frame 0x5000 at 3000 IOVAs (more than one release list), 0x6000 once */
	for (i = 0; i < 3000; i++)
		fg_map(&e.fg, e.iota, 3 * G_REG + (u64)i * G_PAGE, 0x5000, i & 1);
	fg_map(&e.fg, e.iota, 5 * G_REG, 0x6000, false);
	fg_map(&e.fg, e.iota, 5 * G_REG + G_PAGE, 0x7000, false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	CHECK_EQ(e.sh.nr_pinned, 3002);

	/* a range holding nothing changes nothing */
	CHECK_EQ(s390_shadow_unmap_gpa(&e.sh, 0x100000, 0x1fffff, &r), 0);
	CHECK(!r.changed);

	/* [0x5000, 0x6fff]: 3001 entries, more than the 2048 release slots */
	do {
		rc = s390_shadow_unmap_gpa(&e.sh, 0x5000, 0x6fff, &r);
		CHECK(rc == 0 || rc == -EAGAIN);
		CHECK(r.removed || !r.changed);
		/* the unpins wait for the caller's release */
		CHECK_EQ(e.sh.nr_pinned, 3002 - released);
		released += s390_shadow_release(&e.sh);
		rounds++;
	} while (rc == -EAGAIN && rounds < 10);
	CHECK_EQ(rc, 0);
	CHECK(rounds >= 2);
	CHECK_EQ(released, 3001);
	CHECK_EQ(e.sh.nr_pinned, 1);
	expect_unmapped(&e, 3 * G_REG);
	expect_unmapped(&e, 3 * G_REG + 2999 * G_PAGE);
	expect_unmapped(&e, 5 * G_REG);
	expect_map(&e, 5 * G_REG + G_PAGE, 0x7000, false);
	check_accounting(&e);

	/* the guest tables still name the frame: a refresh maps it again */
	CHECK_EQ(refresh(&e, 5 * G_REG, G_PAGE, &r), 0);
	expect_map(&e, 5 * G_REG, 0x6000, false);
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	env_fini(&e);
}

static void t_hw_format(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 rte, ste, *st, *pt;
	u64 iova = 3 * G_REG + 5 * G_SEG + 7 * G_PAGE;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, iova, 0x10000, true);
	fg_map(&e.fg, e.iota, iova + G_PAGE, 0x11000, false);
	CHECK_EQ(refresh(&e, iova, 2 * G_PAGE, &r), 0);
	rte = e.sh.root[3];
	CHECK_EQ(rte & 0xfff & ~ZPCI_TABLE_OFFSET_MASK & ~0x3ULL,
		 ZPCI_TABLE_TYPE_RTX);
	CHECK_EQ(rte & ZPCI_TABLE_OFFSET_MASK, 0);
	CHECK_EQ(rte & 3, ZPCI_TABLE_LEN_RTX);
	st = (u64 *)(uintptr_t)(rte & ZPCI_RTE_ADDR_MASK);
	CHECK_EQ((uintptr_t)st & 0x3fff, 0);
	ste = st[5];
	CHECK_EQ(ste & 0x7ff, ZPCI_TABLE_TYPE_SX);
	CHECK_EQ(st[4], ZPCI_TABLE_INVALID);
	pt = (u64 *)(uintptr_t)(ste & ZPCI_STE_ADDR_MASK);
	CHECK_EQ((uintptr_t)pt & 0x7ff, 0);
	CHECK_EQ(pt[7], fg_hpa(&e.fg, 0x10000) | ZPCI_TABLE_PROTECTED);
	CHECK_EQ(pt[8], fg_hpa(&e.fg, 0x11000));
	CHECK_EQ(pt[6], ZPCI_PTE_INVALID);
	CHECK_EQ(pt[9], ZPCI_PTE_INVALID);
	env_fini(&e);
}

static void t_unchanged_no_pin(void)
{
	struct s390_shadow_result r;
	struct env e;
	long calls;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 100; i++)
		fg_map(&e.fg, e.iota, (u64)i * 3 * G_SEG, (u64)(i + 1) * G_PAGE,
		       i & 1);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 100);
	calls = e.fg.pin_calls;
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 0);
	CHECK(!r.changed && !r.removed);
	CHECK_EQ(e.fg.pin_calls, calls);
	CHECK_EQ(refresh(&e, 3 * G_SEG, G_PAGE, &r), 0);
	CHECK(!r.changed);
	CHECK_EQ(e.fg.pin_calls, calls);
	CHECK_EQ(e.fg.nr_pins, 100);
	env_fini(&e);
}

static void t_remap_order(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 x = 5 * G_SEG + 9 * G_PAGE, a = 0x40000, b = 0x80000;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, x, a, false);
	CHECK_EQ(refresh(&e, x, G_PAGE, &r), 0);
	fg_map(&e.fg, e.iota, x, b, false);
	CHECK_EQ(refresh(&e, x, G_PAGE, &r), 0);
	CHECK(r.changed && r.removed);
	CHECK_EQ(r.pinned, 1);
	CHECK_EQ(r.unpinned, 1);
	/* new page pinned, old still pinned until release */
	CHECK_EQ(e.fg.pins[a / G_PAGE], 1);
	CHECK_EQ(e.fg.pins[b / G_PAGE], 1);
	expect_map(&e, x, b, false);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.fg.pins[a / G_PAGE], 0);
	CHECK_EQ(e.fg.wpins[a / G_PAGE], 0);

	/* protection change: re-pinned read-only, old writable pin dirty */
	fg_map(&e.fg, e.iota, x, b, true);
	CHECK_EQ(refresh(&e, x, G_PAGE, &r), 0);
	CHECK(r.removed);
	CHECK_EQ(e.fg.pins[b / G_PAGE], 2);
	CHECK_EQ(e.fg.wpins[b / G_PAGE], 1);
	expect_map(&e, x, b, true);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.fg.pins[b / G_PAGE], 1);
	CHECK_EQ(e.fg.wpins[b / G_PAGE], 0);
	env_fini(&e);
}

static void t_invalid_pte_deferred(void)
{
	struct s390_shadow_result r;
	struct env e;
	long unpins;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 50; i++)
		fg_map(&e.fg, e.iota, G_REG + (u64)i * 5 * G_PAGE,
		       (u64)(i + 10) * G_PAGE, false);
	CHECK_EQ(global(&e, &r), 0);
	for (i = 0; i < 50; i++)
		fg_unmap(&e.fg, e.iota, G_REG + (u64)i * 5 * G_PAGE);
	unpins = e.fg.unpin_calls;
	CHECK_EQ(global(&e, &r), 0);
	CHECK(r.changed && r.removed);
	CHECK_EQ(r.unpinned, 50);
	/* the page and segment tables lost their last entry: whole region */
	CHECK_EQ(r.start, G_REG);
	CHECK_EQ(r.end, 2 * G_REG - 1);
	CHECK_EQ(e.sh.root[1], ZPCI_TABLE_INVALID);
	for (i = 0; i < 50; i++)
		expect_unmapped(&e, G_REG + (u64)i * 5 * G_PAGE);
	/* nothing unpinned before release */
	CHECK_EQ(e.fg.unpin_calls, unpins);
	CHECK_EQ(e.fg.nr_pins, 50);
	CHECK_EQ(s390_shadow_release(&e.sh), 50);
	CHECK_EQ(e.fg.nr_pins, 0);
	CHECK_EQ(e.sh.nr_pts, 0);
	CHECK_EQ(e.sh.nr_tables, 1);
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	env_fini(&e);
}

static void t_invalid_segment(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 s1 = 7 * G_SEG, s2 = 9 * G_SEG, ea;
	long reads, pts;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 256; i++)
		fg_map(&e.fg, e.iota, s1 + i * G_PAGE, 0x100000 + i * G_PAGE,
		       false);
	for (i = 0; i < 10; i++)
		fg_map(&e.fg, e.iota, s2 + i * G_PAGE, 0x200000 + i * G_PAGE,
		       false);
	CHECK_EQ(global(&e, &r), 0);
	/* chunked reads: one RT slice, one ST slice, one slice per pt */
	CHECK_EQ(r.reads, 4);
	ea = fg_entry_addr(&e.fg, e.iota, s1, 1, false);
	fg_wr(&e.fg, ea, ZPCI_TABLE_INVALID);
	reads = e.fg.read_calls;
	pts = e.fg.pts_live;
	CHECK_EQ(global(&e, &r), 0);
	/* O(1) guest reads: the invalid segment costs no page table read */
	CHECK_EQ(r.reads, 3);
	CHECK_EQ(e.fg.read_calls - reads, 3);
	CHECK(r.visited <= 2048 + 2048 + 256);
	CHECK(r.removed);
	CHECK_EQ(r.unpinned, 256);
	CHECK_EQ(r.start, s1);
	CHECK_EQ(r.end, s1 + G_SEG - 1);
	for (i = 0; i < 256; i++)
		expect_unmapped(&e, s1 + i * G_PAGE);
	for (i = 0; i < 10; i++)
		expect_map(&e, s2 + i * G_PAGE, 0x200000 + i * G_PAGE, false);
	CHECK_EQ(e.fg.pts_live, pts);		/* freed only on release */
	CHECK_EQ(s390_shadow_release(&e.sh), 256);
	CHECK_EQ(e.fg.pts_live, pts - 1);
	CHECK_EQ(e.fg.nr_pins, 10);
	env_fini(&e);
}

static void t_invalid_region(void)
{
	struct s390_shadow_result r;
	struct env e;
	long tables;
	u64 ea;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 64; i++) {
		fg_map(&e.fg, e.iota, 2 * G_REG + (u64)i * 31 * G_SEG,
		       (u64)(i + 1) * G_PAGE, false);
		fg_map(&e.fg, e.iota, 5 * G_REG + (u64)i * G_PAGE,
		       (u64)(i + 100) * G_PAGE, true);
	}
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 128);
	ea = fg_entry_addr(&e.fg, e.iota, 2 * G_REG, 2, false);
	fg_wr(&e.fg, ea, ZPCI_TABLE_INVALID);
	tables = e.fg.tables_live;
	CHECK_EQ(refresh(&e, 2 * G_REG, G_REG, &r), 0);
	CHECK_EQ(r.reads, 1);
	CHECK_EQ(r.visited, 1);
	CHECK_EQ(r.unpinned, 64);
	CHECK_EQ(r.start, 2 * G_REG);
	CHECK_EQ(r.end, 3 * G_REG - 1);
	CHECK(r.removed);
	CHECK_EQ(s390_shadow_release(&e.sh), 64);
	CHECK_EQ(e.fg.tables_live, tables - 1);
	CHECK_EQ(e.fg.nr_pins, 64);
	for (i = 0; i < 64; i++)
		expect_map(&e, 5 * G_REG + (u64)i * G_PAGE,
			   (u64)(i + 100) * G_PAGE, true);
	/* global refresh after that: one RT read + region 5 (ST + 1 pt) */
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.reads, 3);
	CHECK(!r.changed);
	env_fini(&e);
}

static void t_partial_clear(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 s = G_REG + 3 * G_SEG, ea;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 256; i++)
		fg_map(&e.fg, e.iota, s + i * G_PAGE, (u64)(i + 1) * G_PAGE,
		       false);
	CHECK_EQ(global(&e, &r), 0);
	ea = fg_entry_addr(&e.fg, e.iota, s, 1, false);
	fg_wr(&e.fg, ea, ZPCI_TABLE_INVALID);
	/* refresh the first half only: those pages go, the rest stays */
	CHECK_EQ(refresh(&e, s, 128 * G_PAGE, &r), 0);
	CHECK_EQ(r.reads, 2);
	CHECK_EQ(r.unpinned, 128);
	CHECK_EQ(r.start, s);
	CHECK_EQ(r.end, s + 128 * G_PAGE - 1);
	for (i = 0; i < 256; i++) {
		if (i < 128)
			expect_unmapped(&e, s + i * G_PAGE);
		else
			expect_map(&e, s + i * G_PAGE, (u64)(i + 1) * G_PAGE,
				   false);
	}
	CHECK_EQ(s390_shadow_release(&e.sh), 128);
	/* invalid region over a partial range clears page by page */
	ea = fg_entry_addr(&e.fg, e.iota, s, 2, false);
	fg_wr(&e.fg, ea, ZPCI_TABLE_INVALID);
	CHECK_EQ(refresh(&e, s + 200 * G_PAGE, 10 * G_PAGE, &r), 0);
	CHECK_EQ(r.unpinned, 10);
	CHECK_EQ(r.reads, 1);
	CHECK_EQ(s390_shadow_release(&e.sh), 10);
	CHECK_EQ(e.fg.nr_pins, 118);
	env_fini(&e);
}

static void t_range_checks(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 x = 3 * G_SEG;

	env_init(&e, ZPCI_IOTA_RTTO);
	CHECK_EQ(refresh(&e, 0x1000, 0, &r), 0);
	CHECK(!r.changed);
	CHECK_EQ(refresh(&e, ~0ULL - 0xfff, 0x2000, &r), -EINVAL);
	CHECK_EQ(refresh(&e, G_REACH, 1, &r), -EINVAL);
	CHECK_EQ(refresh(&e, G_REACH - G_PAGE, 2 * G_PAGE, &r), -EINVAL);
	CHECK_EQ(refresh(&e, 0, G_REACH + 1, &r), -EINVAL);
	fg_map(&e.fg, e.iota, G_REACH - G_PAGE, 0x5000, false);
	CHECK_EQ(refresh(&e, G_REACH - G_PAGE, G_PAGE, &r), 0);
	expect_map(&e, G_REACH - G_PAGE, 0x5000, false);
	CHECK_EQ(r.end, G_REACH - 1);

	/* unaligned range: every page it touches */
	fg_map(&e.fg, e.iota, x, 0x6000, false);
	fg_map(&e.fg, e.iota, x + G_PAGE, 0x7000, false);
	fg_map(&e.fg, e.iota, x + 2 * G_PAGE, 0x8000, false);
	CHECK_EQ(refresh(&e, x + 100, 4000, &r), 0);
	CHECK_EQ(r.pinned, 2);
	CHECK_EQ(r.start, x);
	CHECK_EQ(r.end, x + 2 * G_PAGE - 1);
	expect_unmapped(&e, x + 2 * G_PAGE);

	/* bad designation type, no IOTA */
	CHECK_EQ(s390_shadow_set_iota(&e.sh, e.iota | (5 << 2), &r), -EINVAL);
	CHECK(!r.changed);
	expect_map(&e, x, 0x6000, false);
	CHECK_EQ(s390_shadow_set_iota(&e.sh, 0, &r), 0);
	CHECK(r.removed);
	CHECK_EQ(refresh(&e, x, G_PAGE, &r), -EINVAL);
	CHECK_EQ(s390_shadow_release(&e.sh), 3);
	env_fini(&e);
}

static void t_table_errors(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 ea, e0;
	int i;

	/* guest root table outside guest RAM */
	env_init(&e, ZPCI_IOTA_RTTO);
	CHECK_EQ(s390_shadow_set_iota(&e.sh, (256ULL << 20) | ZPCI_IOTA_DT_RT,
				      &r), 0);
	CHECK_EQ(refresh(&e, 0, G_PAGE, &r), -EFAULT);
	CHECK(!r.changed);
	env_fini(&e);

	/* wrong type bits in a region-third entry: earlier regions done */
	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 3; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_REG, (u64)(i + 1) * G_PAGE,
		       false);
	ea = fg_entry_addr(&e.fg, e.iota, G_REG, 2, false);
	fg_wr(&e.fg, ea, fg_rd(&e.fg, ea) & ~ZPCI_TABLE_TYPE_MASK);
	CHECK_EQ(global(&e, &r), -EINVAL);
	expect_map(&e, 0, G_PAGE, false);
	expect_unmapped(&e, G_REG);
	expect_unmapped(&e, 2 * G_REG);
	CHECK(r.changed && !r.removed);
	CHECK_EQ(r.start, 0);
	CHECK_EQ(r.end, G_PAGE - 1);
	CHECK_EQ(r.pinned, 1);
	/* region 2 alone still works */
	CHECK_EQ(refresh(&e, 2 * G_REG, G_REG, &r), 0);
	expect_map(&e, 2 * G_REG, 3 * G_PAGE, false);
	env_fini(&e);

	/* table length / offset of a region-third entry */
	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, 10 * G_SEG, 0x3000, false);
	fg_map(&e.fg, e.iota, 600 * G_SEG, 0x4000, false);
	ea = fg_entry_addr(&e.fg, e.iota, 0, 2, false);
	e0 = fg_rd(&e.fg, ea);
	fg_wr(&e.fg, ea, e0 & ~3ULL);		/* TL 0: segments 0..511 */
	CHECK_EQ(refresh(&e, 0, 512 * G_SEG, &r), 0);
	expect_map(&e, 10 * G_SEG, 0x3000, false);
	CHECK_EQ(refresh(&e, 0, 601 * G_SEG, &r), -EINVAL);
	CHECK_EQ(refresh(&e, 600 * G_SEG, G_PAGE, &r), -EINVAL);
	expect_unmapped(&e, 600 * G_SEG);
	fg_wr(&e.fg, ea, e0 | 0x40);		/* TF 1: segments 512..2047 */
	CHECK_EQ(refresh(&e, 10 * G_SEG, G_PAGE, &r), -EINVAL);
	CHECK_EQ(refresh(&e, 600 * G_SEG, G_PAGE, &r), 0);
	expect_map(&e, 600 * G_SEG, 0x4000, false);
	env_fini(&e);

	/* wrong type bits in a segment entry, page table outside RAM */
	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, 0, 0x3000, false);
	fg_map(&e.fg, e.iota, G_SEG, 0x4000, false);
	fg_map(&e.fg, e.iota, 2 * G_SEG, 0x5000, false);
	ea = fg_entry_addr(&e.fg, e.iota, G_SEG, 1, false);
	fg_wr(&e.fg, ea, fg_rd(&e.fg, ea) | ZPCI_TABLE_TYPE_RTX);
	CHECK_EQ(global(&e, &r), -EINVAL);
	expect_map(&e, 0, 0x3000, false);
	expect_unmapped(&e, 2 * G_SEG);
	fg_wr(&e.fg, ea, (200ULL << 20) | ZPCI_TABLE_TYPE_SX);
	CHECK_EQ(global(&e, &r), -EFAULT);
	CHECK(!r.changed);
	env_fini(&e);

	/* PTE frame outside guest RAM: stale old mapping is dropped */
	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 4; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_PAGE, (u64)(i + 1) * G_PAGE,
		       false);
	CHECK_EQ(global(&e, &r), 0);
	fg_map(&e.fg, e.iota, 2 * G_PAGE, 1ULL << 40, false);
	fg_map(&e.fg, e.iota, 1 * G_PAGE, 0x9000, false);
	fg_map(&e.fg, e.iota, 3 * G_PAGE, 0xa000, false);
	CHECK_EQ(global(&e, &r), -EFAULT);
	expect_map(&e, G_PAGE, 0x9000, false);
	expect_unmapped(&e, 2 * G_PAGE);
	expect_map(&e, 3 * G_PAGE, 4 * G_PAGE, false);	/* not reached */
	CHECK(r.removed);
	CHECK_EQ(r.start, G_PAGE);
	CHECK_EQ(r.end, 3 * G_PAGE - 1);
	CHECK_EQ(r.pinned, 1);
	CHECK_EQ(r.unpinned, 2);
	CHECK_EQ(s390_shadow_release(&e.sh), 2);
	check_accounting(&e);
	env_fini(&e);
}

static void t_enomem_pin_limit(void)
{
	struct s390_shadow_result r;
	struct env e;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 20; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_SEG, (u64)(i + 1) * G_PAGE,
		       false);
	e.fg.pin_limit = 10;
	CHECK_EQ(global(&e, &r), -ENOMEM);
	CHECK_EQ(r.pinned, 10);
	CHECK_EQ(r.start, 0);
	CHECK_EQ(r.end, 9 * G_SEG + G_PAGE - 1);
	CHECK_EQ(shadow_count_valid(&e.sh), 10);
	CHECK_EQ(e.fg.nr_pins, 10);
	for (i = 0; i < 20; i++) {
		if (i < 10)
			expect_map(&e, (u64)i * G_SEG, (u64)(i + 1) * G_PAGE,
				   false);
		else
			expect_unmapped(&e, (u64)i * G_SEG);
	}
	e.fg.pin_limit = -1;
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 10);
	CHECK_EQ(r.start, 10 * G_SEG);
	env_fini(&e);
}

static void t_enomem_alloc(void)
{
	struct s390_shadow_result r;
	struct env e;
	long tables;
	int i;

	/* segment table allocation fails: root entry stays invalid */
	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, G_REG, 0x3000, false);
	tables = e.fg.tables_live;
	e.fg.fail_table_in = 1;
	CHECK_EQ(global(&e, &r), -ENOMEM);
	CHECK(!r.changed);
	CHECK_EQ(e.sh.root[1], ZPCI_TABLE_INVALID);
	CHECK_EQ(e.fg.tables_live, tables);
	CHECK_EQ(e.fg.nr_pins, 0);

	/* page table allocation fails: the new segment table is freed too */
	e.fg.fail_pt_in = 1;
	CHECK_EQ(global(&e, &r), -ENOMEM);
	CHECK(r.nomem);
	CHECK_EQ(e.sh.root[1], ZPCI_TABLE_INVALID);
	CHECK_EQ(e.fg.pts_live, 1);		/* the scratch buffer only */
	CHECK_EQ(e.fg.tables_live, tables);
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(global(&e, &r), 0);
	CHECK(!r.nomem);
	expect_map(&e, G_REG, 0x3000, false);
	env_fini(&e);

	/* deferred release list cannot grow: the walk stops, rest stays mapped */
	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 2100; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_PAGE, (u64)(i + 1) * G_PAGE,
		       false);
	CHECK_EQ(global(&e, &r), 0);
	for (i = 0; i < 2100; i++)
		fg_unmap(&e.fg, e.iota, (u64)i * G_PAGE);
	e.fg.fail_realloc_in = 1;
	CHECK_EQ(global(&e, &r), -ENOMEM);
	CHECK(r.removed && r.nomem);
	/* stopped when fewer than 3 slots (PTE, page and segment table) were left */
	CHECK(e.sh.nr_gather > e.sh.max_gather - 3);
	CHECK_EQ(r.next, r.unpinned * G_PAGE);
	CHECK_EQ(shadow_count_valid(&e.sh), 2100 - r.unpinned);
	CHECK_EQ(r.end, r.unpinned * G_PAGE - 1);
	CHECK_EQ(e.fg.nr_pins, 2100);
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), r.unpinned);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), r.unpinned);
	CHECK_EQ(e.fg.nr_pins, 0);
	CHECK_EQ(e.sh.nr_pts, 0);
	CHECK_EQ(e.sh.nr_tables, 1);
	env_fini(&e);

	/* set_iota with too few free slots and the list unable to grow */
	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 2000; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_PAGE, (u64)(i + 1) * G_PAGE,
		       false);
	for (i = 1; i <= 100; i++)
		fg_map(&e.fg, e.iota, (u64)i * 20 * G_REG, (u64)(i + 3000) * G_PAGE,
		       false);
	CHECK_EQ(global(&e, &r), 0);
	for (i = 0; i < 2000; i++)
		fg_unmap(&e.fg, e.iota, (u64)i * G_PAGE);
	CHECK_EQ(global(&e, &r), 0);
	/* 2000 unpins, 8 page tables, 1 segment table: < 100 slots free */
	CHECK_EQ(e.sh.nr_gather, 2009);
	e.fg.fail_realloc_in = 1;
	CHECK_EQ(s390_shadow_set_iota(&e.sh, 0, &r), -ENOMEM);
	CHECK(!r.changed);
	CHECK_EQ(shadow_count_valid(&e.sh), 100);
	CHECK_EQ(s390_shadow_release(&e.sh), 2000);
	env_fini(&e);

	/* set_iota right after a release never needs to grow the list */
	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 100; i++)
		fg_map(&e.fg, e.iota, (u64)i * 20 * G_REG, (u64)(i + 1) * G_PAGE,
		       false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(e.fg.nr_pins, 100);
	e.fg.fail_realloc_in = 1;
	CHECK_EQ(s390_shadow_set_iota(&e.sh, 0, &r), 0);
	CHECK_EQ(r.unpinned, 100);
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 100);
	e.fg.fail_realloc_in = 0;
	env_fini(&e);
}

static void t_flush_range(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 a = 5 * GIB + 3 * G_PAGE, b = 9 * GIB + G_SEG + 7 * G_PAGE;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, a, 0x3000, false);
	fg_map(&e.fg, e.iota, b, 0x4000, false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK(r.changed && !r.removed);
	CHECK_EQ(r.start, a);
	CHECK_EQ(r.end, b + G_PAGE - 1);
	fg_unmap(&e.fg, e.iota, a);
	CHECK_EQ(global(&e, &r), 0);
	CHECK(r.changed && r.removed);
	/* its region's only page: the segment table went, the whole region */
	CHECK_EQ(r.start, 4 * GIB);
	CHECK_EQ(r.end, 6 * GIB - 1);
	CHECK_EQ(global(&e, &r), 0);
	CHECK(!r.changed && !r.removed);
	/* add + remove in one call: one range covering both */
	fg_map(&e.fg, e.iota, a, 0x3000, false);
	fg_unmap(&e.fg, e.iota, b);
	CHECK_EQ(global(&e, &r), 0);
	CHECK(r.changed && r.removed);
	CHECK_EQ(r.start, a);
	CHECK_EQ(r.end, 10 * GIB - 1);
	env_fini(&e);
}

static void t_upper_levels(int dt)
{
	struct s390_shadow_result r;
	struct env e;
	u64 ea, v;
	int i;

	env_init(&e, dt);
	for (i = 0; i < 40; i++)
		fg_map(&e.fg, e.iota, (u64)(i * 50) * G_REG + (u64)i * G_PAGE,
		       (u64)(i + 1) * G_PAGE, i & 1);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 40);
	for (i = 0; i < 40; i++)
		expect_map(&e, (u64)(i * 50) * G_REG + (u64)i * G_PAGE,
			   (u64)(i + 1) * G_PAGE, i & 1);
	/* the top entry: wrong type, nonzero offset -> -EINVAL */
	ea = e.iota & ZPCI_RTE_ADDR_MASK;
	v = fg_rd(&e.fg, ea);
	fg_wr(&e.fg, ea, v ^ 0x4);
	CHECK_EQ(global(&e, &r), -EINVAL);
	fg_wr(&e.fg, ea, v | 0x40);
	CHECK_EQ(global(&e, &r), -EINVAL);
	/* protection in an upper entry makes everything read-only */
	fg_wr(&e.fg, ea, v | ZPCI_TABLE_PROTECTED);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 20);
	for (i = 0; i < 40; i++)
		expect_map(&e, (u64)(i * 50) * G_REG + (u64)i * G_PAGE,
			   (u64)(i + 1) * G_PAGE, true);
	CHECK_EQ(s390_shadow_release(&e.sh), 20);
	/* invalid top entry clears everything with one guest read */
	fg_wr(&e.fg, ea, v | ZPCI_TABLE_INVALID);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.reads, 1);
	CHECK_EQ(r.unpinned, 40);
	CHECK(r.removed);
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 40);
	fg_wr(&e.fg, ea, v);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 40);
	/* reads: RF/RS entries, RT slice, 40 segment slices, 40 pt slices */
	CHECK_EQ(r.reads, (dt == ZPCI_IOTA_RFTO ? 2 : 1) + 1 + 40 + 40);
	env_fini(&e);
}

static void t_rsto(void)
{
	t_upper_levels(ZPCI_IOTA_RSTO);
}

static void t_rfto(void)
{
	t_upper_levels(ZPCI_IOTA_RFTO);
}

static void t_sto(void)
{
	struct s390_shadow_result r;
	struct env e;
	int i;

	env_init(&e, ZPCI_IOTA_STO);
	for (i = 0; i < 30; i++)
		fg_map(&e.fg, e.iota, (u64)i * 67 * G_SEG, (u64)(i + 1) * G_PAGE,
		       i & 1);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 30);
	for (i = 0; i < 30; i++)
		expect_map(&e, (u64)i * 67 * G_SEG, (u64)(i + 1) * G_PAGE, i & 1);
	CHECK_EQ(refresh(&e, 2 * GIB - G_PAGE, 2 * G_PAGE, &r), -EINVAL);
	env_fini(&e);
}

static void t_upper_prot(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 ea;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, 0, 0x3000, false);
	fg_map(&e.fg, e.iota, G_SEG, 0x4000, false);
	ea = fg_entry_addr(&e.fg, e.iota, 0, 1, false);
	fg_wr(&e.fg, ea, fg_rd(&e.fg, ea) | ZPCI_TABLE_PROTECTED);
	CHECK_EQ(global(&e, &r), 0);
	expect_map(&e, 0, 0x3000, true);
	expect_map(&e, G_SEG, 0x4000, false);
	CHECK_EQ(e.fg.wpins[3], 0);
	CHECK_EQ(e.fg.wpins[4], 1);
	/* dropping the segment protection re-pins writable */
	fg_wr(&e.fg, ea, fg_rd(&e.fg, ea) & ~ZPCI_TABLE_PROTECTED);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(r.pinned, 1);
	CHECK(r.removed);
	expect_map(&e, 0, 0x3000, false);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.fg.wpins[3], 1);
	CHECK_EQ(e.fg.pins[3], 1);
	env_fini(&e);
}

static void t_set_iota(void)
{
	struct s390_shadow_result r;
	struct env e;
	long unpins, tables;
	u64 niota;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 99; i++)
		fg_map(&e.fg, e.iota, (u64)(i % 3 * 10 + 1) * G_REG +
		       (u64)i * G_SEG, (u64)(i + 1) * G_PAGE, false);
	CHECK_EQ(global(&e, &r), 0);
	tables = e.fg.tables_live;
	unpins = e.fg.unpin_calls;
	niota = fg_new_root(&e.fg, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, niota, 0, 0x7000, true);
	CHECK_EQ(s390_shadow_set_iota(&e.sh, niota, &r), 0);
	CHECK(r.changed && r.removed);
	CHECK_EQ(r.unpinned, 99);
	CHECK_EQ(r.start, G_REG);
	CHECK_EQ(r.end, 22 * G_REG - 1);
	CHECK_EQ(e.fg.unpin_calls, unpins);
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 99);
	CHECK_EQ(e.fg.nr_pins, 0);
	CHECK_EQ(e.fg.tables_live, tables - 3);
	e.iota = niota;
	CHECK_EQ(global(&e, &r), 0);
	expect_map(&e, 0, 0x7000, true);
	CHECK_EQ(s390_shadow_root_phys(&e.sh) & 0x3fff, 0);
	env_fini(&e);
}

/* destroy with pending releases and live mappings: nothing leaks */
static void t_destroy_pending(void)
{
	struct s390_shadow_result r;
	struct env e;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 64; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_SEG, (u64)(i + 1) * G_PAGE,
		       i & 1);
	CHECK_EQ(global(&e, &r), 0);
	for (i = 0; i < 32; i++)
		fg_unmap(&e.fg, e.iota, (u64)i * G_SEG);
	CHECK_EQ(global(&e, &r), 0);
	/* 32 unpins and the 32 page tables they left empty */
	CHECK_EQ(e.sh.nr_gather, 64);
	env_fini(&e);
}

/* zero entries are table errors at every level (QEMU: ERR_EVENT_INVALTE) */
static void t_zero_entries(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 x = 3 * G_SEG, y = 5 * G_SEG, ea;
	long calls;

	env_init(&e, ZPCI_IOTA_RTTO);
	/* a zero PTE after a valid one: GPA 0 is not mapped, the walk stops */
	fg_map(&e.fg, e.iota, x, 0x5000, false);
	fg_map(&e.fg, e.iota, x + G_PAGE, 0x6000, false);
	fg_map(&e.fg, e.iota, x + 2 * G_PAGE, 0x7000, false);
	fg_wr(&e.fg, fg_entry_addr(&e.fg, e.iota, x + G_PAGE, 0, false), 0);
	calls = e.fg.pin_calls;
	CHECK_EQ(refresh(&e, x, 3 * G_PAGE, &r), -EINVAL);
	CHECK_EQ(r.next, x + G_PAGE);
	expect_map(&e, x, 0x5000, false);
	expect_unmapped(&e, x + G_PAGE);
	expect_unmapped(&e, x + 2 * G_PAGE);
	CHECK_EQ(e.fg.pin_calls - calls, 1);
	CHECK_EQ(e.fg.pins[0], 0);

	/* a zero segment entry: no page table at GPA 0 is read or walked */
	fg_map(&e.fg, e.iota, y, 0x8000, false);
	fg_wr(&e.fg, fg_entry_addr(&e.fg, e.iota, y, 1, false), 0);
	calls = e.fg.pin_calls;
	CHECK_EQ(refresh(&e, y, G_SEG, &r), -EINVAL);
	CHECK(!r.changed);
	CHECK_EQ(r.reads, 2);		/* region-third and segment slices */
	CHECK_EQ(r.next, y);
	CHECK_EQ(e.fg.pin_calls, calls);
	CHECK_EQ(e.fg.pins[0], 0);
	expect_unmapped(&e, y);

	/* a zero region-third entry */
	ea = fg_entry_addr(&e.fg, e.iota, 0, 2, false);
	fg_wr(&e.fg, ea, 0);
	CHECK_EQ(refresh(&e, 0, G_PAGE, &r), -EINVAL);
	CHECK_EQ(r.reads, 1);
	expect_map(&e, x, 0x5000, false);	/* not reached */
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	env_fini(&e);

	/* a zero region-second entry (RSTO) */
	env_init(&e, ZPCI_IOTA_RSTO);
	fg_map(&e.fg, e.iota, 0, 0x5000, false);
	fg_wr(&e.fg, e.iota & ZPCI_RTE_ADDR_MASK, 0);
	CHECK_EQ(global(&e, &r), -EINVAL);
	CHECK_EQ(r.reads, 1);
	CHECK_EQ(e.fg.nr_pins, 0);
	env_fini(&e);
}

/* a valid segment entry with the format-control bit (1 MiB frame) */
static void t_segment_fc(void)
{
	struct s390_shadow_result r;
	struct env e;
	u64 x = 7 * G_SEG + 2 * G_PAGE, ea, ste;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, x, 0x8000, false);
	ea = fg_entry_addr(&e.fg, e.iota, x, 1, false);
	ste = fg_rd(&e.fg, ea);
	fg_wr(&e.fg, ea, ste | 0x400);
	CHECK_EQ(global(&e, &r), -EINVAL);
	CHECK(!r.changed);
	CHECK_EQ(r.reads, 2);		/* not walked as a page-table origin */
	CHECK_EQ(r.next, 7 * G_SEG);
	CHECK_EQ(e.fg.nr_pins, 0);
	CHECK_EQ(e.sh.nr_pts, 0);
	expect_unmapped(&e, x);
	/* the same over an existing translation: error, entry not reached */
	fg_wr(&e.fg, ea, ste);
	CHECK_EQ(global(&e, &r), 0);
	expect_map(&e, x, 0x8000, false);
	fg_wr(&e.fg, ea, ste | 0x400);
	CHECK_EQ(refresh(&e, x, G_PAGE, &r), -EINVAL);
	expect_map(&e, x, 0x8000, false);
	/* an invalid entry with the bit set is just invalid */
	fg_wr(&e.fg, ea, ste | 0x400 | ZPCI_TABLE_INVALID);
	CHECK_EQ(refresh(&e, x, G_PAGE, &r), 0);
	expect_unmapped(&e, x);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	env_fini(&e);
}

/* -ENOMEM does not stop the walk: invalidations go on, nothing new is mapped */
static void t_enomem_continue(void)
{
	struct s390_shadow_result r;
	struct env e;
	long calls;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 8; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_SEG, (u64)(i + 1) * G_PAGE, false);
	fg_map(&e.fg, e.iota, G_REG, 0x20000, false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 0);
	/* seg 0: a new page (its pin fails), seg 2: another frame,
	 * seg 3: PTE invalid, seg 4: segment entry invalid, seg 5: unchanged,
	 * region 1: region entry invalid
	 */
	fg_map(&e.fg, e.iota, G_PAGE, 0x30000, false);
	fg_map(&e.fg, e.iota, 2 * G_SEG, 0x31000, false);
	fg_unmap(&e.fg, e.iota, 3 * G_SEG);
	fg_wr(&e.fg, fg_entry_addr(&e.fg, e.iota, 4 * G_SEG, 1, false),
	      ZPCI_TABLE_INVALID);
	fg_wr(&e.fg, fg_entry_addr(&e.fg, e.iota, G_REG, 2, false),
	      ZPCI_TABLE_INVALID);
	e.fg.pin_limit = e.fg.nr_pins;
	calls = e.fg.pin_calls;
	CHECK_EQ(global(&e, &r), -ENOMEM);
	CHECK(r.nomem);
	CHECK_EQ(r.next, G_REACH);
	CHECK_EQ(e.fg.pin_calls - calls, 1);	/* no pin after the -ENOMEM */
	CHECK_EQ(r.pinned, 0);
	CHECK_EQ(r.unpinned, 4);
	CHECK(r.removed);
	expect_map(&e, 0, G_PAGE, false);
	expect_unmapped(&e, G_PAGE);
	expect_map(&e, G_SEG, 2 * G_PAGE, false);
	expect_unmapped(&e, 2 * G_SEG);		/* lost its old translation */
	expect_unmapped(&e, 3 * G_SEG);
	expect_unmapped(&e, 4 * G_SEG);
	expect_map(&e, 5 * G_SEG, 6 * G_PAGE, false);
	expect_unmapped(&e, G_REG);
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 4);
	CHECK_EQ(e.sh.nr_pts, 5);		/* segments 0, 1, 5, 6, 7 */
	CHECK_EQ(e.sh.nr_tables, 2);
	CHECK_EQ(e.fg.nr_pins, 5);

	/* a table error after the -ENOMEM takes precedence */
	e.fg.pin_limit = e.fg.nr_pins;
	fg_map(&e.fg, e.iota, 6 * G_SEG + G_PAGE, 0x32000, false);
	fg_wr(&e.fg, fg_entry_addr(&e.fg, e.iota, 7 * G_SEG + 9 * G_PAGE, 0, true), 0);
	CHECK_EQ(global(&e, &r), -EINVAL);
	CHECK(r.nomem);
	CHECK_EQ(r.next, 7 * G_SEG + 9 * G_PAGE);
	expect_unmapped(&e, G_PAGE);
	e.fg.pin_limit = -1;
	fg_unmap(&e.fg, e.iota, 7 * G_SEG + 9 * G_PAGE);

	/* a failed page-table allocation: later invalidations are still done */
	fg_map(&e.fg, e.iota, 9 * G_SEG, 0x33000, false);
	fg_unmap(&e.fg, e.iota, 6 * G_SEG);
	e.fg.fail_pt_in = 1;
	CHECK_EQ(refresh(&e, 2 * G_SEG, 8 * G_SEG, &r), -ENOMEM);
	CHECK(r.nomem);
	expect_unmapped(&e, 9 * G_SEG);
	expect_unmapped(&e, 6 * G_SEG);
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);

	/* resources back: everything the guest maps */
	CHECK_EQ(global(&e, &r), 0);
	CHECK(!r.nomem);
	expect_map(&e, G_PAGE, 0x30000, false);
	expect_map(&e, 2 * G_SEG, 0x31000, false);
	expect_map(&e, 6 * G_SEG + G_PAGE, 0x32000, false);
	expect_map(&e, 9 * G_SEG, 0x33000, false);
	env_fini(&e);
}

/* a pin answering -EBUSY or -EAGAIN: stop before the page, resume there */
static void t_pin_busy(void)
{
	static const int rcs[] = { -EBUSY, -EAGAIN };
	struct s390_shadow_result r;
	struct env e;
	int k, i;

	for (k = 0; k < 2; k++) {
		env_init(&e, ZPCI_IOTA_RTTO);
		for (i = 0; i < 4; i++)
			fg_map(&e.fg, e.iota, (u64)i * G_PAGE, (u64)(i + 1) * G_PAGE,
			       false);
		CHECK_EQ(global(&e, &r), 0);
		fg_map(&e.fg, e.iota, G_PAGE, 0x11000, false);
		fg_map(&e.fg, e.iota, 2 * G_PAGE, 0x12000, false);
		fg_map(&e.fg, e.iota, 5 * G_PAGE, 0x15000, false);
		e.fg.fail_pin_in = 2;
		e.fg.fail_pin_rc = rcs[k];
		CHECK_EQ(global(&e, &r), -EBUSY);
		CHECK(!r.nomem);
		CHECK_EQ(r.next, 2 * G_PAGE);
		expect_map(&e, G_PAGE, 0x11000, false);
		expect_map(&e, 2 * G_PAGE, 3 * G_PAGE, false);	/* old kept */
		expect_unmapped(&e, 5 * G_PAGE);
		CHECK_EQ(r.unpinned, 1);
		CHECK_EQ(s390_shadow_release(&e.sh), 1);
		CHECK_EQ(refresh(&e, r.next, G_REACH - r.next, &r), 0);
		expect_map(&e, 2 * G_PAGE, 0x12000, false);
		expect_map(&e, 5 * G_PAGE, 0x15000, false);
		CHECK_EQ(s390_shadow_release(&e.sh), 1);
		CHECK_EQ(e.fg.nr_pins, 5);
		env_fini(&e);
	}
}

/* the pin for the first PTE of a new table fails: the tables go at once */
static void t_pin_fail_frees_tables(void)
{
	static const int rcs[] = { -ENOMEM, -EFAULT, -EBUSY, -EPERM };
	static const int want[] = { -ENOMEM, -EFAULT, -EBUSY, -EFAULT };
	struct s390_shadow_result r;
	u64 x = 5 * G_REG + 3 * G_SEG + 7 * G_PAGE;
	long pts, tables;
	struct env e;
	int k;

	for (k = 0; k < 4; k++) {
		env_init(&e, ZPCI_IOTA_RTTO);
		pts = e.fg.pts_live;
		tables = e.fg.tables_live;
		CHECK_EQ(e.sh.nr_pts, 0);
		CHECK_EQ(e.sh.nr_tables, 1);
		fg_map(&e.fg, e.iota, x, 0x5000, false);
		e.fg.fail_pin_in = 1;
		e.fg.fail_pin_rc = rcs[k];
		CHECK_EQ(refresh(&e, x, G_PAGE, &r), want[k]);
		CHECK(!r.changed);
		CHECK_EQ(e.sh.nr_pts, 0);
		CHECK_EQ(e.sh.nr_tables, 1);
		CHECK_EQ(e.fg.pts_live, pts);
		CHECK_EQ(e.fg.tables_live, tables);
		CHECK_EQ(e.sh.root[5], ZPCI_TABLE_INVALID);
		CHECK_EQ(e.sh.nr_gather, 0);
		/* the same with a segment table present: only the page table */
		fg_map(&e.fg, e.iota, 5 * G_REG, 0x6000, false);
		CHECK_EQ(refresh(&e, 5 * G_REG, G_PAGE, &r), 0);
		e.fg.fail_pin_in = 1;
		CHECK_EQ(refresh(&e, x, G_PAGE, &r), want[k]);
		CHECK_EQ(e.sh.nr_pts, 1);
		CHECK_EQ(e.sh.nr_tables, 2);
		CHECK_EQ(e.fg.pts_live, pts + 1);
		CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
		env_fini(&e);
	}
}

/* refreshes of bad frames in distinct segments leave no shadow tables */
static void t_bad_frames_no_tables(void)
{
	struct s390_shadow_result r;
	struct env e;
	int i;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 64; i++) {
		u64 x = (u64)(i % 4) * 500 * G_REG + (u64)i * 31 * G_SEG +
			(u64)(i * 7 % 256) * G_PAGE;

		fg_map(&e.fg, e.iota, x, RAM + (u64)i * G_PAGE, false);
		CHECK_EQ(refresh(&e, x, G_PAGE, &r), -EFAULT);
		CHECK(!r.changed);
		CHECK_EQ(r.next, x);
		CHECK_EQ(e.sh.nr_pts, 0);
		CHECK_EQ(e.sh.nr_tables, 1);
	}
	CHECK_EQ(e.fg.pts_live, 1);		/* the scratch buffer */
	CHECK_EQ(e.fg.tables_live, 3);		/* root and two buffers */
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	env_fini(&e);
}

/* the last valid entry of a page/segment table goes: the table goes too */
static void t_last_entry_frees_tables(void)
{
	struct s390_shadow_result r;
	u64 a = 3 * G_REG + 5 * G_SEG, b = 3 * G_REG + 9 * G_SEG;
	u64 c = 4 * G_REG + 2 * G_SEG, d = 4 * G_REG + 700 * G_SEG;
	u64 *st;
	struct env e;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, a, 0x5000, false);
	fg_map(&e.fg, e.iota, a + 200 * G_PAGE, 0x6000, true);
	fg_map(&e.fg, e.iota, b, 0x7000, false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(e.sh.nr_pts, 2);
	CHECK_EQ(e.sh.nr_tables, 2);
	st = (u64 *)(uintptr_t)(e.sh.root[3] & ZPCI_RTE_ADDR_MASK);

	/* one PTE of two: the page table stays */
	fg_unmap(&e.fg, e.iota, a);
	CHECK_EQ(refresh(&e, a, G_PAGE, &r), 0);
	CHECK_EQ(r.start, a);
	CHECK_EQ(r.end, a + G_PAGE - 1);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.sh.nr_pts, 2);
	/* the last one: segment entry invalid, flush the whole segment */
	fg_unmap(&e.fg, e.iota, a + 200 * G_PAGE);
	CHECK_EQ(refresh(&e, a + 200 * G_PAGE, G_PAGE, &r), 0);
	CHECK(r.removed);
	CHECK_EQ(r.start, a);
	CHECK_EQ(r.end, a + G_SEG - 1);
	CHECK_EQ(st[5], ZPCI_TABLE_INVALID);
	CHECK_EQ(e.sh.nr_pts, 2);		/* freed after the host RPCIT */
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.sh.nr_pts, 1);
	CHECK_EQ(e.fg.pts_live, 2);
	/* the segment table's last entry: the whole region */
	fg_unmap(&e.fg, e.iota, b);
	CHECK_EQ(refresh(&e, b, G_PAGE, &r), 0);
	CHECK_EQ(r.start, 3 * G_REG);
	CHECK_EQ(r.end, 4 * G_REG - 1);
	CHECK_EQ(e.sh.root[3], ZPCI_TABLE_INVALID);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.sh.nr_pts, 0);
	CHECK_EQ(e.sh.nr_tables, 1);
	CHECK_EQ(e.fg.tables_live, 3);

	/* the same through s390_shadow_unmap_gpa() */
	fg_map(&e.fg, e.iota, c, 0x9000, false);
	fg_map(&e.fg, e.iota, d, 0xa000, false);
	CHECK_EQ(global(&e, &r), 0);
	CHECK_EQ(e.sh.nr_pts, 2);
	CHECK_EQ(s390_shadow_unmap_gpa(&e.sh, 0x9000, 0x9fff, &r), 0);
	CHECK_EQ(r.start, c);
	CHECK_EQ(r.end, c + G_SEG - 1);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.sh.nr_pts, 1);
	CHECK_EQ(s390_shadow_unmap_gpa(&e.sh, 0xa000, 0xafff, &r), 0);
	CHECK_EQ(r.start, 4 * G_REG);
	CHECK_EQ(r.end, 5 * G_REG - 1);
	CHECK_EQ(e.sh.root[4], ZPCI_TABLE_INVALID);
	CHECK_EQ(s390_shadow_release(&e.sh), 1);
	CHECK_EQ(e.sh.nr_pts, 0);
	CHECK_EQ(e.sh.nr_tables, 1);
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	env_fini(&e);
}

/* sh.max_visit: -EAGAIN with a resume point, everything before it done */
static void t_bounded_walk(void)
{
	struct s390_shadow_result r;
	u64 cur = 0, last = 3 * G_SEG - 1, total = 0;
	struct env e;
	int i, rc, calls = 0;

	env_init(&e, ZPCI_IOTA_RTTO);
	for (i = 0; i < 600; i++)
		fg_map(&e.fg, e.iota, (u64)i * G_PAGE, (u64)(i + 1) * G_PAGE, false);
	e.sh.max_visit = 100;
	do {
		rc = refresh(&e, cur, last - cur + 1, &r);
		CHECK(r.visited <= 100);
		total += r.visited;
		if (rc == -EAGAIN) {
			CHECK(r.next > cur && r.next <= last);
			CHECK_EQ(r.next & (G_PAGE - 1), 0);
			if (r.next <= 600 * G_PAGE)
				expect_map(&e, r.next - G_PAGE, r.next, false);
			if (r.next < 600 * G_PAGE)
				expect_unmapped(&e, r.next);
			CHECK(!r.nomem);
			cur = r.next;
		}
		s390_shadow_release(&e.sh);
	} while (rc == -EAGAIN && ++calls < 100);
	CHECK_EQ(rc, 0);
	CHECK_EQ(r.next, last + 1);
	/* 768 PTEs, 2 upper entries per call, 2 more segment entries */
	CHECK_EQ(calls, 7);
	CHECK_EQ(total, 768 + 2 * 8 + 2);
	CHECK_EQ(shadow_count_valid(&e.sh), 600);
	for (i = 0; i < 600; i += 37)
		expect_map(&e, (u64)i * G_PAGE, (u64)(i + 1) * G_PAGE, false);

	/* the first page is always processed: progress even with a bound of 1 */
	for (i = 0; i < 600; i++)
		fg_unmap(&e.fg, e.iota, (u64)i * G_PAGE);
	e.sh.max_visit = 1;
	CHECK_EQ(refresh(&e, 0, G_SEG, &r), -EAGAIN);
	CHECK_EQ(r.visited, 3);
	CHECK_EQ(r.next, G_PAGE);
	expect_unmapped(&e, 0);
	expect_map(&e, G_PAGE, 2 * G_PAGE, false);

	/* an -ENOMEM before the bound: -EAGAIN with nomem, resumed to the end */
	s390_shadow_release(&e.sh);
	fg_map(&e.fg, e.iota, 0, 0x100000, false);
	e.fg.pin_limit = e.fg.nr_pins;
	e.sh.max_visit = 50;
	CHECK_EQ(refresh(&e, 0, last + 1, &r), -EAGAIN);
	CHECK(r.nomem);
	CHECK_EQ(r.next, 48 * G_PAGE);
	cur = r.next;
	s390_shadow_release(&e.sh);
	do {
		rc = refresh(&e, cur, last - cur + 1, &r);
		cur = r.next;
		s390_shadow_release(&e.sh);
	} while (rc == -EAGAIN);
	CHECK_EQ(rc, 0);
	e.fg.pin_limit = -1;
	CHECK_EQ(shadow_count_valid(&e.sh), 0);
	CHECK_EQ(e.sh.nr_pts, 0);

	/* 0: unlimited */
	e.sh.max_visit = 0;
	CHECK_EQ(refresh(&e, 0, last + 1, &r), 0);
	expect_map(&e, 0, 0x100000, false);
	env_fini(&e);
}

/*
 * Aliased guest tables: every region entry names the same segment table,
 * every segment entry the same page table (segment 5: another one with two
 * valid PTEs).  A 4 TiB refresh visits 2^30 PTEs; it completes in calls of
 * bounded work and the shadow matches the guest.
 */
static void t_aliased_walk(void)
{
	struct s390_shadow_result r;
	u64 root, st, pt0, pt5, cur = 0, old = 7 * G_REG + 9 * G_SEG;
	unsigned long max = 1UL << 20;
	struct env e;
	int i, rc, calls = 0;
	bool bounded = true;

	env_init(&e, ZPCI_IOTA_RTTO);
	fg_map(&e.fg, e.iota, old, 0x9000, false);
	CHECK_EQ(global(&e, &r), 0);
	root = e.iota & ZPCI_RTE_ADDR_MASK;
	st = fg_alloc_rst(&e.fg);
	pt0 = fg_alloc_pt(&e.fg);
	pt5 = fg_alloc_pt(&e.fg);
	fg_wr(&e.fg, pt5, 0x5000);
	fg_wr(&e.fg, pt5 + 8, 0x6000 | ZPCI_TABLE_PROTECTED);
	for (i = 0; i < 2048; i++)
		fg_wr(&e.fg, st + i * 8, (i == 5 ? pt5 : pt0) | ZPCI_TABLE_TYPE_SX);
	for (i = 0; i < 2048; i++)
		fg_wr(&e.fg, root + i * 8, st | ZPCI_TABLE_TYPE_RTX | ZPCI_TABLE_LEN_RTX);

	e.sh.max_visit = max;
	do {
		rc = s390_shadow_refresh(&e.sh, cur, G_REACH - cur, &r);
		if (r.visited > max)
			bounded = false;
		if (rc == -EAGAIN) {
			CHECK(r.next > cur);
			cur = r.next;
		}
		s390_shadow_release(&e.sh);
	} while (rc == -EAGAIN && ++calls < 4096);
	CHECK_EQ(rc, 0);
	CHECK(bounded);
	/* 2048 * (1 + 2048 * (1 + 256)) entries in calls of at most 2^20 */
	CHECK(calls >= 1028 && calls <= 1100);
	check_accounting(&e);
	CHECK_EQ(shadow_count_valid(&e.sh), 4096);
	CHECK_EQ(e.fg.pins[5], 2048);
	CHECK_EQ(e.fg.wpins[5], 2048);
	CHECK_EQ(e.fg.pins[6], 2048);
	CHECK_EQ(e.fg.wpins[6], 0);
	CHECK_EQ(e.fg.pins[9], 0);
	CHECK_EQ(e.sh.nr_pts, 2048);
	CHECK_EQ(e.sh.nr_tables, 2049);
	for (i = 0; i < 2048; i += 97) {
		expect_map(&e, (u64)i * G_REG + 5 * G_SEG, 0x5000, false);
		expect_map(&e, (u64)i * G_REG + 5 * G_SEG + G_PAGE, 0x6000, true);
		expect_unmapped(&e, (u64)i * G_REG + 5 * G_SEG + 2 * G_PAGE);
		expect_unmapped(&e, (u64)i * G_REG + 9 * G_SEG);
	}
	CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
	env_fini(&e);
}

/* ------------------------------------------------------------------ */
/* randomized differential test against a naive per-page reference walk */

#define D_REG	3
#define D_SEG	5
#define D_NPG	(D_REG * D_SEG * 256)

struct dstate {
	bool valid;
	bool prot;
	u64 hpa;
};

static u64 d_iova(int k)
{
	static const u64 reg[D_REG] = { 0, 1, 2047 };
	static const u64 seg[D_SEG] = { 0, 1, 511, 512, 2047 };

	return reg[k / (D_SEG * 256)] * G_REG +
	       seg[(k / 256) % D_SEG] * G_SEG + (u64)(k % 256) * G_PAGE;
}

static struct dstate d_shadow(struct env *e, u64 iova)
{
	struct dstate s = { 0 };

	s.valid = s390_shadow_lookup(&e->sh, iova, &s.hpa, &s.prot);
	return s;
}

static bool d_eq(struct dstate a, struct dstate b)
{
	return a.valid == b.valid &&
	       (!a.valid || (a.hpa == b.hpa && a.prot == b.prot));
}

static void d_check_pins(struct env *e, struct dstate *exp)
{
	static u32 cnt[RAM / 4096], wcnt[RAM / 4096];
	u64 base = (u64)(uintptr_t)e->fg.ram, i;
	int k;

	memset(cnt, 0, sizeof(cnt));
	memset(wcnt, 0, sizeof(wcnt));
	for (k = 0; k < D_NPG; k++) {
		if (!exp[k].valid)
			continue;
		cnt[(exp[k].hpa - base) / G_PAGE]++;
		wcnt[(exp[k].hpa - base) / G_PAGE] += !exp[k].prot;
	}
	for (i = 0; i < RAM / G_PAGE; i++) {
		if (cnt[i] != e->fg.pins[i] || wcnt[i] != e->fg.wpins[i]) {
			CHECK(!"per-page pin count differs from the shadow");
			return;
		}
	}
}

/*
 * Errors the engine must report for [start, last] from the region-first/
 * second entries (it checks the whole covered slice, not only tracked
 * pages).  Returns false if an upper entry is invalid (nothing below counts).
 */
static bool d_upper(struct env *e, u64 start, u64 last, bool *err)
{
	int dt = (e->iota >> 2) & 7;
	u64 t = e->iota & ZPCI_RTE_ADDR_MASK, v;
	unsigned int nf = 0, nl = 0;

	if (dt < ZPCI_IOTA_RSTO)
		return true;
	if (dt == ZPCI_IOTA_RFTO) {
		v = fg_rd(&e->fg, t);
		if (v & ZPCI_TABLE_INVALID)
			return false;
		if ((v & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RFX ||
		    (v & ZPCI_TABLE_OFFSET_MASK))
			*err = true;
		t = v & ZPCI_RTE_ADDR_MASK;
	}
	v = fg_rd(&e->fg, t);
	if (v & ZPCI_TABLE_INVALID)
		return false;
	nf = (start >> 31) >> 9;
	nl = (last >> 31) >> 9;
	if ((v & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RSX ||
	    nf < ((v & ZPCI_TABLE_OFFSET_MASK) >> 6) || nl > (v & 3))
		*err = true;
	return true;
}

static void d_run(int dt, int iters)
{
	static struct dstate exp[D_NPG], ref[D_NPG], now[D_NPG];
	struct s390_shadow_result r;
	int it, k, nerr = 0, nenomem = 0, nok = 0, ncor = 0;
	u64 cor_ea[16], cor_val[16];
	int start_fail = checks_failed;
	struct env e;

	rnd_state = seed;
	printf("  differential (dt %d): seed %#llx, %d iterations\n", dt,
	       (unsigned long long)seed, iters);
	env_init(&e, dt);
	memset(exp, 0, sizeof(exp));
	for (it = 0; it < iters && checks_failed == start_fail; it++) {
		int m, nmut = 1 + rnd() % 8, rc;
		bool limited = false, any_err = false, lost = false;
		u64 start, len, last, lo = ~0ULL, hi = 0, pinned = 0;
		long unpins;

		if (e.fg.table_next > e.fg.size - (2 << 20)) {
			/* guest table memory nearly used up: new guest root */
			fg_reset_tables(&e.fg);
			ncor = 0;
			e.iota = fg_new_root(&e.fg, dt);
			CHECK_EQ(s390_shadow_set_iota(&e.sh, e.iota, &r), 0);
			s390_shadow_release(&e.sh);
			memset(exp, 0, sizeof(exp));
		}
		if (rnd() % 2) {
			while (ncor) {
				ncor--;
				fg_wr(&e.fg, cor_ea[ncor], cor_val[ncor]);
			}
		}
		for (m = 0; m < nmut; m++) {
			u64 iova = d_iova(rnd() % D_NPG), ea;
			unsigned int what = rnd() % 100;

			if (what < 45) {
				u64 gpa = (rnd() % (e.fg.data_end / G_PAGE / 64)) * G_PAGE;

				if (rnd() % 50 == 0)
					gpa = RAM + gpa;	/* not guest RAM */
				fg_map(&e.fg, e.iota, iova, gpa, rnd() % 4 == 0);
			} else if (what < 70) {
				fg_unmap(&e.fg, e.iota, iova);
			} else {
				int lvl = 1 + (what & 1);

				/* now and then the region-first/second entry */
				if (what >= 97 && dt >= ZPCI_IOTA_RSTO)
					lvl = dt + 1;
				static const u64 bits[] = { 0x20, 0x20, 0x20,
					0x20, 0x200, 0x4, 0x3, 0x40 };
				u64 b = bits[rnd() % 8];

				if (lvl == 1 && (b == 0x3 || b == 0x40))
					b = 0x20;
				ea = fg_entry_addr(&e.fg, e.iota, iova, lvl,
						   false);
				/* only entries the builder created: never
				 * let the guest point into zeroed data
				 * pages (untracked mappings)
				 */
				if (!ea || !(fg_rd(&e.fg, ea) & ~0x7ffULL))
					continue;
				/* format errors are repaired again soon */
				if (b != 0x20 && b != 0x200 && ncor < 16) {
					cor_ea[ncor] = ea;
					cor_val[ncor++] = fg_rd(&e.fg, ea);
				} else if (b != 0x20 && b != 0x200) {
					continue;
				}
				fg_wr(&e.fg, ea, fg_rd(&e.fg, ea) ^ b);
			}
		}
		if (rnd() % 3 == 0) {
			start = 0;
			len = G_REACH;
		} else {
			start = d_iova(rnd() % D_NPG) + rnd() % (2 * G_SEG) -
				G_SEG / 2;
			if (start >= G_REACH)
				start = 0;
			len = 1 + rnd() % (rnd() % 2 ? 3 * GIB : 4 * G_SEG);
			if (start + len > G_REACH)
				len = G_REACH - start;
		}
		last = start + len - 1;
		if (rnd() % 10 == 0) {
			e.fg.pin_limit = e.fg.nr_pins + rnd() % 20;
			limited = true;
		}
		for (k = 0; k < D_NPG; k++) {
			u64 v = d_iova(k), gpa = 0;
			bool prot = false;
			int rr = fg_ref_walk(&e.fg, e.iota, v, &gpa, &prot);

			ref[k].valid = rr == 1;
			ref[k].prot = prot;
			ref[k].hpa = rr == 1 ? fg_hpa(&e.fg, gpa) : 0;
			if (rr < 0 && v + G_PAGE - 1 >= start && v <= last)
				any_err = true;
		}
		/* table offset/length also covers untracked segments */
		for (k = d_upper(&e, start, last, &any_err) ? 0 : D_NPG;
		     k < D_NPG; k += D_SEG * 256) {
			u64 rb = d_iova(k), s, l;
			u64 ea = fg_entry_addr(&e.fg, e.iota, rb, 2, false);
			u64 rte = ea ? fg_rd(&e.fg, ea) : ZPCI_TABLE_INVALID;

			if (rb > last || rb + G_REG - 1 < start ||
			    (rte & ZPCI_TABLE_INVALID))
				continue;
			if ((rte & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RTX)
				any_err = true;
			s = (start > rb ? start : rb) >> 20 & 0x7ff;
			l = (last < rb + G_REG - 1 ? last : rb + G_REG - 1) >> 20 & 0x7ff;
			if ((s >> 9) < ((rte & 0xc0) >> 6) || (l >> 9) > (rte & 3))
				any_err = true;
		}
		unpins = e.fg.unpin_calls;
		rc = s390_shadow_refresh(&e.sh, start, len, &r);
		e.fg.pin_limit = -1;
		CHECK_EQ(e.fg.unpin_calls, unpins);
		check_accounting(&e);
		if (rc == 0) {
			nok++;
			CHECK(!any_err);
		} else if (rc == -ENOMEM) {
			nenomem++;
			CHECK(limited);
		} else {
			nerr++;
			CHECK(rc == -EINVAL || rc == -EFAULT);
			CHECK(any_err);
		}
		for (k = 0; k < D_NPG; k++) {
			u64 v = d_iova(k);
			bool in = v + G_PAGE - 1 >= start && v <= last;

			now[k] = d_shadow(&e, v);
			if (!in) {
				CHECK(d_eq(now[k], exp[k]));
			} else if (rc == 0) {
				CHECK(d_eq(now[k], ref[k]));
			} else if (rc == -ENOMEM) {
				/* walked to the end: new value or removed */
				CHECK(d_eq(now[k], ref[k]) || !now[k].valid);
			} else {
				/* stopped early: old value or new value */
				CHECK(d_eq(now[k], exp[k]) ||
				      d_eq(now[k], ref[k]) || !now[k].valid);
			}
			if (!d_eq(now[k], exp[k])) {
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
				if (exp[k].valid)
					lost = true;
				if (now[k].valid)
					pinned++;
			}
			if (checks_failed != start_fail) {
				fprintf(stderr,
					"  iteration %d page %#llx rc %d range [%#llx, %#llx]\n",
					it, (unsigned long long)v, rc,
					(unsigned long long)start,
					(unsigned long long)last);
				break;
			}
		}
		if (lo <= hi) {
			CHECK(r.changed);
			CHECK(r.start <= lo && r.end >= hi + G_PAGE - 1);
		}
		if (r.changed) {
			/* beyond the range only for an unlinked table */
			CHECK(r.start >= (start & ~(G_PAGE - 1)) ||
			      !(r.start & (G_SEG - 1)));
			CHECK(r.start >= (start & ~(G_REG - 1)));
			CHECK(r.end <= (last | (G_PAGE - 1)) ||
			      !((r.end + 1) & (G_SEG - 1)));
			CHECK(r.end <= (last | (G_REG - 1)));
		}
		CHECK_EQ(shadow_check(&e.fg, &e.sh), 0);
		if (lost)
			CHECK(r.removed);
		if (rc == 0)
			CHECK_EQ(r.pinned, pinned);
		memcpy(exp, now, sizeof(exp));
		if (rnd() % 5) {
			s390_shadow_release(&e.sh);
			CHECK_EQ(e.sh.nr_gather, 0);
			CHECK_EQ(e.fg.nr_pins, shadow_count_valid(&e.sh));
			if (it % 16 == 0)
				d_check_pins(&e, exp);
		}
	}
	printf("  differential: %d ok, %d table errors, %d -ENOMEM\n", nok,
	       nerr, nenomem);
	/* every outcome was exercised */
	CHECK(nok > iters / 2 && nerr > iters / 100 && nenomem > iters / 400);
	env_fini(&e);
}

static void t_differential(void)
{
	d_run(ZPCI_IOTA_RTTO, 4000);
}

static void t_differential_rsto(void)
{
	d_run(ZPCI_IOTA_RSTO, 1500);
}

static void t_differential_rfto(void)
{
	d_run(ZPCI_IOTA_RFTO, 1500);
}

static int fuzz_loop(long n)
{
	uint8_t buf[512];
	long i;
	size_t j, len;

	rnd_state = seed ^ 0xf022;
	for (i = 0; i < n; i++) {
		len = rnd() % sizeof(buf);
		for (j = 0; j < len; j++)
			buf[j] = rnd();
		if (shadow_fuzz_one(buf, len)) {
			fprintf(stderr, "  fuzz input %ld failed (seed %#llx)\n",
				i, (unsigned long long)seed);
			return -1;
		}
	}
	return 0;
}

static void t_fuzz_loop(void)
{
	printf("  fuzz loop: 5000 inputs, seed %#llx\n",
	       (unsigned long long)seed);
	CHECK_EQ(fuzz_loop(5000), 0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "init_destroy", t_init_destroy },
	{ "basic_map", t_basic_map },
	{ "hw_format", t_hw_format },
	{ "for_each", t_for_each },
	{ "unmap_gpa", t_unmap_gpa },
	{ "unchanged_no_pin", t_unchanged_no_pin },
	{ "remap_order", t_remap_order },
	{ "invalid_pte_deferred", t_invalid_pte_deferred },
	{ "invalid_segment", t_invalid_segment },
	{ "invalid_region", t_invalid_region },
	{ "partial_clear", t_partial_clear },
	{ "range_checks", t_range_checks },
	{ "table_errors", t_table_errors },
	{ "enomem_pin_limit", t_enomem_pin_limit },
	{ "enomem_alloc", t_enomem_alloc },
	{ "flush_range", t_flush_range },
	{ "rsto", t_rsto },
	{ "rfto", t_rfto },
	{ "sto", t_sto },
	{ "upper_prot", t_upper_prot },
	{ "set_iota", t_set_iota },
	{ "destroy_pending", t_destroy_pending },
	{ "zero_entries", t_zero_entries },
	{ "segment_fc", t_segment_fc },
	{ "enomem_continue", t_enomem_continue },
	{ "pin_busy", t_pin_busy },
	{ "pin_fail_frees_tables", t_pin_fail_frees_tables },
	{ "bad_frames_no_tables", t_bad_frames_no_tables },
	{ "last_entry_frees_tables", t_last_entry_frees_tables },
	{ "bounded_walk", t_bounded_walk },
	{ "aliased_walk", t_aliased_walk },
	{ "differential", t_differential },
	{ "differential_rsto", t_differential_rsto },
	{ "differential_rfto", t_differential_rfto },
	{ "fuzz_loop", t_fuzz_loop },
};

int main(int argc, char **argv)
{
	const char *filter = NULL;
	int passed = 0, failed = 0;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "fuzz")) {
		long n = argc > 2 ? atol(argv[2]) : 100000;

		if (argc > 3)
			seed = strtoull(argv[3], NULL, 0);
		printf("fuzz loop: %ld inputs, seed %#llx\n", n,
		       (unsigned long long)seed);
		return fuzz_loop(n) ? 1 : 0;
	}
	if (argc > 1 && strcmp(argv[1], "all"))
		filter = argv[1];
	if (argc > 2)
		seed = strtoull(argv[2], NULL, 0);
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		int before = checks_failed;

		if (filter && !strstr(tests[i].name, filter))
			continue;
		tests[i].fn();
		if (checks_failed == before) {
			printf("ok   %s\n", tests[i].name);
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	printf("shadow engine: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
