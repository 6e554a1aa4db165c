// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the s390 KVM shadow engine (s390-kvm-shadow.c).
 *
 * The engine calls the services of its user by name (s390-kvm-shadow.h).
 * This module defines them itself, over a fake guest, and then includes the
 * engine's source: the engine is compiled into the test module against the
 * fake guest instead of the KVM zPCI IOMMU driver, as the host-native test
 * bed in tools/testing/s390-kvm-shadow/ compiles it against its own fake
 * guest.  The engine's calls, and the tests' calls of the engine, resolve
 * to the module's own definitions; the engine's exports are dropped, since
 * the built-in copy of the engine exports the same names.
 *
 * The fake guest: SHT_RAM bytes of guest RAM at guest-physical address 0,
 * one page allocated per 4 KiB guest frame.  A pin returns the physical
 * address of the page backing the frame and is counted per frame (writable
 * pins separately), up to an optional limit; an unpin must match a pin.
 * Shadow region/segment tables are 16 KiB aligned pages of order 2, shadow
 * page tables single pages, as in the KVM zPCI IOMMU driver, handed out
 * filled with garbage.  Pins, table, page table and deferred release list
 * allocations fail on demand.  The guest builds its I/O translation tables
 * in the upper half of its RAM (big-endian, as the Linux s390-iommu driver
 * does); data frames lie in the lower half.
 *
 * Every case starts with a fresh fake guest and a shadow of an empty
 * region-third table (sht_init()); after it, the shadow is recounted
 * against the fake guest's books and destroyed, which must leave no pin
 * and no table behind (sht_exit()).
 */

#include <kunit/test.h>
#include <linux/align.h>
#include <linux/array_size.h>
#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pfn.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sprintf.h>
#include <linux/string.h>
#include <linux/types.h>
#include <asm/byteorder.h>
#include <asm/page.h>
#include <asm/pci_dma.h>

#include "s390-kvm-shadow.h"

/* Guest RAM [0, SHT_RAM): data frames below SHT_TABLES, guest tables above */
#define SHT_RAM		SZ_8M
#define SHT_PAGES	(SHT_RAM >> PAGE_SHIFT)
#define SHT_TABLES	(SHT_RAM / 2)

/* Shadow region/segment tables: 16 KiB, naturally aligned */
#define SHT_TABLE_ORDER	2

/* Sizes of the I/O address space */
#define SHT_PG		BIT_ULL(12)
#define SHT_SEG		BIT_ULL(20)
#define SHT_GIB		BIT_ULL(30)
#define SHT_REG		BIT_ULL(31)
#define SHT_REACH	BIT_ULL(42)

/**
 * struct sht_guest - the fake guest of one test case
 * @test: the test case
 * @sh: the shadow under test
 * @sh_live: @sh was initialized by sht_init()
 * @iota: the guest IOTA most recently given to @sh
 * @pages: the page backing each guest frame
 * @pins: pins per guest frame
 * @wpins: writable pins per guest frame
 * @cnt: scratch per guest frame of sht_check()
 * @wcnt: the same for writable mappings
 * @table_next: bump allocator for guest tables
 * @nr_pins: pins held
 * @pin_limit: pins beyond this fail with -ENOMEM (< 0: no limit)
 * @pin_calls: calls of s390_shadow_pin_frame()
 * @unpin_calls: calls of s390_shadow_unpin_frame()
 * @read_calls: calls of s390_shadow_read_guest()
 * @tables_live: region/segment tables allocated
 * @pts_live: page tables allocated
 * @fail_table_in: fail the n-th next table allocation (1: the next), 0: off
 * @fail_pt_in: the same for page tables
 * @fail_realloc_in: the same for the deferred release list (kvrealloc())
 * @fail_pin_in: fail the n-th next pin with @fail_pin_rc
 * @fail_pin_rc: error of an injected pin failure
 * @errors: misuses of the services seen (bad unpin or free)
 */
struct sht_guest {
	struct kunit *test;
	struct s390_shadow sh;
	bool sh_live;
	u64 iota;
	struct page **pages;
	u32 *pins;
	u32 *wpins;
	u32 *cnt;
	u32 *wcnt;
	u64 table_next;
	long nr_pins;
	long pin_limit;
	long pin_calls;
	long unpin_calls;
	long read_calls;
	long tables_live;
	long pts_live;
	long fail_table_in;
	long fail_pt_in;
	long fail_realloc_in;
	long fail_pin_in;
	int fail_pin_rc;
	long errors;
};

/*
 * The fake guest of the running case: the engine's kvrealloc() calls carry
 * no context (KUnit runs one case at a time)
 */
static struct sht_guest *sht_active;

static bool sht_inject(long *ctr)
{
	return *ctr > 0 && !--*ctr;
}

/* Guest frame of the host physical address @hpa, -1 if it is none */
static long sht_index(struct sht_guest *fg, u64 hpa)
{
	unsigned long pfn = PHYS_PFN(hpa), i;
	struct page *page;

	if (!pfn_valid(pfn))
		return -1;
	page = pfn_to_page(pfn);
	i = page_private(page);
	if (i >= SHT_PAGES || fg->pages[i] != page)
		return -1;
	return i;
}

/* The engine's services, over the fake guest */

int s390_shadow_read_guest(void *priv, u64 gpa, void *buf, size_t len)
{
	struct sht_guest *fg = priv;
	u8 *dst = buf;

	fg->read_calls++;
	if (gpa >= SHT_RAM || len > SHT_RAM - gpa)
		return -EFAULT;
	while (len) {
		size_t off = offset_in_page(gpa);
		size_t n = min_t(size_t, len, PAGE_SIZE - off);

		memcpy(dst, page_address(fg->pages[gpa >> PAGE_SHIFT]) + off, n);
		dst += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int s390_shadow_pin_frame(void *priv, u64 gpa, bool write, u64 *hpa)
{
	struct sht_guest *fg = priv;
	unsigned long i = gpa >> PAGE_SHIFT;

	fg->pin_calls++;
	if (sht_inject(&fg->fail_pin_in))
		return fg->fail_pin_rc;
	if (gpa >= SHT_RAM)
		return -EFAULT;
	if (fg->pin_limit >= 0 && fg->nr_pins >= fg->pin_limit)
		return -ENOMEM;
	fg->pins[i]++;
	if (write)
		fg->wpins[i]++;
	fg->nr_pins++;
	*hpa = page_to_phys(fg->pages[i]);
	return 0;
}

void s390_shadow_unpin_frame(void *priv, u64 hpa, bool dirty)
{
	struct sht_guest *fg = priv;
	long i = sht_index(fg, hpa);

	fg->unpin_calls++;
	if (i < 0 || (hpa & ~PAGE_MASK)) {
		kunit_err(fg->test, "unpin of %#llx, not a guest page\n", hpa);
		fg->errors++;
		return;
	}
	if (!fg->pins[i]) {
		kunit_err(fg->test, "unpin of gpa %#lx, not pinned\n",
			  i << PAGE_SHIFT);
		fg->errors++;
		return;
	}
	if (dirty) {
		if (!fg->wpins[i]) {
			kunit_err(fg->test, "dirty unpin of gpa %#lx, no writable pin\n",
				  i << PAGE_SHIFT);
			fg->errors++;
			return;
		}
		fg->wpins[i]--;
	} else if (fg->wpins[i] == fg->pins[i]) {
		kunit_err(fg->test, "clean unpin of gpa %#lx, only writable pins\n",
			  i << PAGE_SHIFT);
		fg->errors++;
	}
	fg->pins[i]--;
	fg->nr_pins--;
}

u64 *s390_shadow_alloc_table(void *priv)
{
	struct sht_guest *fg = priv;
	u64 *table;

	if (sht_inject(&fg->fail_table_in))
		return NULL;
	table = (u64 *)__get_free_pages(GFP_KERNEL, SHT_TABLE_ORDER);
	if (!table)
		return NULL;
	/* the engine initializes every entry */
	memset(table, 0xa5, PAGE_SIZE << SHT_TABLE_ORDER);
	fg->tables_live++;
	return table;
}

void s390_shadow_free_table(void *priv, u64 *table)
{
	struct sht_guest *fg = priv;

	if (!IS_ALIGNED((unsigned long)table, PAGE_SIZE << SHT_TABLE_ORDER)) {
		kunit_err(fg->test, "free of table %p, not allocated\n", table);
		fg->errors++;
		return;
	}
	fg->tables_live--;
	free_pages((unsigned long)table, SHT_TABLE_ORDER);
}

u64 *s390_shadow_alloc_pt(void *priv)
{
	struct sht_guest *fg = priv;
	u64 *pt;

	if (sht_inject(&fg->fail_pt_in))
		return NULL;
	pt = (u64 *)__get_free_page(GFP_KERNEL);
	if (!pt)
		return NULL;
	memset(pt, 0x5a, PAGE_SIZE);
	fg->pts_live++;
	return pt;
}

void s390_shadow_free_pt(void *priv, u64 *pt)
{
	struct sht_guest *fg = priv;

	if (!IS_ALIGNED((unsigned long)pt, PAGE_SIZE)) {
		kunit_err(fg->test, "free of page table %p, not allocated\n", pt);
		fg->errors++;
		return;
	}
	fg->pts_live--;
	free_page((unsigned long)pt);
}

/* The engine's deferred release list allocations, failing on demand */
static void *sht_kvrealloc(const void *p, size_t size, gfp_t flags)
{
	if (sht_active && sht_inject(&sht_active->fail_realloc_in))
		return NULL;
	return kvrealloc(p, size, flags);
}

MODULE_DESCRIPTION("KUnit tests for the s390 KVM shadow engine");
MODULE_LICENSE("GPL");

/*
 * The engine, compiled into this module.  Dropped: its exports, which would
 * duplicate those of the built-in engine, and its module information (this
 * module's is above); each leaves a compile-time check that its argument is
 * declared.  Its kvrealloc() calls go to sht_kvrealloc().
 */
#undef EXPORT_SYMBOL_GPL
#define EXPORT_SYMBOL_GPL(sym) static_assert(sizeof(typeof(sym) *))
#undef MODULE_DESCRIPTION
#define MODULE_DESCRIPTION(desc) static_assert(sizeof(desc))
#undef MODULE_LICENSE
#define MODULE_LICENSE(license) static_assert(sizeof(license))
#undef kvrealloc
#define kvrealloc(p, size, flags) sht_kvrealloc(p, size, flags)

#include "s390-kvm-shadow.c"

/* Guest memory accessors (table entries are big-endian) */

static u64 sht_rd(struct sht_guest *fg, u64 gpa)
{
	__be64 *p;

	if (gpa > SHT_RAM - sizeof(*p))
		return 0;
	p = page_address(fg->pages[gpa >> PAGE_SHIFT]) + offset_in_page(gpa);
	return be64_to_cpu(*p);
}

static void sht_wr(struct sht_guest *fg, u64 gpa, u64 val)
{
	__be64 *p;

	KUNIT_ASSERT_LE(fg->test, gpa, SHT_RAM - sizeof(*p));
	p = page_address(fg->pages[gpa >> PAGE_SHIFT]) + offset_in_page(gpa);
	*p = cpu_to_be64(val);
}

/* Host physical address the shadow maps guest frame @gpa to */
static u64 sht_hpa(struct sht_guest *fg, u64 gpa)
{
	if (gpa >= SHT_RAM)
		return ~0ULL;
	return page_to_phys(fg->pages[gpa >> PAGE_SHIFT]);
}

/* Allocate a guest table of @size bytes (naturally aligned), all @fill */
static u64 sht_alloc(struct sht_guest *fg, u64 size, u64 fill)
{
	u64 gpa = ALIGN(fg->table_next, size), i;

	KUNIT_ASSERT_LE_MSG(fg->test, gpa + size, SHT_RAM,
			    "guest table memory exhausted");
	fg->table_next = gpa + size;
	for (i = 0; i < size; i += sizeof(u64))
		sht_wr(fg, gpa + i, fill);
	return gpa;
}

static u64 sht_alloc_rst(struct sht_guest *fg)
{
	return sht_alloc(fg, ZPCI_TABLE_SIZE, ZPCI_TABLE_INVALID);
}

static u64 sht_alloc_pt(struct sht_guest *fg)
{
	return sht_alloc(fg, ZPCI_PT_SIZE, ZPCI_PTE_INVALID);
}

/* Guest IOTA of a new, empty root table of designation type @dt */
static u64 sht_new_root(struct sht_guest *fg, int dt)
{
	return sht_alloc_rst(fg) | ((u64)dt << 2) | ZPCI_IOTA_IOT_ENABLED;
}

/* A new, empty guest root table of type @dt becomes the shadow's IOTA */
static void sht_use_root(struct sht_guest *fg, int dt)
{
	struct s390_shadow_result r;

	fg->iota = sht_new_root(fg, dt);
	KUNIT_ASSERT_EQ(fg->test, s390_shadow_set_iota(&fg->sh, fg->iota, &r), 0);
	s390_shadow_release(&fg->sh);
}

/* Table levels: 0 PTE, 1 STE, 2 RTE, 3 RSE, 4 RFE; top level of an IOTA */
static int sht_top_level(u64 iota)
{
	return ((iota >> 2) & 7) + 1;
}

static unsigned int sht_index_of(u64 iova, int level)
{
	static const int shift[] = { 12, 20, 31, 42, 53 };

	return (iova >> shift[level]) & (level ? 0x7ff : 0xff);
}

static const u64 sht_type_of[] = {
	0, ZPCI_TABLE_TYPE_SX, ZPCI_TABLE_TYPE_RTX, ZPCI_TABLE_TYPE_RSX,
	ZPCI_TABLE_TYPE_RFX
};

/*
 * Guest-physical address of the guest entry for @iova at @level under
 * @iota; with @create, missing lower tables are created (as the Linux
 * s390-iommu driver does).  0 if there is no such entry.
 */
static u64 sht_entry_addr(struct sht_guest *fg, u64 iota, u64 iova,
			  int level, bool create)
{
	u64 table = iota & ZPCI_RTE_ADDR_MASK;
	int l;

	if (level > sht_top_level(iota))
		return 0;
	for (l = sht_top_level(iota); l > level; l--) {
		u64 ea = table + sht_index_of(iova, l) * 8;
		u64 e, t;

		if (ea > SHT_RAM - 8)
			return 0;
		e = sht_rd(fg, ea);
		if (e & ZPCI_TABLE_INVALID) {
			if (!create)
				return 0;
			t = l == 1 ? sht_alloc_pt(fg) : sht_alloc_rst(fg);
			if (l == 1)
				e = t | ZPCI_TABLE_TYPE_SX;
			else
				e = t | sht_type_of[l] | ZPCI_TABLE_LEN_RTX;
			sht_wr(fg, ea, e);
		}
		table = e & (l == 1 ? ZPCI_STE_ADDR_MASK : ZPCI_RTE_ADDR_MASK);
	}
	if (table + sht_index_of(iova, level) * 8 > SHT_RAM - 8)
		return 0;
	return table + sht_index_of(iova, level) * 8;
}

/* Guest maps @iova to @gpa under @iota */
static void sht_map_iota(struct sht_guest *fg, u64 iota, u64 iova, u64 gpa,
			 bool prot)
{
	u64 ea = sht_entry_addr(fg, iota, iova, 0, true);

	KUNIT_ASSERT_NE(fg->test, ea, 0);
	sht_wr(fg, ea, (gpa & ZPCI_PTE_ADDR_MASK) |
	       (prot ? ZPCI_TABLE_PROTECTED : 0));
}

static void sht_map(struct sht_guest *fg, u64 iova, u64 gpa, bool prot)
{
	sht_map_iota(fg, fg->iota, iova, gpa, prot);
}

static void sht_unmap(struct sht_guest *fg, u64 iova)
{
	u64 ea = sht_entry_addr(fg, fg->iota, iova, 0, false);

	if (ea)
		sht_wr(fg, ea, ZPCI_PTE_INVALID);
}

/* Guest entry of @iova at @level, which must exist */
static u64 sht_entry(struct sht_guest *fg, u64 iova, int level)
{
	u64 ea = sht_entry_addr(fg, fg->iota, iova, level, false);

	KUNIT_ASSERT_NE(fg->test, ea, 0);
	return ea;
}

/*
 * Reference walk of the guest tables, one IOVA at a time: 1 valid (*@gpa,
 * *@prot set), 0 invalid, -1 table error
 */
static int sht_ref_walk(struct sht_guest *fg, u64 iota, u64 iova, u64 *gpa,
			bool *prot)
{
	u64 table = iota & ZPCI_RTE_ADDR_MASK, e = 0, p = 0;
	int l;

	for (l = sht_top_level(iota); l >= 0; l--) {
		u64 ea = table + sht_index_of(iova, l) * 8;

		if (ea > SHT_RAM - 8)
			return -1;
		e = sht_rd(fg, ea);
		/* a zero entry is an error at every level */
		if (!e)
			return -1;
		if (l == 0)
			break;
		if (e & ZPCI_TABLE_INVALID)
			return 0;
		if ((e & ZPCI_TABLE_TYPE_MASK) != sht_type_of[l])
			return -1;
		/* segment entry format control: 1 MiB frame, not supported */
		if (l == 1 && (e & 0x400))
			return -1;
		if (l >= 2) {
			unsigned int nx = sht_index_of(iova, l - 1) >> 9;

			if (nx < ((e & ZPCI_TABLE_OFFSET_MASK) >> 6) ||
			    nx > (e & ZPCI_TABLE_LEN_RTX))
				return -1;
		}
		p |= e & ZPCI_TABLE_PROT_MASK;
		table = e & (l == 1 ? ZPCI_STE_ADDR_MASK : ZPCI_RTE_ADDR_MASK);
	}
	if (e & ZPCI_PTE_INVALID)
		return 0;
	if ((e & ZPCI_PTE_ADDR_MASK) >= SHT_RAM)
		return -1;
	*gpa = e & ZPCI_PTE_ADDR_MASK;
	*prot = (e | p) & ZPCI_TABLE_PROT_MASK;
	return 1;
}

/* The engine's pin count matches the fake's, no service was misused */
static void sht_accounting(struct sht_guest *fg)
{
	KUNIT_EXPECT_EQ(fg->test, fg->nr_pins, fg->sh.nr_pinned);
	KUNIT_EXPECT_EQ(fg->test, fg->errors, 0);
}

static int sht_refresh(struct sht_guest *fg, u64 iova, u64 len,
		       struct s390_shadow_result *r)
{
	long unpins = fg->unpin_calls;
	int rc = s390_shadow_refresh(&fg->sh, iova, len, r);

	/* deferred release: a refresh never unpins */
	KUNIT_EXPECT_EQ(fg->test, fg->unpin_calls, unpins);
	sht_accounting(fg);
	return rc;
}

/* Refresh of the whole reach of the IOTA */
static int sht_global(struct sht_guest *fg, struct s390_shadow_result *r)
{
	bool sto = ((fg->iota >> 2) & 7) == ZPCI_IOTA_STO;

	return sht_refresh(fg, 0, sto ? 2 * SHT_GIB : SHT_REACH, r);
}

/* The shadow translates @iova to guest frame @gpa, read-only if @prot */
static void sht_expect_map(struct sht_guest *fg, u64 iova, u64 gpa, bool prot)
{
	bool found, p = !prot;
	u64 hpa = 0;

	found = s390_shadow_lookup(&fg->sh, iova, &hpa, &p);
	KUNIT_EXPECT_TRUE_MSG(fg->test, found, "iova %#llx not mapped", iova);
	if (!found)
		return;
	KUNIT_EXPECT_EQ_MSG(fg->test, hpa, sht_hpa(fg, gpa), "iova %#llx", iova);
	KUNIT_EXPECT_EQ_MSG(fg->test, p, prot, "iova %#llx", iova);
}

static void sht_expect_unmapped(struct sht_guest *fg, u64 iova)
{
	u64 hpa;
	bool p;

	KUNIT_EXPECT_FALSE_MSG(fg->test, s390_shadow_lookup(&fg->sh, iova, &hpa, &p),
			       "iova %#llx mapped", iova);
}

/* Number of valid PTEs of the shadow, walking the hardware format */
static unsigned long sht_count_valid(struct s390_shadow *sh)
{
	unsigned long n = 0;
	unsigned int i, j, k;

	for (i = 0; i < 2048; i++) {
		u64 *st;

		if (sh->root[i] & ZPCI_TABLE_INVALID)
			continue;
		st = phys_to_virt(sh->root[i] & ZPCI_RTE_ADDR_MASK);
		for (j = 0; j < 2048; j++) {
			u64 *pt;

			if (st[j] & ZPCI_TABLE_INVALID)
				continue;
			pt = phys_to_virt(st[j] & ZPCI_STE_ADDR_MASK);
			for (k = 0; k < 256; k++)
				n += !(pt[k] & ZPCI_PTE_INVALID);
		}
	}
	return n;
}

static bool sht_pt_empty(const u64 *pt)
{
	unsigned int k;

	for (k = 0; k < 256; k++)
		if (!(pt[k] & ZPCI_PTE_INVALID))
			return false;
	return true;
}

/*
 * The engine's books in the second half of a shadow page table: slot k
 * (pt[256 + k]) holds the guest PTE value shadow PTE k was built from, 0
 * for an invalid PTE; bit 10 of slots 0..8 is the table's valid count.
 * Check both against the hardware PTEs.
 */
static int sht_check_pt_books(struct sht_guest *fg, const u64 *pt)
{
	const u64 *seen = pt + 256;
	unsigned int k, nr = 0, valid = 0;

	for (k = 0; k < 9; k++)
		nr |= ((seen[k] & ZPCI_PTE_INVALID) ? 1U : 0U) << k;
	for (k = 0; k < 256; k++) {
		u64 v = seen[k] & ~(u64)ZPCI_PTE_INVALID;

		if (pt[k] & ZPCI_PTE_INVALID) {
			if (v) {
				kunit_err(fg->test, "invalid shadow PTE %u has seen value %#llx\n",
					  k, v);
				return -1;
			}
			continue;
		}
		valid++;
		if (!v || (v & ZPCI_TABLE_PROT_MASK) !=
			  (pt[k] & ZPCI_TABLE_PROT_MASK)) {
			kunit_err(fg->test, "shadow PTE %u %#llx built from seen value %#llx\n",
				  k, pt[k], v);
			return -1;
		}
	}
	if (nr != valid) {
		kunit_err(fg->test, "shadow page table: valid count %u, %u valid PTEs\n",
			  nr, valid);
		return -1;
	}
	return 0;
}

/* Count the valid PTEs of @pt into the per-frame counts */
static int sht_count_pt(struct sht_guest *fg, const u64 *pt)
{
	unsigned int k;
	long i;

	if (sht_check_pt_books(fg, pt))
		return -1;
	for (k = 0; k < 256; k++) {
		if (pt[k] & ZPCI_PTE_INVALID)
			continue;
		i = sht_index(fg, pt[k] & ZPCI_PTE_ADDR_MASK);
		if (i < 0) {
			kunit_err(fg->test, "shadow PTE %#llx maps no guest frame\n",
				  pt[k]);
			return -1;
		}
		fg->cnt[i]++;
		fg->wcnt[i] += !(pt[k] & ZPCI_TABLE_PROT_MASK);
	}
	return 0;
}

/*
 * The page tables of a segment table; @linked: it is reachable from the
 * root and @nr_ste is the engine's count of its valid entries
 */
static int sht_count_st(struct sht_guest *fg, const u64 *st, bool linked,
			unsigned int nr_ste, unsigned long *pts)
{
	unsigned int j, valid = 0;

	for (j = 0; j < 2048; j++) {
		const u64 *pt;

		if (st[j] & ZPCI_TABLE_INVALID)
			continue;
		valid++;
		pt = phys_to_virt(st[j] & ZPCI_STE_ADDR_MASK);
		(*pts)++;
		if (linked && sht_pt_empty(pt)) {
			kunit_err(fg->test, "linked empty shadow page table (segment %u)\n",
				  j);
			return -1;
		}
		if (sht_count_pt(fg, pt))
			return -1;
	}
	if (linked && !valid) {
		kunit_err(fg->test, "linked shadow segment table without a valid entry\n");
		return -1;
	}
	if (linked && valid != nr_ste) {
		kunit_err(fg->test, "shadow segment table: count %u, %u valid entries\n",
			  nr_ste, valid);
		return -1;
	}
	return 0;
}

/*
 * Recount the shadow against the engine's and the fake guest's books: the
 * engine's table counts equal the linked tables plus those queued for
 * release, the fake's live tables match (plus the scratch buffers: two
 * tables, one page table), every frame's pins equal the valid shadow PTEs
 * mapping it plus its queued unpins, no linked table is without a valid
 * entry, and the engine's per-table counts match the tables.  0 or -1.
 */
static int sht_check(struct sht_guest *fg)
{
	struct s390_shadow *sh = &fg->sh;
	unsigned long pts = 0, tables = 1, i;
	long p;

	memset(fg->cnt, 0, SHT_PAGES * sizeof(*fg->cnt));
	memset(fg->wcnt, 0, SHT_PAGES * sizeof(*fg->wcnt));
	for (i = 0; i < 2048; i++) {
		if (sh->root[i] & ZPCI_TABLE_INVALID) {
			if (sh->nr_ste[i]) {
				kunit_err(fg->test, "invalid root entry %lu: count %u\n",
					  i, sh->nr_ste[i]);
				return -1;
			}
			continue;
		}
		tables++;
		if (sht_count_st(fg, phys_to_virt(sh->root[i] & ZPCI_RTE_ADDR_MASK),
				 true, sh->nr_ste[i], &pts))
			return -1;
	}
	for (i = 0; i < sh->nr_gather; i++) {
		u64 v = sh->gather[i], a = v & ~0xfffULL;

		switch (v & SH_G_TYPE) {
		case SH_G_UNPIN:
		case SH_G_UNPIN_DIRTY:
			p = sht_index(fg, a);
			if (p < 0) {
				kunit_err(fg->test, "queued unpin of %#llx, no guest frame\n",
					  a);
				return -1;
			}
			fg->cnt[p]++;
			fg->wcnt[p] += (v & SH_G_TYPE) == SH_G_UNPIN_DIRTY;
			break;
		case SH_G_PT:
			pts++;
			if (sht_count_pt(fg, phys_to_virt(a)))
				return -1;
			break;
		default:
			tables++;
			if (sht_count_st(fg, phys_to_virt(a), false, 0, &pts))
				return -1;
			break;
		}
	}
	if (pts != sh->nr_pts || tables != sh->nr_tables) {
		kunit_err(fg->test, "recount: %lu pts, %lu tables; nr_pts %lu nr_tables %lu\n",
			  pts, tables, sh->nr_pts, sh->nr_tables);
		return -1;
	}
	if (fg->pts_live != (long)pts + 1 || fg->tables_live != (long)tables + 2) {
		kunit_err(fg->test, "recount: %lu pts, %lu tables; fake: %ld, %ld live\n",
			  pts, tables, fg->pts_live, fg->tables_live);
		return -1;
	}
	for (p = 0; p < SHT_PAGES; p++) {
		if (fg->cnt[p] != fg->pins[p] || fg->wcnt[p] != fg->wpins[p]) {
			kunit_err(fg->test, "gpa %#lx: %u/%u maps/writable, %u/%u pins\n",
				  p << PAGE_SHIFT, fg->cnt[p], fg->wcnt[p],
				  fg->pins[p], fg->wpins[p]);
			return -1;
		}
	}
	if ((unsigned long)fg->nr_pins != sh->nr_pinned) {
		kunit_err(fg->test, "fake nr_pins %ld, engine nr_pinned %lu\n",
			  fg->nr_pins, sh->nr_pinned);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

static void shadow_test_init_destroy(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	long tables = fg->tables_live, pts = fg->pts_live;
	struct s390_shadow sh;
	unsigned int i, k;

	/* the fixture's shadow: root and two buffers, one page table buffer */
	KUNIT_EXPECT_EQ(test, tables, 3);
	KUNIT_EXPECT_EQ(test, pts, 1);
	KUNIT_EXPECT_EQ(test, fg->sh.nr_tables, 1);
	KUNIT_EXPECT_EQ(test, fg->sh.nr_pts, 0);
	KUNIT_EXPECT_EQ(test, fg->sh.nr_pinned, 0);
	KUNIT_EXPECT_EQ(test, fg->sh.max_visit, 0);
	KUNIT_EXPECT_EQ(test, fg->sh.nr_gather, 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_root_phys(&fg->sh),
			virt_to_phys(fg->sh.root));
	KUNIT_EXPECT_EQ(test, s390_shadow_root_phys(&fg->sh) & (SZ_16K - 1), 0);
	for (i = 0; i < 2048; i++) {
		if (fg->sh.root[i] != ZPCI_TABLE_INVALID) {
			KUNIT_FAIL(test, "root entry %u: %#llx", i, fg->sh.root[i]);
			break;
		}
	}

	/* each allocation of init failing in turn: -ENOMEM, nothing leaked */
	for (k = 0; k < 6; k++) {
		if (k < 3)
			fg->fail_table_in = k + 1;
		else if (k == 3)
			fg->fail_pt_in = 1;
		else
			fg->fail_realloc_in = k - 3;
		KUNIT_EXPECT_EQ(test, s390_shadow_init(&sh, fg), -ENOMEM);
		KUNIT_EXPECT_EQ(test, fg->tables_live, tables);
		KUNIT_EXPECT_EQ(test, fg->pts_live, pts);
		KUNIT_EXPECT_NULL(test, sh.root);
		KUNIT_EXPECT_EQ(test, fg->fail_table_in + fg->fail_pt_in +
				fg->fail_realloc_in, 0);
		s390_shadow_destroy(&sh);	/* harmless after a failed init */
		KUNIT_EXPECT_EQ(test, fg->tables_live, tables);
	}

	/* a second shadow of the same guest */
	KUNIT_ASSERT_EQ(test, s390_shadow_init(&sh, fg), 0);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables + 3);
	KUNIT_EXPECT_EQ(test, fg->pts_live, pts + 1);
	KUNIT_EXPECT_NE(test, s390_shadow_root_phys(&sh),
			s390_shadow_root_phys(&fg->sh));
	s390_shadow_destroy(&sh);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables);
	KUNIT_EXPECT_EQ(test, fg->pts_live, pts);
	KUNIT_EXPECT_NULL(test, sh.root);
	KUNIT_EXPECT_FALSE(test, sh.has_iota);
}

static u64 sht_basic_iova(int i)
{
	return (u64)(i % 3 ? i % 7 : 2047) * SHT_REG +
	       (u64)(i * 37 % 2048) * SHT_SEG + (u64)(i % 256) * SHT_PG;
}

static void shadow_test_basic_map(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 300; i++)
		sht_map(fg, sht_basic_iova(i), (u64)(i + 1) * SHT_PG, i % 3 == 0);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 300);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_FALSE(test, r.removed);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REACH);
	for (i = 0; i < 300; i++) {
		u64 iova = sht_basic_iova(i);

		sht_expect_map(fg, iova, (u64)(i + 1) * SHT_PG, i % 3 == 0);
		KUNIT_EXPECT_EQ(test, fg->pins[i + 1], 1);
		KUNIT_EXPECT_EQ(test, fg->wpins[i + 1], i % 3 ? 1 : 0);
		sht_expect_unmapped(fg, iova + 300 * SHT_PG);
	}
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 300);
	KUNIT_EXPECT_EQ(test, sht_count_valid(&fg->sh), 300);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 0);
}

/* The shadow tables in the format the hardware walks */
static void shadow_test_hw_format(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 iova = 3 * SHT_REG + 5 * SHT_SEG + 7 * SHT_PG;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	u64 rte, ste, *st, *pt;

	sht_map(fg, iova, 0x10000, true);
	sht_map(fg, iova + SHT_PG, 0x11000, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, iova, 2 * SHT_PG, &r), 0);
	/* valid, unprotected region-third entry, offset 0, length 3 */
	rte = sh->root[3];
	KUNIT_EXPECT_EQ(test, rte & ZPCI_RTE_FLAG_MASK,
			ZPCI_TABLE_TYPE_RTX | ZPCI_TABLE_LEN_RTX);
	KUNIT_EXPECT_EQ(test, sh->root[2], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sh->root[4], ZPCI_TABLE_INVALID);
	st = phys_to_virt(rte & ZPCI_RTE_ADDR_MASK);
	/* valid, unprotected segment entry of a 4 KiB aligned page table */
	ste = st[5];
	KUNIT_EXPECT_EQ(test, ste & (SZ_4K - 1), ZPCI_TABLE_TYPE_SX);
	KUNIT_EXPECT_EQ(test, st[4], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, st[6], ZPCI_TABLE_INVALID);
	pt = phys_to_virt(ste & ZPCI_STE_ADDR_MASK);
	KUNIT_EXPECT_EQ(test, pt[7], sht_hpa(fg, 0x10000) | ZPCI_TABLE_PROTECTED);
	KUNIT_EXPECT_EQ(test, pt[8], sht_hpa(fg, 0x11000));
	KUNIT_EXPECT_EQ(test, pt[6], ZPCI_PTE_INVALID);
	KUNIT_EXPECT_EQ(test, pt[9], ZPCI_PTE_INVALID);
	KUNIT_EXPECT_EQ(test, sh->nr_ste[3], 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
}

static void shadow_test_lookup(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 x = 9 * SHT_REG + 17 * SHT_SEG + 33 * SHT_PG, hpa = 0;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	bool prot = true;

	sht_map(fg, x, 0x23000, false);
	sht_map(fg, x + SHT_PG, 0x24000, true);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, 2 * SHT_PG, &r), 0);
	/* the page offset is kept */
	KUNIT_EXPECT_TRUE(test, s390_shadow_lookup(sh, x + 0x123, &hpa, &prot));
	KUNIT_EXPECT_EQ(test, hpa, sht_hpa(fg, 0x23000) + 0x123);
	KUNIT_EXPECT_FALSE(test, prot);
	KUNIT_EXPECT_TRUE(test, s390_shadow_lookup(sh, x + SHT_PG + 0xfff, &hpa,
						   &prot));
	KUNIT_EXPECT_EQ(test, hpa, sht_hpa(fg, 0x24000) + 0xfff);
	KUNIT_EXPECT_TRUE(test, prot);
	/* invalid PTEs of the same page table, no page table, no segment table */
	KUNIT_EXPECT_FALSE(test, s390_shadow_lookup(sh, x - SHT_PG, &hpa, &prot));
	KUNIT_EXPECT_FALSE(test, s390_shadow_lookup(sh, x + 2 * SHT_PG, &hpa,
						    &prot));
	KUNIT_EXPECT_FALSE(test, s390_shadow_lookup(sh, x + SHT_SEG, &hpa, &prot));
	KUNIT_EXPECT_FALSE(test, s390_shadow_lookup(sh, x + SHT_REG, &hpa, &prot));
	/* beyond the reach of the region-third root */
	KUNIT_EXPECT_FALSE(test, s390_shadow_lookup(sh, SHT_REACH + x, &hpa,
						    &prot));
	KUNIT_EXPECT_FALSE(test, s390_shadow_lookup(sh, ~0ULL, &hpa, &prot));

	/* gone from the shadow at once, unpinned only on release */
	sht_unmap(fg, x);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, 1, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.removed);
	sht_expect_unmapped(fg, x);
	sht_expect_map(fg, x + SHT_PG, 0x24000, true);
	KUNIT_EXPECT_EQ(test, fg->pins[0x23], 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, fg->pins[0x23], 0);
	KUNIT_EXPECT_EQ(test, fg->wpins[0x23], 0);
}

struct sht_fe_ctx {
	struct sht_guest *fg;
	u64 prev;
	int n;
	int stop_at;
};

static int sht_fe_visit(void *arg, u64 iova, u64 hpa, bool prot)
{
	struct sht_fe_ctx *c = arg;
	struct kunit *test = c->fg->test;
	u64 h = 0;
	bool p = !prot;

	KUNIT_EXPECT_TRUE(test, c->n == 0 || iova > c->prev);
	KUNIT_EXPECT_EQ(test, iova & (SHT_PG - 1), 0);
	KUNIT_EXPECT_TRUE(test, s390_shadow_lookup(&c->fg->sh, iova, &h, &p));
	KUNIT_EXPECT_EQ(test, h, hpa);
	KUNIT_EXPECT_EQ(test, p, prot);
	c->prev = iova;
	return ++c->n == c->stop_at ? 42 : 0;
}

static void shadow_test_for_each(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct sht_fe_ctx c = { .fg = fg };
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	u64 iova;
	int i;

	/* 3 pages in region 1, 2 in region 700 (one protected), gaps between */
	for (i = 0; i < 3; i++)
		sht_map(fg, SHT_REG + i * 9 * SHT_SEG, (u64)(i + 1) * SHT_PG, false);
	sht_map(fg, 700 * SHT_REG + 4 * SHT_PG, 0x20000, true);
	sht_map(fg, 700 * SHT_REG + 5 * SHT_PG, 0x21000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_for_each(sh, 0, SHT_REACH - 1,
						   sht_fe_visit, &c), 0);
	KUNIT_EXPECT_EQ(test, c.n, 5);
	/* bounds inside pages: both pages they touch are visited */
	c.n = 0;
	iova = 700 * SHT_REG + 5 * SHT_PG;
	KUNIT_EXPECT_EQ(test, s390_shadow_for_each(sh, iova - 1, iova + 1,
						   sht_fe_visit, &c), 0);
	KUNIT_EXPECT_EQ(test, c.n, 2);
	/* empty range between the regions, empty and inverted ranges */
	c.n = 0;
	KUNIT_EXPECT_EQ(test, s390_shadow_for_each(sh, 2 * SHT_REG, 699 * SHT_REG,
						   sht_fe_visit, &c), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_for_each(sh, iova, iova - 1,
						   sht_fe_visit, &c), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_for_each(sh, SHT_REACH, ~0ULL,
						   sht_fe_visit, &c), 0);
	KUNIT_EXPECT_EQ(test, c.n, 0);
	/* a non-zero return stops the walk and is passed through */
	c.n = 0;
	c.stop_at = 2;
	KUNIT_EXPECT_EQ(test, s390_shadow_for_each(sh, 0, SHT_REACH - 1,
						   sht_fe_visit, &c), 42);
	KUNIT_EXPECT_EQ(test, c.n, 2);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 0);
}

/* Memory leaving the guest: every IOVA built from a frame in range goes */
static void shadow_test_unmap_gpa(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	unsigned long released = 0;
	int i, rc, rounds = 0;

	/* frame 0x5000 at 3000 IOVAs (more than one release list), 0x6000 once */
	for (i = 0; i < 3000; i++)
		sht_map(fg, 3 * SHT_REG + (u64)i * SHT_PG, 0x5000, i & 1);
	sht_map(fg, 5 * SHT_REG, 0x6000, false);
	sht_map(fg, 5 * SHT_REG + SHT_PG, 0x7000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pinned, 3002);
	KUNIT_EXPECT_EQ(test, fg->pins[5], 3000);
	KUNIT_EXPECT_EQ(test, fg->wpins[5], 1500);

	/* a range holding nothing changes nothing */
	KUNIT_EXPECT_EQ(test, s390_shadow_unmap_gpa(sh, 0x100000, 0x1fffff, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.changed);

	/* [0x5000, 0x6fff]: 3001 entries, more than the 2048 release slots */
	do {
		rc = s390_shadow_unmap_gpa(sh, 0x5000, 0x6fff, &r);
		KUNIT_EXPECT_TRUE(test, rc == 0 || rc == -EAGAIN);
		KUNIT_EXPECT_TRUE(test, r.removed || !r.changed);
		KUNIT_EXPECT_EQ(test, r.next, 0);
		KUNIT_EXPECT_EQ(test, r.visited, 0);
		/* the unpins wait for the caller's release */
		KUNIT_EXPECT_EQ(test, sh->nr_pinned, 3002 - released);
		released += s390_shadow_release(sh);
		rounds++;
	} while (rc == -EAGAIN && rounds < 10);
	KUNIT_EXPECT_EQ(test, rc, 0);
	KUNIT_EXPECT_GE(test, rounds, 2);
	KUNIT_EXPECT_EQ(test, released, 3001);
	KUNIT_EXPECT_EQ(test, sh->nr_pinned, 1);
	KUNIT_EXPECT_EQ(test, fg->pins[5], 0);
	KUNIT_EXPECT_EQ(test, fg->pins[6], 0);
	sht_expect_unmapped(fg, 3 * SHT_REG);
	sht_expect_unmapped(fg, 3 * SHT_REG + 2999 * SHT_PG);
	sht_expect_unmapped(fg, 5 * SHT_REG);
	sht_expect_map(fg, 5 * SHT_REG + SHT_PG, 0x7000, false);
	/* region 3 lost its last entry: its tables went too */
	KUNIT_EXPECT_EQ(test, sh->root[3], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
	sht_accounting(fg);

	/* the guest tables still name the frame: a refresh maps it again */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 5 * SHT_REG, SHT_PG, &r), 0);
	sht_expect_map(fg, 5 * SHT_REG, 0x6000, false);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 0);

	/* bounds are bytes: a frame goes if any of its bytes is in range */
	KUNIT_EXPECT_EQ(test, s390_shadow_unmap_gpa(sh, 0x7001, 0x7001, &r), 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	KUNIT_EXPECT_EQ(test, r.start, 5 * SHT_REG + SHT_PG);
	KUNIT_EXPECT_EQ(test, r.end, 5 * SHT_REG + 2 * SHT_PG - 1);
	sht_expect_unmapped(fg, 5 * SHT_REG + SHT_PG);
	sht_expect_map(fg, 5 * SHT_REG, 0x6000, false);
	KUNIT_EXPECT_EQ(test, s390_shadow_unmap_gpa(sh, 0x5000, 0x5fff, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, s390_shadow_unmap_gpa(sh, 0x6000, 0x6000, &r), 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	/* the region's last entry: its tables go too */
	KUNIT_EXPECT_EQ(test, r.start, 5 * SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 6 * SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, sh->root[5], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 2);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
}

static void shadow_test_unchanged_no_pin(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	long calls;
	int i;

	for (i = 0; i < 100; i++)
		sht_map(fg, (u64)i * 3 * SHT_SEG, (u64)(i + 1) * SHT_PG, i & 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 100);
	calls = fg->pin_calls;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 0);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_FALSE(test, r.removed);
	KUNIT_EXPECT_EQ(test, fg->pin_calls, calls);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 3 * SHT_SEG, SHT_PG, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, fg->pin_calls, calls);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 100);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 0);
}

/* A changed PTE: the new frame is pinned before the old one is released */
static void shadow_test_remap_order(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 x = 5 * SHT_SEG + 9 * SHT_PG, a = 0x40000, b = 0x80000;
	struct s390_shadow_result r;

	sht_map(fg, x, a, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	sht_map(fg, x, b, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	/* new page pinned, old still pinned until release */
	KUNIT_EXPECT_EQ(test, fg->pins[a >> PAGE_SHIFT], 1);
	KUNIT_EXPECT_EQ(test, fg->pins[b >> PAGE_SHIFT], 1);
	sht_expect_map(fg, x, b, false);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
	KUNIT_EXPECT_EQ(test, fg->pins[a >> PAGE_SHIFT], 0);
	KUNIT_EXPECT_EQ(test, fg->wpins[a >> PAGE_SHIFT], 0);

	/* protection change: re-pinned read-only, old writable pin dirty */
	sht_map(fg, x, b, true);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, fg->pins[b >> PAGE_SHIFT], 2);
	KUNIT_EXPECT_EQ(test, fg->wpins[b >> PAGE_SHIFT], 1);
	sht_expect_map(fg, x, b, true);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
	KUNIT_EXPECT_EQ(test, fg->pins[b >> PAGE_SHIFT], 1);
	KUNIT_EXPECT_EQ(test, fg->wpins[b >> PAGE_SHIFT], 0);
}

static void shadow_test_invalid_pte_deferred(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	long unpins;
	int i;

	for (i = 0; i < 50; i++)
		sht_map(fg, SHT_REG + (u64)i * 5 * SHT_PG, (u64)(i + 10) * SHT_PG,
			false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	for (i = 0; i < 50; i++)
		sht_unmap(fg, SHT_REG + (u64)i * 5 * SHT_PG);
	unpins = fg->unpin_calls;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.unpinned, 50);
	/* the page and segment tables lost their last entry: whole region */
	KUNIT_EXPECT_EQ(test, r.start, SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 2 * SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, sh->root[1], ZPCI_TABLE_INVALID);
	for (i = 0; i < 50; i++)
		sht_expect_unmapped(fg, SHT_REG + (u64)i * 5 * SHT_PG);
	/* nothing unpinned before release */
	KUNIT_EXPECT_EQ(test, fg->unpin_calls, unpins);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 50);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 50);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 0);
}

static void shadow_test_invalid_segment(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 s1 = 7 * SHT_SEG, s2 = 9 * SHT_SEG;
	struct s390_shadow_result r;
	long reads, pts;
	int i;

	for (i = 0; i < 256; i++)
		sht_map(fg, s1 + i * SHT_PG, 0x100000 + i * SHT_PG, false);
	for (i = 0; i < 10; i++)
		sht_map(fg, s2 + i * SHT_PG, 0x200000 + i * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	/* one guest read per table slice: RT, ST, two page tables */
	KUNIT_EXPECT_EQ(test, r.reads, 4);
	sht_wr(fg, sht_entry(fg, s1, 1), ZPCI_TABLE_INVALID);
	reads = fg->read_calls;
	pts = fg->pts_live;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	/* the invalid segment costs no page table read */
	KUNIT_EXPECT_EQ(test, r.reads, 3);
	KUNIT_EXPECT_EQ(test, fg->read_calls - reads, 3);
	KUNIT_EXPECT_LE(test, r.visited, 2048 + 2048 + 256);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.unpinned, 256);
	KUNIT_EXPECT_EQ(test, r.start, s1);
	KUNIT_EXPECT_EQ(test, r.end, s1 + SHT_SEG - 1);
	for (i = 0; i < 256; i++)
		sht_expect_unmapped(fg, s1 + i * SHT_PG);
	for (i = 0; i < 10; i++)
		sht_expect_map(fg, s2 + i * SHT_PG, 0x200000 + i * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, fg->pts_live, pts);	/* freed only on release */
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 256);
	KUNIT_EXPECT_EQ(test, fg->pts_live, pts - 1);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 10);
}

static void shadow_test_invalid_region(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	long tables;
	int i;

	for (i = 0; i < 64; i++) {
		sht_map(fg, 2 * SHT_REG + (u64)i * 31 * SHT_SEG,
			(u64)(i + 1) * SHT_PG, false);
		sht_map(fg, 5 * SHT_REG + (u64)i * SHT_PG,
			(u64)(i + 100) * SHT_PG, true);
	}
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 128);
	sht_wr(fg, sht_entry(fg, 2 * SHT_REG, 2), ZPCI_TABLE_INVALID);
	tables = fg->tables_live;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 2 * SHT_REG, SHT_REG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, r.visited, 1);
	KUNIT_EXPECT_EQ(test, r.unpinned, 64);
	KUNIT_EXPECT_EQ(test, r.start, 2 * SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 3 * SHT_REG - 1);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 64);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables - 1);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 64);
	for (i = 0; i < 64; i++)
		sht_expect_map(fg, 5 * SHT_REG + (u64)i * SHT_PG,
			       (u64)(i + 100) * SHT_PG, true);
	/* global refresh after that: one RT read, region 5 (ST and one pt) */
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.reads, 3);
	KUNIT_EXPECT_FALSE(test, r.changed);
}

static void shadow_test_partial_clear(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 s = SHT_REG + 3 * SHT_SEG;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 256; i++)
		sht_map(fg, s + i * SHT_PG, (u64)(i + 1) * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_wr(fg, sht_entry(fg, s, 1), ZPCI_TABLE_INVALID);
	/* refresh the first half only: those pages go, the rest stays */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, s, 128 * SHT_PG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.reads, 2);
	KUNIT_EXPECT_EQ(test, r.unpinned, 128);
	KUNIT_EXPECT_EQ(test, r.start, s);
	KUNIT_EXPECT_EQ(test, r.end, s + 128 * SHT_PG - 1);
	for (i = 0; i < 256; i++) {
		if (i < 128)
			sht_expect_unmapped(fg, s + i * SHT_PG);
		else
			sht_expect_map(fg, s + i * SHT_PG, (u64)(i + 1) * SHT_PG,
				       false);
	}
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 128);
	/* an invalid region over a partial range clears page by page */
	sht_wr(fg, sht_entry(fg, s, 2), ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, s + 200 * SHT_PG, 10 * SHT_PG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 10);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 10);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 118);
}

static void shadow_test_range_checks(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	u64 x = 3 * SHT_SEG;

	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0x1000, 0, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, 0x1000);
	KUNIT_EXPECT_EQ(test, r.reads, 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, ~0ULL - 0xfff, 0x2000, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REACH, 1, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REACH - SHT_PG, 2 * SHT_PG, &r),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, SHT_REACH + 1, &r), -EINVAL);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.reads, 0);
	sht_map(fg, SHT_REACH - SHT_PG, 0x5000, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REACH - SHT_PG, SHT_PG, &r), 0);
	sht_expect_map(fg, SHT_REACH - SHT_PG, 0x5000, false);
	KUNIT_EXPECT_EQ(test, r.end, SHT_REACH - 1);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REACH);

	/* an unaligned range: every page it touches */
	sht_map(fg, x, 0x6000, false);
	sht_map(fg, x + SHT_PG, 0x7000, false);
	sht_map(fg, x + 2 * SHT_PG, 0x8000, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x + 100, 4000, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 2);
	KUNIT_EXPECT_EQ(test, r.start, x);
	KUNIT_EXPECT_EQ(test, r.end, x + 2 * SHT_PG - 1);
	KUNIT_EXPECT_EQ(test, r.next, x + 2 * SHT_PG);
	sht_expect_map(fg, x + SHT_PG, 0x7000, false);
	sht_expect_unmapped(fg, x + 2 * SHT_PG);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 0);
}

/* Unsupported designation types, the enable bit, no IOTA */
static void shadow_test_set_iota_bad_type(struct kunit *test)
{
	static const u64 bad[] = {
		ZPCI_IOTA_PFAA, ZPCI_IOTA_IOPFAA, 6, ZPCI_IOTA_IOPTO
	};
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	u64 x = 3 * SHT_SEG;
	unsigned int i;

	sht_map(fg, x, 0x6000, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		u64 iota = (fg->iota & ~0x1cULL) | bad[i] << 2;

		KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, iota, &r), -EINVAL);
		KUNIT_EXPECT_FALSE(test, r.changed);
		KUNIT_EXPECT_EQ(test, r.unpinned, 0);
		KUNIT_EXPECT_EQ(test, sh->iota, fg->iota);
		KUNIT_EXPECT_EQ(test, sh->reach, SHT_REACH);
		sht_expect_map(fg, x, 0x6000, false);
	}
	/* nothing changed: the old IOTA is still walked */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.changed);

	/* the enable bit is not looked at */
	fg->iota &= ~ZPCI_IOTA_IOT_ENABLED;
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, fg->iota, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	sht_expect_map(fg, x, 0x6000, false);

	/* IOTA 0: no guest table, every refresh fails, the shadow is empty */
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, 0, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	KUNIT_EXPECT_FALSE(test, sh->has_iota);
	KUNIT_EXPECT_EQ(test, sh->reach, 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, x);
	KUNIT_EXPECT_EQ(test, r.reads, 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, 1, &r), -EINVAL);
	sht_expect_unmapped(fg, x);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 2);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
}

/* Guest tables outside guest RAM, at every level: -EFAULT, nothing mapped */
static void shadow_test_bad_addresses(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 away = 256ULL << 20, x = 2 * SHT_REG + 5 * SHT_SEG;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;

	/* region-third table (the IOTA's origin) */
	fg->iota = away | ZPCI_IOTA_DT_RT;
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, fg->iota, &r), 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 5 * SHT_PG, SHT_PG, &r), -EFAULT);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.next, 5 * SHT_PG);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, r.next, 0);
	/* region-first and region-second tables */
	fg->iota = away | ZPCI_IOTA_DT_RF;
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, fg->iota, &r), 0);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	fg->iota = away | ZPCI_IOTA_DT_RS;
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, fg->iota, &r), 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, r.next, x);

	/* region-second entry naming a region-third table outside */
	sht_use_root(fg, ZPCI_IOTA_RSTO);
	sht_wr(fg, fg->iota & ZPCI_RTE_ADDR_MASK,
	       away | ZPCI_TABLE_TYPE_RSX | ZPCI_TABLE_LEN_RSX);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, r.reads, 2);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_FALSE(test, r.changed);
	/* region-first entry naming a region-second table outside */
	sht_use_root(fg, ZPCI_IOTA_RFTO);
	sht_wr(fg, fg->iota & ZPCI_RTE_ADDR_MASK,
	       away | ZPCI_TABLE_TYPE_RFX | ZPCI_TABLE_LEN_RFX);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, r.reads, 2);
	KUNIT_EXPECT_FALSE(test, r.changed);

	/*
	 * region-third entry naming a segment table outside: the walk maps
	 * region 0 and stops at region 2
	 */
	sht_use_root(fg, ZPCI_IOTA_RTTO);
	sht_map(fg, 0, 0x3000, false);
	sht_map(fg, x, 0x4000, false);
	sht_wr(fg, sht_entry(fg, x, 2), away | ZPCI_TABLE_TYPE_RTX |
	       ZPCI_TABLE_LEN_RTX);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), -EFAULT);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, x);
	KUNIT_EXPECT_EQ(test, r.reads, 2);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, r.next, 2 * SHT_REG);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	KUNIT_EXPECT_EQ(test, r.start, 0);
	KUNIT_EXPECT_EQ(test, r.end, SHT_PG - 1);
	sht_expect_map(fg, 0, 0x3000, false);
	sht_expect_unmapped(fg, x);

	/* segment entry naming a page table outside */
	sht_wr(fg, sht_entry(fg, 3 * SHT_SEG, 1), away | ZPCI_TABLE_TYPE_SX);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 3 * SHT_SEG + 7 * SHT_PG, SHT_PG, &r),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, r.next, 3 * SHT_SEG + 7 * SHT_PG);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, SHT_REG, &r), -EFAULT);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, 3 * SHT_SEG);
	sht_expect_map(fg, 0, 0x3000, false);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
}

/* Wrong type bits in a region-third entry: earlier regions are done */
static void shadow_test_rte_type(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	u64 ea, rte;
	int i;

	for (i = 0; i < 3; i++)
		sht_map(fg, (u64)i * SHT_REG, (u64)(i + 1) * SHT_PG, false);
	ea = sht_entry(fg, SHT_REG, 2);
	rte = sht_rd(fg, ea);
	sht_wr(fg, ea, rte & ~ZPCI_TABLE_TYPE_MASK);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	sht_expect_map(fg, 0, SHT_PG, false);
	sht_expect_unmapped(fg, SHT_REG);
	sht_expect_unmapped(fg, 2 * SHT_REG);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_FALSE(test, r.removed);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.start, 0);
	KUNIT_EXPECT_EQ(test, r.end, SHT_PG - 1);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REG);
	/* the other wrong types, also for a range inside one segment */
	sht_wr(fg, ea, rte | ZPCI_TABLE_TYPE_RFX);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REG, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REG);
	sht_wr(fg, ea, (rte & ~ZPCI_TABLE_TYPE_MASK) | ZPCI_TABLE_TYPE_RSX);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REG, SHT_SEG, &r), -EINVAL);
	KUNIT_EXPECT_FALSE(test, r.changed);
	/* region 2 alone still works */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 2 * SHT_REG, SHT_REG, &r), 0);
	sht_expect_map(fg, 2 * SHT_REG, 3 * SHT_PG, false);
	/* and region 1 once the entry is repaired */
	sht_wr(fg, ea, rte);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_expect_map(fg, SHT_REG, 2 * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 3);
}

/* Table offset and length of a region-third entry */
static void shadow_test_rte_offset_length(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	u64 ea, e0;

	sht_map(fg, 10 * SHT_SEG, 0x3000, false);
	sht_map(fg, 600 * SHT_SEG, 0x4000, false);
	ea = sht_entry(fg, 0, 2);
	e0 = sht_rd(fg, ea);
	sht_wr(fg, ea, e0 & ~3ULL);		/* TL 0: segments 0..511 */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, 512 * SHT_SEG, &r), 0);
	sht_expect_map(fg, 10 * SHT_SEG, 0x3000, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, 601 * SHT_SEG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 600 * SHT_SEG, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, 600 * SHT_SEG);
	KUNIT_EXPECT_FALSE(test, r.changed);
	sht_expect_unmapped(fg, 600 * SHT_SEG);
	sht_wr(fg, ea, e0 | 0x40);		/* TF 1: segments 512..2047 */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 10 * SHT_SEG, SHT_PG, &r), -EINVAL);
	sht_expect_map(fg, 10 * SHT_SEG, 0x3000, false);	/* not reached */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 600 * SHT_SEG, SHT_PG, &r), 0);
	sht_expect_map(fg, 600 * SHT_SEG, 0x4000, false);
	/* offset 2 with length 1: no segment index fits */
	sht_wr(fg, ea, (e0 & ~3ULL) | 0x80 | 1);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 600 * SHT_SEG, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 1100 * SHT_SEG, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 2);
}

/* Wrong type bits in a segment entry, a page table outside guest RAM */
static void shadow_test_ste_type(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	u64 ea;

	sht_map(fg, 0, 0x3000, false);
	sht_map(fg, SHT_SEG, 0x4000, false);
	sht_map(fg, 2 * SHT_SEG, 0x5000, false);
	ea = sht_entry(fg, SHT_SEG, 1);
	sht_wr(fg, ea, sht_rd(fg, ea) | ZPCI_TABLE_TYPE_RTX);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, SHT_SEG);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	sht_expect_map(fg, 0, 0x3000, false);
	sht_expect_unmapped(fg, SHT_SEG);
	sht_expect_unmapped(fg, 2 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_SEG, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, SHT_SEG);
	sht_wr(fg, ea, (200ULL << 20) | ZPCI_TABLE_TYPE_SX);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, SHT_SEG);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 1);
}

/* A PTE frame outside guest RAM: the stale old mapping is dropped */
static void shadow_test_pte_frame(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 4; i++)
		sht_map(fg, (u64)i * SHT_PG, (u64)(i + 1) * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_map(fg, 2 * SHT_PG, 1ULL << 40, false);
	sht_map(fg, 1 * SHT_PG, 0x9000, false);
	sht_map(fg, 3 * SHT_PG, 0xa000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	sht_expect_map(fg, SHT_PG, 0x9000, false);
	sht_expect_unmapped(fg, 2 * SHT_PG);
	sht_expect_map(fg, 3 * SHT_PG, 4 * SHT_PG, false);	/* not reached */
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.start, SHT_PG);
	KUNIT_EXPECT_EQ(test, r.end, 3 * SHT_PG - 1);
	KUNIT_EXPECT_EQ(test, r.next, 2 * SHT_PG);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	KUNIT_EXPECT_EQ(test, r.unpinned, 2);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 2);
	sht_accounting(fg);
	/* the same frame in a one-page refresh */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 2 * SHT_PG, SHT_PG, &r), -EFAULT);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, 2 * SHT_PG);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 3);
}

/* Zero entries are table errors at every level */
static void shadow_test_zero_entries(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 x = 3 * SHT_SEG, y = 5 * SHT_SEG;
	struct s390_shadow_result r;
	long calls;

	/* a zero PTE after a valid one: GPA 0 is not mapped, the walk stops */
	sht_map(fg, x, 0x5000, false);
	sht_map(fg, x + SHT_PG, 0x6000, false);
	sht_map(fg, x + 2 * SHT_PG, 0x7000, false);
	sht_wr(fg, sht_entry(fg, x + SHT_PG, 0), 0);
	calls = fg->pin_calls;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, 3 * SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, x + SHT_PG);
	sht_expect_map(fg, x, 0x5000, false);
	sht_expect_unmapped(fg, x + SHT_PG);
	sht_expect_unmapped(fg, x + 2 * SHT_PG);
	KUNIT_EXPECT_EQ(test, fg->pin_calls - calls, 1);
	KUNIT_EXPECT_EQ(test, fg->pins[0], 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x + SHT_PG, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, x + SHT_PG);

	/* a zero segment entry: no page table at GPA 0 is read or walked */
	sht_map(fg, y, 0x8000, false);
	sht_wr(fg, sht_entry(fg, y, 1), 0);
	calls = fg->pin_calls;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, y, SHT_SEG, &r), -EINVAL);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.reads, 2);	/* region-third and segment slices */
	KUNIT_EXPECT_EQ(test, r.next, y);
	KUNIT_EXPECT_EQ(test, fg->pin_calls, calls);
	KUNIT_EXPECT_EQ(test, fg->pins[0], 0);
	sht_expect_unmapped(fg, y);

	/* a zero region-third entry */
	sht_wr(fg, sht_entry(fg, 0, 2), 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, 0);
	sht_expect_map(fg, x, 0x5000, false);	/* not reached */
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 0);

	/* a zero region-second entry (RSTO) */
	sht_use_root(fg, ZPCI_IOTA_RSTO);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	sht_map(fg, 0, 0x5000, false);
	sht_wr(fg, fg->iota & ZPCI_RTE_ADDR_MASK, 0);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	/* a zero region-first entry (RFTO) */
	sht_use_root(fg, ZPCI_IOTA_RFTO);
	sht_map(fg, 0, 0x5000, false);
	sht_wr(fg, fg->iota & ZPCI_RTE_ADDR_MASK, 0);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
}

/* A valid segment entry with the format-control bit (1 MiB frame) */
static void shadow_test_segment_fc(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 x = 7 * SHT_SEG + 2 * SHT_PG, ea, ste;
	struct s390_shadow_result r;

	sht_map(fg, x, 0x8000, false);
	ea = sht_entry(fg, x, 1);
	ste = sht_rd(fg, ea);
	sht_wr(fg, ea, ste | 0x400);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.reads, 2);	/* not walked as a page table */
	KUNIT_EXPECT_EQ(test, r.next, 7 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, fg->sh.nr_pts, 0);
	sht_expect_unmapped(fg, x);
	/* the same over an existing translation: error, entry not reached */
	sht_wr(fg, ea, ste);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_expect_map(fg, x, 0x8000, false);
	sht_wr(fg, ea, ste | 0x400);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, x);
	sht_expect_map(fg, x, 0x8000, false);
	/* an invalid entry with the bit set is just invalid */
	sht_wr(fg, ea, ste | 0x400 | ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	sht_expect_unmapped(fg, x);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
}

static void shadow_test_enomem_pin_limit(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 20; i++)
		sht_map(fg, (u64)i * SHT_SEG, (u64)(i + 1) * SHT_PG, false);
	fg->pin_limit = 10;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.pinned, 10);
	KUNIT_EXPECT_EQ(test, r.start, 0);
	KUNIT_EXPECT_EQ(test, r.end, 9 * SHT_SEG + SHT_PG - 1);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REACH);
	KUNIT_EXPECT_EQ(test, sht_count_valid(&fg->sh), 10);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 10);
	for (i = 0; i < 20; i++) {
		if (i < 10)
			sht_expect_map(fg, (u64)i * SHT_SEG, (u64)(i + 1) * SHT_PG,
				       false);
		else
			sht_expect_unmapped(fg, (u64)i * SHT_SEG);
	}
	/* no page table is left behind for the frames that were not pinned */
	KUNIT_EXPECT_EQ(test, fg->sh.nr_pts, 10);
	fg->pin_limit = -1;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.pinned, 10);
	KUNIT_EXPECT_EQ(test, r.start, 10 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 20);
}

/* Shadow table allocations fail: nothing is linked, nothing leaks */
static void shadow_test_enomem_table_alloc(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	long tables = fg->tables_live;

	/* segment table allocation fails: root entry stays invalid */
	sht_map(fg, SHT_REG, 0x3000, false);
	fg->fail_table_in = 1;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, sh->root[1], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables);
	KUNIT_EXPECT_EQ(test, fg->pts_live, 1);		/* the scratch buffer */
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, fg->pin_calls, 0);

	/* page table allocation fails: the new segment table is freed too */
	fg->fail_pt_in = 1;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REG, SHT_PG, &r), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, sh->root[1], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, fg->pts_live, 1);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);

	/* resources back */
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	sht_expect_map(fg, SHT_REG, 0x3000, false);

	/* a page table for a segment of a region that has its segment table */
	sht_map(fg, SHT_REG + 9 * SHT_SEG, 0x4000, false);
	fg->fail_pt_in = 1;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -ENOMEM);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
	KUNIT_EXPECT_EQ(test, fg->pts_live, 2);
	sht_expect_unmapped(fg, SHT_REG + 9 * SHT_SEG);
	sht_expect_map(fg, SHT_REG, 0x3000, false);
}

/*
 * The deferred release list cannot grow: the walk stops at -ENOMEM, the
 * rest stays mapped
 */
static void shadow_test_enomem_release_list(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 2100; i++)
		sht_map(fg, (u64)i * SHT_PG, (u64)(i % 1000 + 1) * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 2100);
	for (i = 0; i < 2100; i++)
		sht_unmap(fg, (u64)i * SHT_PG);
	fg->fail_realloc_in = 1;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -ENOMEM);
	KUNIT_EXPECT_EQ(test, fg->fail_realloc_in, 0);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	/* stopped with fewer than 3 slots (PTE, page and segment table) left */
	KUNIT_EXPECT_GT(test, sh->nr_gather, sh->max_gather - 3);
	KUNIT_EXPECT_EQ(test, r.next, r.unpinned * SHT_PG);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 2100 - r.unpinned);
	KUNIT_EXPECT_EQ(test, r.end, r.unpinned * SHT_PG - 1);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 2100);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), r.unpinned);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), r.unpinned);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
}

/*
 * set_iota with too few free release slots and the list unable to grow;
 * right after a release it never needs to grow the list
 */
static void shadow_test_enomem_set_iota(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 2000; i++)
		sht_map(fg, (u64)i * SHT_PG, (u64)(i % 1000 + 1) * SHT_PG, false);
	for (i = 1; i <= 100; i++)
		sht_map(fg, (u64)i * 20 * SHT_REG, (u64)(i + 1100) * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	for (i = 0; i < 2000; i++)
		sht_unmap(fg, (u64)i * SHT_PG);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	/* 2000 unpins, 8 page tables, 1 segment table: < 100 slots free */
	KUNIT_EXPECT_EQ(test, sh->nr_gather, 2009);
	fg->fail_realloc_in = 1;
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, 0, &r), -ENOMEM);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, sh->iota, fg->iota);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 100);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 2000);

	/* after the release: no allocation needed */
	fg->fail_realloc_in = 1;
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, 0, &r), 0);
	KUNIT_EXPECT_EQ(test, fg->fail_realloc_in, 1);
	KUNIT_EXPECT_EQ(test, r.unpinned, 100);
	KUNIT_EXPECT_EQ(test, r.start, 20 * SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 2001 * SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 100);
	fg->fail_realloc_in = 0;
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
}

/* -ENOMEM does not stop the walk: invalidations go on, nothing new is mapped */
static void shadow_test_enomem_continue(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	long calls;
	int i;

	for (i = 0; i < 8; i++)
		sht_map(fg, (u64)i * SHT_SEG, (u64)(i + 1) * SHT_PG, false);
	sht_map(fg, SHT_REG, 0x20000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 0);
	/*
	 * seg 0: a new page (its pin fails), seg 2: another frame,
	 * seg 3: PTE invalid, seg 4: segment entry invalid, seg 5: unchanged,
	 * region 1: region entry invalid
	 */
	sht_map(fg, SHT_PG, 0x30000, false);
	sht_map(fg, 2 * SHT_SEG, 0x31000, false);
	sht_unmap(fg, 3 * SHT_SEG);
	sht_wr(fg, sht_entry(fg, 4 * SHT_SEG, 1), ZPCI_TABLE_INVALID);
	sht_wr(fg, sht_entry(fg, SHT_REG, 2), ZPCI_TABLE_INVALID);
	fg->pin_limit = fg->nr_pins;
	calls = fg->pin_calls;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REACH);
	KUNIT_EXPECT_EQ(test, fg->pin_calls - calls, 1);	/* none after -ENOMEM */
	KUNIT_EXPECT_EQ(test, r.pinned, 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 4);
	KUNIT_EXPECT_TRUE(test, r.removed);
	sht_expect_map(fg, 0, SHT_PG, false);
	sht_expect_unmapped(fg, SHT_PG);
	sht_expect_map(fg, SHT_SEG, 2 * SHT_PG, false);
	sht_expect_unmapped(fg, 2 * SHT_SEG);	/* lost its old translation */
	sht_expect_unmapped(fg, 3 * SHT_SEG);
	sht_expect_unmapped(fg, 4 * SHT_SEG);
	sht_expect_map(fg, 5 * SHT_SEG, 6 * SHT_PG, false);
	sht_expect_unmapped(fg, SHT_REG);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 4);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 5);		/* segments 0, 1, 5, 6, 7 */
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 5);

	/* a table error after the -ENOMEM takes precedence */
	fg->pin_limit = fg->nr_pins;
	sht_map(fg, 6 * SHT_SEG + SHT_PG, 0x32000, false);
	sht_wr(fg, sht_entry_addr(fg, fg->iota, 7 * SHT_SEG + 9 * SHT_PG, 0, true),
	       0);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.next, 7 * SHT_SEG + 9 * SHT_PG);
	sht_expect_unmapped(fg, SHT_PG);
	fg->pin_limit = -1;
	sht_unmap(fg, 7 * SHT_SEG + 9 * SHT_PG);

	/* a failed page table allocation: later invalidations are still done */
	sht_map(fg, 9 * SHT_SEG, 0x33000, false);
	sht_unmap(fg, 6 * SHT_SEG);
	fg->fail_pt_in = 1;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 2 * SHT_SEG, 8 * SHT_SEG, &r), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	sht_expect_unmapped(fg, 9 * SHT_SEG);
	sht_expect_unmapped(fg, 6 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);

	/* resources back: everything the guest maps */
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	sht_expect_map(fg, SHT_PG, 0x30000, false);
	sht_expect_map(fg, 2 * SHT_SEG, 0x31000, false);
	sht_expect_map(fg, 6 * SHT_SEG + SHT_PG, 0x32000, false);
	sht_expect_map(fg, 9 * SHT_SEG, 0x33000, false);
}

static const int sht_busy_rcs[] = { -EBUSY, -EAGAIN };

static void sht_rc_desc(const int *rc, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "pin error %d", *rc);
}

KUNIT_ARRAY_PARAM(sht_busy, sht_busy_rcs, sht_rc_desc);

/* A pin answering -EBUSY or -EAGAIN: stop before the page, resume there */
static void shadow_test_pin_busy(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	const int *rc = test->param_value;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 4; i++)
		sht_map(fg, (u64)i * SHT_PG, (u64)(i + 1) * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_map(fg, SHT_PG, 0x11000, false);
	sht_map(fg, 2 * SHT_PG, 0x12000, false);
	sht_map(fg, 5 * SHT_PG, 0x15000, false);
	fg->fail_pin_in = 2;
	fg->fail_pin_rc = *rc;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EBUSY);
	KUNIT_EXPECT_FALSE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.next, 2 * SHT_PG);
	sht_expect_map(fg, SHT_PG, 0x11000, false);
	sht_expect_map(fg, 2 * SHT_PG, 3 * SHT_PG, false);	/* old kept */
	sht_expect_unmapped(fg, 5 * SHT_PG);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, r.next, SHT_REACH - r.next, &r), 0);
	sht_expect_map(fg, 2 * SHT_PG, 0x12000, false);
	sht_expect_map(fg, 5 * SHT_PG, 0x15000, false);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 5);
}

struct sht_pin_fail {
	int rc;		/* the pin's error */
	int want;	/* the refresh's */
};

static const struct sht_pin_fail sht_pin_fails[] = {
	{ -ENOMEM, -ENOMEM }, { -EFAULT, -EFAULT }, { -EBUSY, -EBUSY },
	{ -EPERM, -EFAULT },
};

static void sht_pin_fail_desc(const struct sht_pin_fail *p, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "pin error %d", p->rc);
}

KUNIT_ARRAY_PARAM(sht_pin_fail, sht_pin_fails, sht_pin_fail_desc);

/* The pin for the first PTE of a new table fails: the tables go at once */
static void shadow_test_pin_fail_frees_tables(struct kunit *test)
{
	const struct sht_pin_fail *p = test->param_value;
	struct sht_guest *fg = test->priv;
	u64 x = 5 * SHT_REG + 3 * SHT_SEG + 7 * SHT_PG;
	long pts = fg->pts_live, tables = fg->tables_live;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;

	sht_map(fg, x, 0x5000, false);
	fg->fail_pin_in = 1;
	fg->fail_pin_rc = p->rc;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), p->want);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.nomem, p->want == -ENOMEM);
	KUNIT_EXPECT_EQ(test, r.next, p->want == -ENOMEM ? x + SHT_PG : x);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
	KUNIT_EXPECT_EQ(test, fg->pts_live, pts);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables);
	KUNIT_EXPECT_EQ(test, sh->root[5], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sh->nr_gather, 0);
	/* the same with a segment table present: only the page table */
	sht_map(fg, 5 * SHT_REG, 0x6000, false);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 5 * SHT_REG, SHT_PG, &r), 0);
	fg->fail_pin_in = 1;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), p->want);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
	KUNIT_EXPECT_EQ(test, fg->pts_live, pts + 1);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables + 1);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
	/* and with the page table present: the translation comes later */
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), 0);
	sht_expect_map(fg, x, 0x5000, false);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 2);
}

/* Refreshes of bad frames in distinct segments leave no shadow tables */
static void shadow_test_bad_frames_no_tables(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 64; i++) {
		u64 x = (u64)(i % 4) * 500 * SHT_REG + (u64)i * 31 * SHT_SEG +
			(u64)(i * 7 % 256) * SHT_PG;

		sht_map(fg, x, SHT_RAM + (u64)i * SHT_PG, false);
		KUNIT_EXPECT_EQ(test, sht_refresh(fg, x, SHT_PG, &r), -EFAULT);
		KUNIT_EXPECT_FALSE(test, r.changed);
		KUNIT_EXPECT_EQ(test, r.next, x);
		KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
		KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
	}
	KUNIT_EXPECT_EQ(test, fg->pts_live, 1);		/* the scratch buffer */
	KUNIT_EXPECT_EQ(test, fg->tables_live, 3);	/* root and two buffers */
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EFAULT);
	KUNIT_EXPECT_EQ(test, fg->pts_live, 1);
	KUNIT_EXPECT_EQ(test, fg->tables_live, 3);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
}

/* The last valid entry of a page/segment table goes: the table goes too */
static void shadow_test_last_entry_frees_tables(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 a = 3 * SHT_REG + 5 * SHT_SEG, b = 3 * SHT_REG + 9 * SHT_SEG;
	u64 c = 4 * SHT_REG + 2 * SHT_SEG, d = 4 * SHT_REG + 700 * SHT_SEG;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	u64 *st;

	sht_map(fg, a, 0x5000, false);
	sht_map(fg, a + 200 * SHT_PG, 0x6000, true);
	sht_map(fg, b, 0x7000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 2);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 2);
	KUNIT_EXPECT_EQ(test, sh->nr_ste[3], 2);
	st = phys_to_virt(sh->root[3] & ZPCI_RTE_ADDR_MASK);

	/* one PTE of two: the page table stays */
	sht_unmap(fg, a);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, a, SHT_PG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.start, a);
	KUNIT_EXPECT_EQ(test, r.end, a + SHT_PG - 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 2);
	/* the last one: segment entry invalid, flush the whole segment */
	sht_unmap(fg, a + 200 * SHT_PG);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, a + 200 * SHT_PG, SHT_PG, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.start, a);
	KUNIT_EXPECT_EQ(test, r.end, a + SHT_SEG - 1);
	KUNIT_EXPECT_EQ(test, st[5], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sh->nr_ste[3], 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 2);		/* freed after the host RPCIT */
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, fg->pts_live, 2);
	/* the segment table's last entry: the whole region */
	sht_unmap(fg, b);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, b, SHT_PG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.start, 3 * SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 4 * SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, sh->root[3], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sh->nr_ste[3], 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
	KUNIT_EXPECT_EQ(test, fg->tables_live, 3);

	/* the same through s390_shadow_unmap_gpa() */
	sht_map(fg, c, 0x9000, false);
	sht_map(fg, d, 0xa000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 2);
	KUNIT_EXPECT_EQ(test, s390_shadow_unmap_gpa(sh, 0x9000, 0x9fff, &r), 0);
	KUNIT_EXPECT_EQ(test, r.start, c);
	KUNIT_EXPECT_EQ(test, r.end, c + SHT_SEG - 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_unmap_gpa(sh, 0xa000, 0xafff, &r), 0);
	KUNIT_EXPECT_EQ(test, r.start, 4 * SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 5 * SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, sh->root[4], ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 1);
}

/* The range the host RPCIT must cover */
static void shadow_test_flush_range(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 a = 5 * SHT_GIB + 3 * SHT_PG, b = 9 * SHT_GIB + SHT_SEG + 7 * SHT_PG;
	struct s390_shadow_result r;

	sht_map(fg, a, 0x3000, false);
	sht_map(fg, b, 0x4000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_FALSE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.start, a);
	KUNIT_EXPECT_EQ(test, r.end, b + SHT_PG - 1);
	sht_unmap(fg, a);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_TRUE(test, r.removed);
	/* its region's only page: the segment table went, the whole region */
	KUNIT_EXPECT_EQ(test, r.start, 4 * SHT_GIB);
	KUNIT_EXPECT_EQ(test, r.end, 6 * SHT_GIB - 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_FALSE(test, r.removed);
	/* add and remove in one call: one range covering both */
	sht_map(fg, a, 0x3000, false);
	sht_unmap(fg, b);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.start, a);
	KUNIT_EXPECT_EQ(test, r.end, 10 * SHT_GIB - 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 2);
}

static const int sht_upper_dts[] = { ZPCI_IOTA_RSTO, ZPCI_IOTA_RFTO };

static void sht_dt_desc(const int *dt, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s",
		 *dt == ZPCI_IOTA_RSTO ? "rsto" : "rfto");
}

KUNIT_ARRAY_PARAM(sht_upper, sht_upper_dts, sht_dt_desc);

/* Region-second and region-first guest tables: their entry 0 is walked */
static void shadow_test_upper_levels(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	const int *dt = test->param_value;
	struct s390_shadow_result r;
	u64 ea, v;
	int i;

	sht_use_root(fg, *dt);
	for (i = 0; i < 40; i++)
		sht_map(fg, (u64)(i * 50) * SHT_REG + (u64)i * SHT_PG,
			(u64)(i + 1) * SHT_PG, i & 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 40);
	for (i = 0; i < 40; i++)
		sht_expect_map(fg, (u64)(i * 50) * SHT_REG + (u64)i * SHT_PG,
			       (u64)(i + 1) * SHT_PG, i & 1);
	/* the top entry: wrong type, nonzero offset: -EINVAL */
	ea = fg->iota & ZPCI_RTE_ADDR_MASK;
	v = sht_rd(fg, ea);
	sht_wr(fg, ea, v ^ 0x4);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_FALSE(test, r.changed);
	KUNIT_EXPECT_EQ(test, r.next, 0);
	sht_wr(fg, ea, v | 0x40);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, SHT_PG, &r), -EINVAL);
	KUNIT_EXPECT_EQ(test, r.next, 0);
	sht_expect_map(fg, 0, SHT_PG, false);	/* not reached */
	/* protection in an upper entry makes everything read-only */
	sht_wr(fg, ea, v | ZPCI_TABLE_PROTECTED);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 20);
	for (i = 0; i < 40; i++)
		sht_expect_map(fg, (u64)(i * 50) * SHT_REG + (u64)i * SHT_PG,
			       (u64)(i + 1) * SHT_PG, true);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 20);
	/* an invalid top entry clears everything with one guest read */
	sht_wr(fg, ea, v | ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.reads, 1);
	KUNIT_EXPECT_EQ(test, r.unpinned, 40);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, sht_count_valid(&fg->sh), 0);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 40);
	sht_wr(fg, ea, v);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 40);
	/* reads: RF/RS entries, RT slice, 40 segment slices, 40 pt slices */
	KUNIT_EXPECT_EQ(test, r.reads,
			(*dt == ZPCI_IOTA_RFTO ? 2 : 1) + 1 + 40 + 40);
}

/* A segment-table guest: 2 GiB reach */
static void shadow_test_sto(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	int i;

	sht_use_root(fg, ZPCI_IOTA_STO);
	KUNIT_EXPECT_EQ(test, fg->sh.reach, 2 * SHT_GIB);
	for (i = 0; i < 30; i++)
		sht_map(fg, (u64)i * 67 * SHT_SEG, (u64)(i + 1) * SHT_PG, i & 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 30);
	for (i = 0; i < 30; i++)
		sht_expect_map(fg, (u64)i * 67 * SHT_SEG, (u64)(i + 1) * SHT_PG,
			       i & 1);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 2 * SHT_GIB - SHT_PG, 2 * SHT_PG, &r),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 2 * SHT_GIB, SHT_PG, &r), -EINVAL);
	/* the shadow root is a region-third table all the same */
	KUNIT_EXPECT_EQ(test, fg->sh.root[0] & ZPCI_RTE_FLAG_MASK,
			ZPCI_TABLE_TYPE_RTX | ZPCI_TABLE_LEN_RTX);
	KUNIT_EXPECT_EQ(test, fg->sh.root[1], ZPCI_TABLE_INVALID);
	/* an invalid segment entry */
	sht_wr(fg, sht_entry(fg, 67 * SHT_SEG, 1), ZPCI_TABLE_INVALID);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 67 * SHT_SEG, SHT_PG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	KUNIT_EXPECT_EQ(test, r.start, 67 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, r.end, 68 * SHT_SEG - 1);
	sht_expect_unmapped(fg, 67 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
}

static void shadow_test_upper_prot(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow_result r;
	u64 ea;

	sht_map(fg, 0, 0x3000, false);
	sht_map(fg, SHT_SEG, 0x4000, false);
	ea = sht_entry(fg, 0, 1);
	sht_wr(fg, ea, sht_rd(fg, ea) | ZPCI_TABLE_PROTECTED);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_expect_map(fg, 0, 0x3000, true);
	sht_expect_map(fg, SHT_SEG, 0x4000, false);
	KUNIT_EXPECT_EQ(test, fg->wpins[3], 0);
	KUNIT_EXPECT_EQ(test, fg->wpins[4], 1);
	/* dropping the segment protection re-pins writable */
	sht_wr(fg, ea, sht_rd(fg, ea) & ~ZPCI_TABLE_PROTECTED);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	KUNIT_EXPECT_TRUE(test, r.removed);
	sht_expect_map(fg, 0, 0x3000, false);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 1);
	KUNIT_EXPECT_EQ(test, fg->wpins[3], 1);
	KUNIT_EXPECT_EQ(test, fg->pins[3], 1);
	/* protection in the region-third entry */
	ea = sht_entry(fg, 0, 2);
	sht_wr(fg, ea, sht_rd(fg, ea) | ZPCI_TABLE_PROTECTED);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, 2 * SHT_SEG, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 2);
	KUNIT_EXPECT_EQ(test, r.unpinned, 2);
	sht_expect_map(fg, 0, 0x3000, true);
	sht_expect_map(fg, SHT_SEG, 0x4000, true);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(&fg->sh), 2);
	KUNIT_EXPECT_EQ(test, fg->wpins[3] + fg->wpins[4], 0);
}

static void shadow_test_set_iota(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	u64 root = s390_shadow_root_phys(sh), niota;
	struct s390_shadow_result r;
	long unpins, tables;
	int i;

	for (i = 0; i < 99; i++)
		sht_map(fg, (u64)(i % 3 * 10 + 1) * SHT_REG + (u64)i * SHT_SEG,
			(u64)(i + 1) * SHT_PG, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	tables = fg->tables_live;
	unpins = fg->unpin_calls;
	niota = sht_new_root(fg, ZPCI_IOTA_RTTO);
	sht_map_iota(fg, niota, 0, 0x7000, true);
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, niota, &r), 0);
	KUNIT_EXPECT_TRUE(test, r.changed);
	KUNIT_EXPECT_TRUE(test, r.removed);
	KUNIT_EXPECT_EQ(test, r.unpinned, 99);
	KUNIT_EXPECT_EQ(test, r.start, SHT_REG);
	KUNIT_EXPECT_EQ(test, r.end, 22 * SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, fg->unpin_calls, unpins);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, sh->iota, niota);
	KUNIT_EXPECT_TRUE(test, sh->has_iota);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 99);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, fg->tables_live, tables - 3);
	fg->iota = niota;
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	sht_expect_map(fg, 0, 0x7000, true);
	/* the registered root stays */
	KUNIT_EXPECT_EQ(test, s390_shadow_root_phys(sh), root);
	KUNIT_EXPECT_EQ(test, root & (SZ_16K - 1), 0);
	/* the same IOTA again: the shadow is rebuilt from scratch */
	KUNIT_EXPECT_EQ(test, s390_shadow_set_iota(sh, niota, &r), 0);
	KUNIT_EXPECT_EQ(test, r.unpinned, 1);
	KUNIT_EXPECT_EQ(test, r.start, 0);
	KUNIT_EXPECT_EQ(test, r.end, SHT_REG - 1);
	KUNIT_EXPECT_EQ(test, s390_shadow_release(sh), 1);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	KUNIT_EXPECT_EQ(test, r.pinned, 1);
	/* a segment-table guest after a region-third one */
	sht_use_root(fg, ZPCI_IOTA_STO);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, sh->reach, 2 * SHT_GIB);
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, SHT_REG, SHT_PG, &r), -EINVAL);
}

/* Destroy with pending releases and live mappings: nothing leaks */
static void shadow_test_destroy_pending(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	int i;

	for (i = 0; i < 64; i++)
		sht_map(fg, (u64)i * SHT_SEG, (u64)(i + 1) * SHT_PG, i & 1);
	sht_map(fg, 7 * SHT_REG, 0x70000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	for (i = 0; i < 32; i++)
		sht_unmap(fg, (u64)i * SHT_SEG);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	/* 32 unpins and the 32 page tables they left empty */
	KUNIT_EXPECT_EQ(test, sh->nr_gather, 64);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 65);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
	s390_shadow_destroy(sh);
	KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
	KUNIT_EXPECT_EQ(test, fg->unpin_calls, 65);
	KUNIT_EXPECT_EQ(test, fg->tables_live, 0);
	KUNIT_EXPECT_EQ(test, fg->pts_live, 0);
	KUNIT_EXPECT_EQ(test, fg->errors, 0);
	KUNIT_EXPECT_NULL(test, sh->root);
	KUNIT_EXPECT_EQ(test, sh->nr_pinned, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 0);
	KUNIT_EXPECT_FALSE(test, sh->has_iota);
	KUNIT_EXPECT_EQ(test, sh->reach, 0);
	/* twice: harmless */
	s390_shadow_destroy(sh);
	KUNIT_EXPECT_EQ(test, fg->unpin_calls, 65);
	KUNIT_EXPECT_EQ(test, fg->tables_live, 0);
}

/* sh->max_visit: -EAGAIN with a resume point, everything before it done */
static void shadow_test_bounded_walk(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 cur = 0, last = 3 * SHT_SEG - 1, total = 0;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	int i, rc, calls = 0;

	for (i = 0; i < 600; i++)
		sht_map(fg, (u64)i * SHT_PG, (u64)(i + 1) * SHT_PG, false);
	sh->max_visit = 100;
	do {
		rc = sht_refresh(fg, cur, last - cur + 1, &r);
		KUNIT_EXPECT_LE(test, r.visited, 100);
		total += r.visited;
		if (rc == -EAGAIN) {
			KUNIT_EXPECT_GT(test, r.next, cur);
			KUNIT_EXPECT_LE(test, r.next, last);
			KUNIT_EXPECT_EQ(test, r.next & (SHT_PG - 1), 0);
			if (r.next <= 600 * SHT_PG)
				sht_expect_map(fg, r.next - SHT_PG, r.next, false);
			if (r.next < 600 * SHT_PG)
				sht_expect_unmapped(fg, r.next);
			KUNIT_EXPECT_FALSE(test, r.nomem);
			cur = r.next;
		}
		s390_shadow_release(sh);
	} while (rc == -EAGAIN && ++calls < 100);
	KUNIT_EXPECT_EQ(test, rc, 0);
	KUNIT_EXPECT_EQ(test, r.next, last + 1);
	/* 768 PTEs, 2 upper entries per call, 2 more segment entries */
	KUNIT_EXPECT_EQ(test, calls, 7);
	KUNIT_EXPECT_EQ(test, total, 768 + 2 * 8 + 2);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 600);
	for (i = 0; i < 600; i += 37)
		sht_expect_map(fg, (u64)i * SHT_PG, (u64)(i + 1) * SHT_PG, false);

	/* the first page is always processed: progress even with a bound of 1 */
	for (i = 0; i < 600; i++)
		sht_unmap(fg, (u64)i * SHT_PG);
	sh->max_visit = 1;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, SHT_SEG, &r), -EAGAIN);
	KUNIT_EXPECT_EQ(test, r.visited, 3);
	KUNIT_EXPECT_EQ(test, r.next, SHT_PG);
	sht_expect_unmapped(fg, 0);
	sht_expect_map(fg, SHT_PG, 2 * SHT_PG, false);

	/* an -ENOMEM before the bound: -EAGAIN with nomem, resumed to the end */
	s390_shadow_release(sh);
	sht_map(fg, 0, 0x100000, false);
	fg->pin_limit = fg->nr_pins;
	sh->max_visit = 50;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, last + 1, &r), -EAGAIN);
	KUNIT_EXPECT_TRUE(test, r.nomem);
	KUNIT_EXPECT_EQ(test, r.next, 48 * SHT_PG);
	cur = r.next;
	s390_shadow_release(sh);
	calls = 0;
	do {
		rc = sht_refresh(fg, cur, last - cur + 1, &r);
		cur = r.next;
		s390_shadow_release(sh);
	} while (rc == -EAGAIN && ++calls < 100);
	KUNIT_EXPECT_EQ(test, rc, 0);
	fg->pin_limit = -1;
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 0);

	/* 0: unlimited */
	sh->max_visit = 0;
	KUNIT_EXPECT_EQ(test, sht_refresh(fg, 0, last + 1, &r), 0);
	sht_expect_map(fg, 0, 0x100000, false);

	/* invalid region entries count too: 2047 of them, 100 per call */
	sh->max_visit = 100;
	cur = SHT_REG;
	calls = 0;
	do {
		rc = sht_refresh(fg, cur, SHT_REACH - cur, &r);
		if (rc != -EAGAIN)
			break;
		KUNIT_EXPECT_EQ(test, r.visited, 100);
		KUNIT_EXPECT_EQ(test, r.next, cur + 100 * SHT_REG);
		KUNIT_EXPECT_FALSE(test, r.changed);
		cur = r.next;
	} while (++calls < 100);
	KUNIT_EXPECT_EQ(test, rc, 0);
	KUNIT_EXPECT_EQ(test, calls, 20);
	KUNIT_EXPECT_EQ(test, r.visited, 47);
	KUNIT_EXPECT_EQ(test, r.next, SHT_REACH);
}

/*
 * Aliased guest tables: the first two region entries name the same segment
 * table, every entry of which names the same page table (segment 5: another
 * one with two valid PTEs).  A global refresh examines over a million guest
 * entries; it completes in calls of bounded work and the shadow matches the
 * guest.
 */
static void shadow_test_aliased_walk(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	u64 root, st, pt0, pt5, cur = 0, old = SHT_REG + 9 * SHT_SEG;
	unsigned long max = 1UL << 16, total = 0, all;
	struct s390_shadow *sh = &fg->sh;
	struct s390_shadow_result r;
	int i, rc, calls = 0;
	bool bounded = true;

	sht_map(fg, old, 0x9000, false);
	KUNIT_EXPECT_EQ(test, sht_global(fg, &r), 0);
	root = fg->iota & ZPCI_RTE_ADDR_MASK;
	st = sht_alloc_rst(fg);
	pt0 = sht_alloc_pt(fg);
	pt5 = sht_alloc_pt(fg);
	sht_wr(fg, pt5, 0x5000);
	sht_wr(fg, pt5 + 8, 0x6000 | ZPCI_TABLE_PROTECTED);
	for (i = 0; i < 2048; i++)
		sht_wr(fg, st + i * 8, (i == 5 ? pt5 : pt0) | ZPCI_TABLE_TYPE_SX);
	for (i = 0; i < 2; i++)
		sht_wr(fg, root + i * 8,
		       st | ZPCI_TABLE_TYPE_RTX | ZPCI_TABLE_LEN_RTX);

	sh->max_visit = max;
	do {
		rc = s390_shadow_refresh(sh, cur, SHT_REACH - cur, &r);
		if (r.visited > max)
			bounded = false;
		total += r.visited;
		if (rc == -EAGAIN) {
			KUNIT_EXPECT_GT(test, r.next, cur);
			cur = r.next;
		}
		s390_shadow_release(sh);
	} while (rc == -EAGAIN && ++calls < 64);
	KUNIT_EXPECT_EQ(test, rc, 0);
	KUNIT_EXPECT_TRUE(test, bounded);
	/*
	 * 2048 region entries, 2 * 2048 * (1 + 256) below the aliased ones;
	 * a call resuming inside a page table examines its region and
	 * segment entries again: 17 calls of at most 2^16 entries
	 */
	all = 2048 + 2 * 2048 * 257;
	KUNIT_EXPECT_GE(test, total, all);
	KUNIT_EXPECT_LE(test, total, all + 2 * calls);
	KUNIT_EXPECT_EQ(test, calls, 16);
	sht_accounting(fg);
	KUNIT_EXPECT_EQ(test, sht_count_valid(sh), 4);
	KUNIT_EXPECT_EQ(test, fg->pins[5], 2);
	KUNIT_EXPECT_EQ(test, fg->wpins[5], 2);
	KUNIT_EXPECT_EQ(test, fg->pins[6], 2);
	KUNIT_EXPECT_EQ(test, fg->wpins[6], 0);
	KUNIT_EXPECT_EQ(test, fg->pins[9], 0);
	KUNIT_EXPECT_EQ(test, sh->nr_pts, 2);
	KUNIT_EXPECT_EQ(test, sh->nr_tables, 3);
	for (i = 0; i < 2; i++) {
		sht_expect_map(fg, (u64)i * SHT_REG + 5 * SHT_SEG, 0x5000, false);
		sht_expect_map(fg, (u64)i * SHT_REG + 5 * SHT_SEG + SHT_PG, 0x6000,
			       true);
		sht_expect_unmapped(fg, (u64)i * SHT_REG + 5 * SHT_SEG + 2 * SHT_PG);
		sht_expect_unmapped(fg, (u64)i * SHT_REG + 9 * SHT_SEG);
	}
	sht_expect_unmapped(fg, 2 * SHT_REG + 5 * SHT_SEG);
	KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
}

/* ------------------------------------------------------------------ */
/* A short differential run against the reference walk (fixed seed) */

#define SHT_D_REG	3
#define SHT_D_SEG	5
#define SHT_D_PPS	8
#define SHT_D_NPG	(SHT_D_REG * SHT_D_SEG * SHT_D_PPS)

struct sht_dstate {
	bool valid;
	bool prot;
	u64 hpa;
};

struct sht_drun {
	struct sht_guest *fg;
	u64 rnd;
	struct sht_dstate *exp, *ref, *now;
	int nok, nerr, nenomem;
};

static u64 sht_rnd(struct sht_drun *d)
{
	d->rnd ^= d->rnd << 13;
	d->rnd ^= d->rnd >> 7;
	d->rnd ^= d->rnd << 17;
	return d->rnd;
}

/* The tracked pages: regions 0, 1, 2047, five segments, eight pages each */
static u64 sht_d_iova(unsigned int k)
{
	static const u64 reg[SHT_D_REG] = { 0, 1, 2047 };
	static const u64 seg[SHT_D_SEG] = { 0, 1, 511, 512, 2047 };
	static const u64 pg[SHT_D_PPS] = { 0, 1, 2, 3, 128, 200, 254, 255 };

	return reg[k / (SHT_D_SEG * SHT_D_PPS)] * SHT_REG +
	       seg[k / SHT_D_PPS % SHT_D_SEG] * SHT_SEG +
	       pg[k % SHT_D_PPS] * SHT_PG;
}

static bool sht_d_eq(struct sht_dstate a, struct sht_dstate b)
{
	return a.valid == b.valid &&
	       (!a.valid || (a.hpa == b.hpa && a.prot == b.prot));
}

/*
 * Errors the engine must report for [start, last] from the region-first/
 * second entries (it checks the whole covered slice, not only tracked
 * pages).  False if an upper entry is invalid (nothing below counts).
 */
static bool sht_d_upper(struct sht_guest *fg, u64 start, u64 last, bool *err)
{
	int dt = (fg->iota >> 2) & 7;
	u64 t = fg->iota & ZPCI_RTE_ADDR_MASK, v;
	unsigned int nf, nl;

	if (dt < ZPCI_IOTA_RSTO)
		return true;
	if (dt == ZPCI_IOTA_RFTO) {
		v = sht_rd(fg, t);
		if (v & ZPCI_TABLE_INVALID)
			return false;
		if ((v & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RFX ||
		    (v & ZPCI_TABLE_OFFSET_MASK))
			*err = true;
		t = v & ZPCI_RTE_ADDR_MASK;
	}
	v = sht_rd(fg, t);
	if (v & ZPCI_TABLE_INVALID)
		return false;
	nf = (start >> 31) >> 9;
	nl = (last >> 31) >> 9;
	if ((v & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RSX ||
	    nf < ((v & ZPCI_TABLE_OFFSET_MASK) >> 6) || nl > (v & 3))
		*err = true;
	return true;
}

/* The guest changes its tables: one mapping, unmapping or entry flip */
static void sht_d_mutate(struct sht_drun *d, u64 *cor_ea, u64 *cor_val,
			 int *ncor)
{
	static const u64 bits[] = {
		0x20, 0x20, 0x20, 0x20, 0x200, 0x4, 0x3, 0x40
	};
	struct sht_guest *fg = d->fg;
	int dt = (fg->iota >> 2) & 7;
	u64 iova = sht_d_iova(sht_rnd(d) % SHT_D_NPG), gpa, ea, b;
	unsigned int what = sht_rnd(d) % 100;
	int lvl;

	if (what < 45) {
		gpa = (sht_rnd(d) % (SHT_TABLES / SHT_PG / 64)) * SHT_PG;
		if (sht_rnd(d) % 50 == 0)
			gpa += SHT_RAM;		/* not guest RAM */
		sht_map(fg, iova, gpa, sht_rnd(d) % 4 == 0);
		return;
	}
	if (what < 70) {
		sht_unmap(fg, iova);
		return;
	}
	lvl = 1 + (what & 1);
	/* now and then the region-first/second entry */
	if (what >= 97 && dt >= ZPCI_IOTA_RSTO)
		lvl = dt + 1;
	b = bits[sht_rnd(d) % ARRAY_SIZE(bits)];
	if (lvl == 1 && (b == 0x3 || b == 0x40))
		b = 0x20;
	ea = sht_entry_addr(fg, fg->iota, iova, lvl, false);
	/*
	 * only entries the builder created: never let the guest point into
	 * zeroed data pages (untracked mappings)
	 */
	if (!ea || !(sht_rd(fg, ea) & ~0x7ffULL))
		return;
	/* format errors are repaired again soon */
	if (b != 0x20 && b != 0x200) {
		if (*ncor >= 16)
			return;
		cor_ea[*ncor] = ea;
		cor_val[(*ncor)++] = sht_rd(fg, ea);
	}
	sht_wr(fg, ea, sht_rd(fg, ea) ^ b);
}

static bool sht_d_fail(struct kunit *test, int it, const char *what, u64 iova)
{
	KUNIT_FAIL(test, "differential iteration %d, iova %#llx: %s", it, iova,
		   what);
	return false;
}

/* One iteration: mutate, refresh a random range, compare */
static bool sht_d_step(struct sht_drun *d, int it, u64 *cor_ea, u64 *cor_val,
		       int *ncor)
{
	struct sht_guest *fg = d->fg;
	struct kunit *test = fg->test;
	u64 start, len, last, lo = ~0ULL, hi = 0, pinned = 0, ea, rte;
	struct s390_shadow_result r;
	bool limited = false, any_err = false, lost = false, in;
	int m, nmut, rc, k;

	if (sht_rnd(d) % 2) {
		while (*ncor) {
			(*ncor)--;
			sht_wr(fg, cor_ea[*ncor], cor_val[*ncor]);
		}
	}
	nmut = 1 + sht_rnd(d) % 8;
	for (m = 0; m < nmut; m++)
		sht_d_mutate(d, cor_ea, cor_val, ncor);
	if (sht_rnd(d) % 3 == 0) {
		start = 0;
		len = SHT_REACH;
	} else {
		start = sht_d_iova(sht_rnd(d) % SHT_D_NPG);
		start += sht_rnd(d) % (2 * SHT_SEG) - SHT_SEG / 2;
		if (start >= SHT_REACH)
			start = 0;
		len = sht_rnd(d) % 2 ? 3 * SHT_GIB : 4 * SHT_SEG;
		len = 1 + sht_rnd(d) % len;
		if (start + len > SHT_REACH)
			len = SHT_REACH - start;
	}
	last = start + len - 1;
	if (sht_rnd(d) % 10 == 0) {
		fg->pin_limit = fg->nr_pins + sht_rnd(d) % 20;
		limited = true;
	}
	for (k = 0; k < SHT_D_NPG; k++) {
		u64 v = sht_d_iova(k), gpa = 0;
		bool prot = false;
		int rr = sht_ref_walk(fg, fg->iota, v, &gpa, &prot);

		d->ref[k].valid = rr == 1;
		d->ref[k].prot = prot;
		d->ref[k].hpa = rr == 1 ? sht_hpa(fg, gpa) : 0;
		if (rr < 0 && v + SHT_PG - 1 >= start && v <= last)
			any_err = true;
	}
	/* table offset/length also covers untracked segments */
	k = sht_d_upper(fg, start, last, &any_err) ? 0 : SHT_D_NPG;
	for (; k < SHT_D_NPG; k += SHT_D_SEG * SHT_D_PPS) {
		u64 rb = sht_d_iova(k), s, l;

		ea = sht_entry_addr(fg, fg->iota, rb, 2, false);
		rte = ea ? sht_rd(fg, ea) : ZPCI_TABLE_INVALID;
		if (rb > last || rb + SHT_REG - 1 < start ||
		    (rte & ZPCI_TABLE_INVALID))
			continue;
		if ((rte & ZPCI_TABLE_TYPE_MASK) != ZPCI_TABLE_TYPE_RTX)
			any_err = true;
		s = (max(start, rb) >> 20) & 0x7ff;
		l = (min(last, rb + SHT_REG - 1) >> 20) & 0x7ff;
		if ((s >> 9) < ((rte & 0xc0) >> 6) || (l >> 9) > (rte & 3))
			any_err = true;
	}
	rc = sht_refresh(fg, start, len, &r);
	fg->pin_limit = -1;
	if (rc == 0) {
		d->nok++;
		if (any_err)
			return sht_d_fail(test, it, "no table error", start);
	} else if (rc == -ENOMEM) {
		d->nenomem++;
		if (!limited)
			return sht_d_fail(test, it, "-ENOMEM without limit", start);
	} else {
		d->nerr++;
		if ((rc != -EINVAL && rc != -EFAULT) || !any_err)
			return sht_d_fail(test, it, "unexpected error", start);
	}
	for (k = 0; k < SHT_D_NPG; k++) {
		u64 v = sht_d_iova(k);
		struct sht_dstate *now = &d->now[k];

		in = v + SHT_PG - 1 >= start && v <= last;
		now->hpa = 0;
		now->prot = false;
		now->valid = s390_shadow_lookup(&fg->sh, v, &now->hpa, &now->prot);
		if (!in) {
			if (!sht_d_eq(*now, d->exp[k]))
				return sht_d_fail(test, it, "changed outside", v);
		} else if (rc == 0) {
			if (!sht_d_eq(*now, d->ref[k]))
				return sht_d_fail(test, it, "differs from guest", v);
		} else if (rc == -ENOMEM) {
			/* walked to the end: new value or removed */
			if (!sht_d_eq(*now, d->ref[k]) && now->valid)
				return sht_d_fail(test, it, "stale after -ENOMEM", v);
		} else {
			/* stopped early: old value, new value or removed */
			if (!sht_d_eq(*now, d->exp[k]) &&
			    !sht_d_eq(*now, d->ref[k]) && now->valid)
				return sht_d_fail(test, it, "bad after error", v);
		}
		if (!sht_d_eq(*now, d->exp[k])) {
			lo = min(lo, v);
			hi = max(hi, v);
			if (d->exp[k].valid)
				lost = true;
			if (now->valid)
				pinned++;
		}
	}
	if (lo <= hi && (!r.changed || r.start > lo || r.end < hi + SHT_PG - 1))
		return sht_d_fail(test, it, "change outside the flush range", lo);
	if (r.changed) {
		/* beyond the range only for an unlinked table */
		if ((r.start < (start & ~(SHT_PG - 1)) && (r.start & (SHT_SEG - 1))) ||
		    r.start < (start & ~(SHT_REG - 1)) ||
		    (r.end > (last | (SHT_PG - 1)) && ((r.end + 1) & (SHT_SEG - 1))) ||
		    r.end > (last | (SHT_REG - 1)))
			return sht_d_fail(test, it, "flush range too wide", r.start);
	}
	if (sht_check(fg))
		return sht_d_fail(test, it, "books differ", start);
	if (lost && !r.removed)
		return sht_d_fail(test, it, "removal not reported", start);
	if (rc == 0 && r.pinned != pinned)
		return sht_d_fail(test, it, "pin count", start);
	memcpy(d->exp, d->now, SHT_D_NPG * sizeof(*d->exp));
	if (sht_rnd(d) % 5) {
		s390_shadow_release(&fg->sh);
		if (fg->sh.nr_gather ||
		    (unsigned long)fg->nr_pins != sht_count_valid(&fg->sh))
			return sht_d_fail(test, it, "pins after release", start);
	}
	return true;
}

static bool sht_d_run(struct sht_drun *d, int dt, int iters)
{
	u64 cor_ea[16], cor_val[16];
	int it, ncor = 0;

	/* a fresh guest root; the old guest tables are reused */
	d->fg->table_next = SHT_TABLES;
	sht_use_root(d->fg, dt);
	memset(d->exp, 0, SHT_D_NPG * sizeof(*d->exp));
	for (it = 0; it < iters; it++) {
		if (d->fg->table_next > SHT_RAM - SZ_256K) {
			/* guest table memory nearly used up: a new root */
			d->fg->table_next = SHT_TABLES;
			ncor = 0;
			sht_use_root(d->fg, dt);
			memset(d->exp, 0, SHT_D_NPG * sizeof(*d->exp));
		}
		if (!sht_d_step(d, it, cor_ea, cor_val, &ncor))
			return false;
	}
	return true;
}

static void shadow_test_differential(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	struct sht_drun d = { .fg = fg, .rnd = 0x5eed5390ULL };

	d.exp = kunit_kcalloc(test, SHT_D_NPG, sizeof(*d.exp), GFP_KERNEL);
	d.ref = kunit_kcalloc(test, SHT_D_NPG, sizeof(*d.ref), GFP_KERNEL);
	d.now = kunit_kcalloc(test, SHT_D_NPG, sizeof(*d.now), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, d.exp);
	KUNIT_ASSERT_NOT_NULL(test, d.ref);
	KUNIT_ASSERT_NOT_NULL(test, d.now);
	if (!sht_d_run(&d, ZPCI_IOTA_RTTO, 200) ||
	    !sht_d_run(&d, ZPCI_IOTA_RSTO, 100) ||
	    !sht_d_run(&d, ZPCI_IOTA_RFTO, 100))
		return;
	/* every outcome was exercised */
	KUNIT_EXPECT_GT(test, d.nok, 200);
	KUNIT_EXPECT_GT(test, d.nerr, 0);
	KUNIT_EXPECT_GT(test, d.nenomem, 0);
}

/* ------------------------------------------------------------------ */

static int sht_init(struct kunit *test)
{
	struct s390_shadow_result r;
	struct sht_guest *fg;
	unsigned long i;

	fg = kunit_kzalloc(test, sizeof(*fg), GFP_KERNEL);
	if (!fg)
		return -ENOMEM;
	fg->test = test;
	fg->pages = kunit_kcalloc(test, SHT_PAGES, sizeof(*fg->pages), GFP_KERNEL);
	fg->pins = kunit_kcalloc(test, SHT_PAGES, sizeof(u32), GFP_KERNEL);
	fg->wpins = kunit_kcalloc(test, SHT_PAGES, sizeof(u32), GFP_KERNEL);
	fg->cnt = kunit_kcalloc(test, SHT_PAGES, sizeof(u32), GFP_KERNEL);
	fg->wcnt = kunit_kcalloc(test, SHT_PAGES, sizeof(u32), GFP_KERNEL);
	if (!fg->pages || !fg->pins || !fg->wpins || !fg->cnt || !fg->wcnt)
		return -ENOMEM;
	test->priv = fg;
	for (i = 0; i < SHT_PAGES; i++) {
		fg->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!fg->pages[i])
			return -ENOMEM;
		set_page_private(fg->pages[i], i);
	}
	fg->table_next = SHT_TABLES;
	fg->pin_limit = -1;
	sht_active = fg;
	if (s390_shadow_init(&fg->sh, fg))
		return -ENOMEM;
	fg->sh_live = true;
	fg->iota = sht_new_root(fg, ZPCI_IOTA_RTTO);
	if (s390_shadow_set_iota(&fg->sh, fg->iota, &r) || r.changed)
		return -EINVAL;
	return 0;
}

static void sht_exit(struct kunit *test)
{
	struct sht_guest *fg = test->priv;
	unsigned long i;

	if (!fg)
		return;
	if (fg->sh_live) {
		if (fg->sh.root) {
			sht_accounting(fg);
			KUNIT_EXPECT_EQ(test, sht_check(fg), 0);
		}
		/* destroy releases everything */
		s390_shadow_destroy(&fg->sh);
		KUNIT_EXPECT_EQ(test, fg->nr_pins, 0);
		KUNIT_EXPECT_EQ(test, fg->tables_live, 0);
		KUNIT_EXPECT_EQ(test, fg->pts_live, 0);
		KUNIT_EXPECT_EQ(test, fg->errors, 0);
		for (i = 0; i < SHT_PAGES; i++) {
			if (fg->pins[i] || fg->wpins[i]) {
				KUNIT_FAIL(test, "gpa %#lx still pinned after destroy",
					   i << PAGE_SHIFT);
				break;
			}
		}
	}
	if (sht_active == fg)
		sht_active = NULL;
	for (i = 0; i < SHT_PAGES && fg->pages[i]; i++) {
		set_page_private(fg->pages[i], 0);
		__free_page(fg->pages[i]);
	}
}

static struct kunit_case s390_kvm_shadow_test_cases[] = {
	KUNIT_CASE(shadow_test_init_destroy),
	KUNIT_CASE(shadow_test_basic_map),
	KUNIT_CASE(shadow_test_hw_format),
	KUNIT_CASE(shadow_test_lookup),
	KUNIT_CASE(shadow_test_for_each),
	KUNIT_CASE(shadow_test_unmap_gpa),
	KUNIT_CASE(shadow_test_unchanged_no_pin),
	KUNIT_CASE(shadow_test_remap_order),
	KUNIT_CASE(shadow_test_invalid_pte_deferred),
	KUNIT_CASE(shadow_test_invalid_segment),
	KUNIT_CASE(shadow_test_invalid_region),
	KUNIT_CASE(shadow_test_partial_clear),
	KUNIT_CASE(shadow_test_range_checks),
	KUNIT_CASE(shadow_test_set_iota_bad_type),
	KUNIT_CASE(shadow_test_bad_addresses),
	KUNIT_CASE(shadow_test_rte_type),
	KUNIT_CASE(shadow_test_rte_offset_length),
	KUNIT_CASE(shadow_test_ste_type),
	KUNIT_CASE(shadow_test_pte_frame),
	KUNIT_CASE(shadow_test_zero_entries),
	KUNIT_CASE(shadow_test_segment_fc),
	KUNIT_CASE(shadow_test_enomem_pin_limit),
	KUNIT_CASE(shadow_test_enomem_table_alloc),
	KUNIT_CASE(shadow_test_enomem_release_list),
	KUNIT_CASE(shadow_test_enomem_set_iota),
	KUNIT_CASE(shadow_test_enomem_continue),
	KUNIT_CASE_PARAM(shadow_test_pin_busy, sht_busy_gen_params),
	KUNIT_CASE_PARAM(shadow_test_pin_fail_frees_tables,
			 sht_pin_fail_gen_params),
	KUNIT_CASE(shadow_test_bad_frames_no_tables),
	KUNIT_CASE(shadow_test_last_entry_frees_tables),
	KUNIT_CASE(shadow_test_flush_range),
	KUNIT_CASE_PARAM(shadow_test_upper_levels, sht_upper_gen_params),
	KUNIT_CASE(shadow_test_sto),
	KUNIT_CASE(shadow_test_upper_prot),
	KUNIT_CASE(shadow_test_set_iota),
	KUNIT_CASE(shadow_test_destroy_pending),
	KUNIT_CASE(shadow_test_bounded_walk),
	KUNIT_CASE(shadow_test_aliased_walk),
	KUNIT_CASE(shadow_test_differential),
	{}
};

static struct kunit_suite s390_kvm_shadow_test_suite = {
	.name = "s390_kvm_shadow",
	.init = sht_init,
	.exit = sht_exit,
	.test_cases = s390_kvm_shadow_test_cases,
};

kunit_test_suite(s390_kvm_shadow_test_suite);
