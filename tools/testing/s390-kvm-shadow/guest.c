// SPDX-License-Identifier: GPL-2.0
/*
 * Fake guest for the host-native tests of the s390 KVM shadow engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <endian.h>
#include <linux/slab.h>
#include "guest.h"

/*
 * The fake guest whose release-list allocations fail (fail_realloc_in): the
 * engine's kvrealloc() carries no context, so it is the one initialized or
 * called through the engine's services last.
 */
static struct fake_guest *fg_active;

static u64 *ptr_of(u64 phys)
{
	return (u64 *)(uintptr_t)phys;
}

int s390_shadow_read_guest(void *priv, u64 gpa, void *buf, size_t len)
{
	struct fake_guest *fg = priv;

	fg_active = fg;
	fg->read_calls++;
	if (gpa >= fg->size || len > fg->size - gpa)
		return -EFAULT;
	memcpy(buf, fg->ram + gpa, len);
	return 0;
}

int s390_shadow_pin_frame(void *priv, u64 gpa, bool write, u64 *hpa)
{
	struct fake_guest *fg = priv;
	u64 pfn = gpa / G_PAGE;

	fg_active = fg;
	fg->pin_calls++;
	if (fg->fail_pin_in > 0 && --fg->fail_pin_in == 0)
		return fg->fail_pin_rc;
	if (gpa >= fg->size)
		return -EFAULT;
	if (fg->trivial_pin) {
		*hpa = (u64)(uintptr_t)fg->ram + (gpa & ~(G_PAGE - 1));
		return 0;
	}
	if (fg->pin_limit >= 0 && fg->nr_pins >= fg->pin_limit)
		return -ENOMEM;
	fg->pins[pfn]++;
	if (write)
		fg->wpins[pfn]++;
	fg->nr_pins++;
	*hpa = (u64)(uintptr_t)fg->ram + pfn * G_PAGE;
	return 0;
}

void s390_shadow_unpin_frame(void *priv, u64 hpa, bool dirty)
{
	struct fake_guest *fg = priv;
	u64 base = (u64)(uintptr_t)fg->ram;
	u64 pfn;

	fg_active = fg;
	fg->unpin_calls++;
	if (fg->trivial_pin)
		return;
	if (hpa < base || hpa >= base + fg->size || (hpa & (G_PAGE - 1))) {
		fprintf(stderr, "unpin of bad hpa %#llx\n", (unsigned long long)hpa);
		fg->errors++;
		return;
	}
	pfn = (hpa - base) / G_PAGE;
	if (!fg->pins[pfn]) {
		fprintf(stderr, "unpin of unpinned gpa %#llx\n",
			(unsigned long long)(pfn * G_PAGE));
		fg->errors++;
		return;
	}
	if (dirty) {
		if (!fg->wpins[pfn]) {
			fprintf(stderr, "dirty unpin of read-only pin %#llx\n",
				(unsigned long long)(pfn * G_PAGE));
			fg->errors++;
			return;
		}
		fg->wpins[pfn]--;
	} else if (fg->wpins[pfn] == fg->pins[pfn]) {
		fprintf(stderr, "clean unpin but only writable pins %#llx\n",
			(unsigned long long)(pfn * G_PAGE));
		fg->errors++;
	}
	fg->pins[pfn]--;
	fg->nr_pins--;
}

static bool inject(long *ctr)
{
	if (*ctr > 0 && --(*ctr) == 0)
		return true;
	return false;
}

u64 *s390_shadow_alloc_table(void *priv)
{
	struct fake_guest *fg = priv;
	void *p;

	fg_active = fg;
	if (inject(&fg->fail_table_in))
		return NULL;
	p = aligned_alloc(16384, 16384);
	if (!p)
		return NULL;
	memset(p, 0xa5, 16384);
	fg->tables_live++;
	return p;
}

void s390_shadow_free_table(void *priv, u64 *table)
{
	struct fake_guest *fg = priv;

	fg_active = fg;
	if ((uintptr_t)table & 16383)
		fg->errors++;
	fg->tables_live--;
	free(table);
}

u64 *s390_shadow_alloc_pt(void *priv)
{
	struct fake_guest *fg = priv;
	void *p;

	fg_active = fg;
	if (inject(&fg->fail_pt_in))
		return NULL;
	p = aligned_alloc(4096, 4096);
	if (!p)
		return NULL;
	memset(p, 0x5a, 4096);
	fg->pts_live++;
	return p;
}

void s390_shadow_free_pt(void *priv, u64 *pt)
{
	struct fake_guest *fg = priv;

	fg_active = fg;
	fg->pts_live--;
	free(pt);
}

/* The engine's kvrealloc()/kvfree() (shim/linux/slab.h) */
void *kvrealloc(const void *p, size_t size, gfp_t flags)
{
	(void)flags;
	if (fg_active && inject(&fg_active->fail_realloc_in))
		return NULL;
	return realloc((void *)p, size);
}

void kvfree(const void *p)
{
	free((void *)p);
}

int fg_init(struct fake_guest *fg, u64 size)
{
	memset(fg, 0, sizeof(*fg));
	fg->size = size;
	fg->ram = aligned_alloc(16384, size);
	fg->pins = calloc(size / G_PAGE, sizeof(u32));
	fg->wpins = calloc(size / G_PAGE, sizeof(u32));
	fg->chk_cnt = calloc(size / G_PAGE, sizeof(u32));
	fg->chk_wcnt = calloc(size / G_PAGE, sizeof(u32));
	if (!fg->ram || !fg->pins || !fg->wpins || !fg->chk_cnt || !fg->chk_wcnt)
		return -ENOMEM;
	fg->dirty_lo = size;
	memset(fg->ram, 0, size);
	fg->data_end = size / 4 * 3;
	fg->table_next = fg->data_end;
	fg->pin_limit = -1;
	fg_active = fg;
	return 0;
}

void fg_recycle(struct fake_guest *fg)
{
	struct fake_guest keep = *fg;

	/* only what was written: the fuzz target recycles per input */
	if (fg->dirty_lo < fg->dirty_hi)
		memset(fg->ram + fg->dirty_lo, 0, fg->dirty_hi - fg->dirty_lo);
	memset(fg->pins, 0, fg->size / G_PAGE * sizeof(u32));
	memset(fg->wpins, 0, fg->size / G_PAGE * sizeof(u32));
	memset(fg, 0, sizeof(*fg));
	fg->ram = keep.ram;
	fg->pins = keep.pins;
	fg->wpins = keep.wpins;
	fg->chk_cnt = keep.chk_cnt;
	fg->chk_wcnt = keep.chk_wcnt;
	fg->size = keep.size;
	fg->dirty_lo = fg->size;
	fg->data_end = keep.data_end;
	fg->table_next = fg->data_end;
	fg->pin_limit = -1;
	fg_active = fg;
}

void fg_destroy(struct fake_guest *fg)
{
	free(fg->ram);
	free(fg->pins);
	free(fg->wpins);
	free(fg->chk_cnt);
	free(fg->chk_wcnt);
	memset(fg, 0, sizeof(*fg));
	if (fg_active == fg)
		fg_active = NULL;
}

void fg_reset_tables(struct fake_guest *fg)
{
	fg->table_next = fg->data_end;
}

u64 fg_rd(struct fake_guest *fg, u64 gpa)
{
	u64 v;

	memcpy(&v, fg->ram + gpa, 8);
	return be64toh(v);
}

static void fg_dirty(struct fake_guest *fg, u64 gpa, u64 len)
{
	if (gpa < fg->dirty_lo)
		fg->dirty_lo = gpa;
	if (gpa + len > fg->dirty_hi)
		fg->dirty_hi = gpa + len;
}

void fg_wr(struct fake_guest *fg, u64 gpa, u64 val)
{
	u64 v = htobe64(val);

	memcpy(fg->ram + gpa, &v, 8);
	fg_dirty(fg, gpa, 8);
}

static u64 fg_alloc(struct fake_guest *fg, u64 size, u64 fill)
{
	u64 gpa = (fg->table_next + size - 1) & ~(size - 1);
	u64 i;

	if (gpa + size > fg->size)
		return 0;	/* out of table memory: callers treat 0 as failure */
	fg->table_next = gpa + size;
	fg_wr(fg, gpa, fill);
	for (i = 8; i < size; i *= 2)
		memcpy(fg->ram + gpa + i, fg->ram + gpa, i);
	fg_dirty(fg, gpa, size);
	return gpa;
}

u64 fg_alloc_rst(struct fake_guest *fg)
{
	return fg_alloc(fg, ZPCI_TABLE_SIZE, ZPCI_TABLE_INVALID);
}

u64 fg_alloc_pt(struct fake_guest *fg)
{
	return fg_alloc(fg, ZPCI_PT_SIZE, ZPCI_PTE_INVALID);
}

u64 fg_hpa(struct fake_guest *fg, u64 gpa)
{
	return (u64)(uintptr_t)fg->ram + (gpa & ~(G_PAGE - 1));
}

u64 fg_new_root(struct fake_guest *fg, int dt)
{
	return fg_alloc_rst(fg) | ((u64)dt << 2) | ZPCI_IOTA_IOT_ENABLED;
}

static int top_level(u64 iota)
{
	return ((iota >> 2) & 7) + 1;	/* STO 1, RTTO 2, RSTO 3, RFTO 4 */
}

static unsigned int index_of(u64 iova, int level)
{
	static const int shift[] = { 12, 20, 31, 42, 53 };

	return (iova >> shift[level]) & (level ? 0x7ff : 0xff);
}

static const u64 type_of[] = { 0, ZPCI_TABLE_TYPE_SX, ZPCI_TABLE_TYPE_RTX,
			       ZPCI_TABLE_TYPE_RSX, ZPCI_TABLE_TYPE_RFX };

u64 fg_entry_addr(struct fake_guest *fg, u64 iota, u64 iova, int level,
		  bool create)
{
	u64 table = iota & ZPCI_RTE_ADDR_MASK;
	int l;

	if (level > top_level(iota))
		return 0;
	for (l = top_level(iota); l > level; l--) {
		u64 ea = table + index_of(iova, l) * 8;
		u64 e, t;

		if (ea > fg->size - 8)
			return 0;
		e = fg_rd(fg, ea);
		if (e & ZPCI_TABLE_INVALID) {
			if (!create)
				return 0;
			t = l == 1 ? fg_alloc_pt(fg) : fg_alloc_rst(fg);
			if (!t)
				return 0;
			if (l == 1)
				e = t | ZPCI_TABLE_TYPE_SX;
			else
				e = t | type_of[l] | ZPCI_TABLE_LEN_RTX;
			fg_wr(fg, ea, e);
		}
		table = e & (l == 1 ? ZPCI_STE_ADDR_MASK : ZPCI_RTE_ADDR_MASK);
	}
	if (table + index_of(iova, level) * 8 > fg->size - 8)
		return 0;
	return table + index_of(iova, level) * 8;
}

void fg_map(struct fake_guest *fg, u64 iota, u64 iova, u64 gpa, bool prot)
{
	u64 ea = fg_entry_addr(fg, iota, iova, 0, true);

	if (!ea)
		return;
	fg_wr(fg, ea, (gpa & ZPCI_PTE_ADDR_MASK) |
	      (prot ? ZPCI_TABLE_PROTECTED : 0));
}

void fg_unmap(struct fake_guest *fg, u64 iota, u64 iova)
{
	u64 ea = fg_entry_addr(fg, iota, iova, 0, false);

	if (ea)
		fg_wr(fg, ea, ZPCI_PTE_INVALID);
}

int fg_ref_walk(struct fake_guest *fg, u64 iota, u64 iova, u64 *gpa,
		bool *prot)
{
	u64 table = iota & ZPCI_RTE_ADDR_MASK, e, p = 0;
	int l;

	for (l = top_level(iota); l >= 0; l--) {
		u64 ea = table + index_of(iova, l) * 8;

		if (ea > fg->size - 8)
			return -1;
		e = fg_rd(fg, ea);
		/* a zero entry is an error at every level (QEMU: INVALTE) */
		if (!e)
			return -1;
		if (l == 0)
			break;
		if (e & ZPCI_TABLE_INVALID)
			return 0;
		if ((e & ZPCI_TABLE_TYPE_MASK) != type_of[l])
			return -1;
		/* segment entry format control: 1 MiB frame, not supported */
		if (l == 1 && (e & 0x400))
			return -1;
		if (l >= 2) {
			unsigned int nx = index_of(iova, l - 1) >> 9;

			if (nx < ((e & ZPCI_TABLE_OFFSET_MASK) >> 6) ||
			    nx > (e & ZPCI_TABLE_LEN_RTX))
				return -1;
		}
		p |= e & ZPCI_TABLE_PROT_MASK;
		table = e & (l == 1 ? ZPCI_STE_ADDR_MASK : ZPCI_RTE_ADDR_MASK);
	}
	if (e & ZPCI_PTE_INVALID)
		return 0;
	if ((e & ZPCI_PTE_ADDR_MASK) >= fg->size)
		return -1;
	*gpa = e & ZPCI_PTE_ADDR_MASK;
	*prot = !!((e | p) & ZPCI_TABLE_PROT_MASK);
	return 1;
}

unsigned long shadow_count_valid(struct s390_shadow *sh)
{
	unsigned long n = 0;
	int i, j, k;

	for (i = 0; i < 2048; i++) {
		u64 *st;

		if (sh->root[i] & ZPCI_TABLE_INVALID)
			continue;
		st = ptr_of(sh->root[i] & ZPCI_RTE_ADDR_MASK);
		for (j = 0; j < 2048; j++) {
			u64 *pt;

			if (st[j] & ZPCI_TABLE_INVALID)
				continue;
			pt = ptr_of(st[j] & ZPCI_STE_ADDR_MASK);
			for (k = 0; k < 256; k++)
				n += !(pt[k] & ZPCI_PTE_INVALID);
		}
	}
	return n;
}

/* Deferred release list entry types, as the engine encodes them */
#define G_UNPIN		0x0ULL
#define G_UNPIN_DIRTY	0x1ULL
#define G_PT		0x2ULL
#define G_ST		0x3ULL

static bool pt_empty(const u64 *pt)
{
	int k;

	for (k = 0; k < 256; k++)
		if (!(pt[k] & ZPCI_PTE_INVALID))
			return false;
	return true;
}

/*
 * The engine's bookkeeping in the second half of a shadow page table: slot
 * k (pt[256 + k]) holds the guest PTE value shadow PTE k was built from, 0
 * for an invalid PTE; bit 10 of slots 0..8 is the table's valid count.
 * Check both against the hardware PTEs.
 */
static int check_pt_books(const u64 *pt)
{
	const u64 *seen = pt + 256;
	unsigned int k, nr = 0, valid = 0;

	for (k = 0; k < 9; k++)
		nr |= (seen[k] & ZPCI_PTE_INVALID ? 1U : 0U) << k;
	for (k = 0; k < 256; k++) {
		u64 v = seen[k] & ~(u64)ZPCI_PTE_INVALID;

		if (pt[k] & ZPCI_PTE_INVALID) {
			if (v) {
				fprintf(stderr, "invalid shadow PTE %u has seen value %#llx\n",
					k, (unsigned long long)v);
				return -1;
			}
			continue;
		}
		valid++;
		if (!v || (v & ZPCI_TABLE_PROT_MASK) != (pt[k] & ZPCI_TABLE_PROT_MASK)) {
			fprintf(stderr, "shadow PTE %u %#llx built from seen value %#llx\n",
				k, (unsigned long long)pt[k], (unsigned long long)v);
			return -1;
		}
	}
	if (nr != valid) {
		fprintf(stderr, "shadow page table: valid count %u, %u valid PTEs\n",
			nr, valid);
		return -1;
	}
	return 0;
}

/* count the valid PTEs of @pt into the per-page counts */
static int count_pt(struct fake_guest *fg, const u64 *pt, u32 *cnt, u32 *wcnt)
{
	u64 base = (u64)(uintptr_t)fg->ram;
	int k;

	if (check_pt_books(pt))
		return -1;
	for (k = 0; k < 256; k++) {
		u64 hpa = pt[k] & ZPCI_PTE_ADDR_MASK;

		if (pt[k] & ZPCI_PTE_INVALID)
			continue;
		if (hpa < base || hpa >= base + fg->size) {
			fprintf(stderr, "shadow PTE maps %#llx outside guest RAM\n",
				(unsigned long long)hpa);
			return -1;
		}
		cnt[(hpa - base) / G_PAGE]++;
		wcnt[(hpa - base) / G_PAGE] += !(pt[k] & ZPCI_TABLE_PROT_MASK);
	}
	return 0;
}

/*
 * a segment table's page tables; @linked: it is reachable from the root, and
 * @nr_ste is the engine's count of its valid entries
 */
static int count_st(struct fake_guest *fg, const u64 *st, bool linked,
		    unsigned int nr_ste, unsigned long *pts, u32 *cnt, u32 *wcnt)
{
	unsigned int valid = 0;
	bool any = false;
	int j;

	for (j = 0; j < 2048; j++) {
		const u64 *pt;

		if (st[j] & ZPCI_TABLE_INVALID)
			continue;
		any = true;
		valid++;
		pt = ptr_of(st[j] & ZPCI_STE_ADDR_MASK);
		(*pts)++;
		if (linked && pt_empty(pt)) {
			fprintf(stderr, "linked empty shadow page table (segment %d)\n", j);
			return -1;
		}
		if (count_pt(fg, pt, cnt, wcnt))
			return -1;
	}
	if (linked && !any) {
		fprintf(stderr, "linked shadow segment table without a valid entry\n");
		return -1;
	}
	if (linked && valid != nr_ste) {
		fprintf(stderr, "shadow segment table: count %u, %u valid entries\n",
			nr_ste, valid);
		return -1;
	}
	return 0;
}

int shadow_check(struct fake_guest *fg, struct s390_shadow *sh)
{
	u64 npages = fg->size / G_PAGE, base = (u64)(uintptr_t)fg->ram, p;
	unsigned long pts = 0, tables = 1, i;
	u32 *cnt = fg->chk_cnt, *wcnt = fg->chk_wcnt;
	int ret = -1;

	memset(cnt, 0, npages * sizeof(u32));
	memset(wcnt, 0, npages * sizeof(u32));
	for (i = 0; i < 2048; i++) {
		if (sh->root[i] & ZPCI_TABLE_INVALID) {
			if (sh->nr_ste[i]) {
				fprintf(stderr, "invalid root entry %lu: count %u\n",
					i, sh->nr_ste[i]);
				goto out;
			}
			continue;
		}
		tables++;
		if (count_st(fg, ptr_of(sh->root[i] & ZPCI_RTE_ADDR_MASK), true,
			     sh->nr_ste[i], &pts, cnt, wcnt))
			goto out;
	}
	for (i = 0; i < sh->nr_gather; i++) {
		u64 v = sh->gather[i], a = v & ~0xfffULL;

		switch (v & 3) {
		case G_UNPIN:
		case G_UNPIN_DIRTY:
			if (a < base || a >= base + fg->size) {
				fprintf(stderr, "queued unpin of %#llx outside guest RAM\n",
					(unsigned long long)a);
				goto out;
			}
			cnt[(a - base) / G_PAGE]++;
			wcnt[(a - base) / G_PAGE] += (v & 3) == G_UNPIN_DIRTY;
			break;
		case G_PT:
			pts++;
			if (count_pt(fg, ptr_of(a), cnt, wcnt))
				goto out;
			break;
		default:
			tables++;
			if (count_st(fg, ptr_of(a), false, 0, &pts, cnt, wcnt))
				goto out;
			break;
		}
	}
	if (pts != sh->nr_pts || tables != sh->nr_tables) {
		fprintf(stderr, "recount: %lu pts, %lu tables; nr_pts %lu nr_tables %lu\n",
			pts, tables, sh->nr_pts, sh->nr_tables);
		goto out;
	}
	/* the fake also holds the scratch buffers: 2 tables, 1 page table */
	if (fg->pts_live != (long)pts + 1 || fg->tables_live != (long)tables + 2) {
		fprintf(stderr, "recount: %lu page tables, %lu tables; fake: %ld, %ld live\n",
			pts, tables, fg->pts_live, fg->tables_live);
		goto out;
	}
	if (!fg->trivial_pin) {
		for (p = 0; p < npages; p++) {
			if (cnt[p] != fg->pins[p] || wcnt[p] != fg->wpins[p]) {
				fprintf(stderr, "gpa %#llx: %u/%u maps/writable, %u/%u pins\n",
					(unsigned long long)(p * G_PAGE), cnt[p], wcnt[p],
					fg->pins[p], fg->wpins[p]);
				goto out;
			}
		}
	}
	if ((unsigned long)fg->nr_pins != sh->nr_pinned && !fg->trivial_pin) {
		fprintf(stderr, "fake nr_pins %ld, engine nr_pinned %lu\n",
			fg->nr_pins, sh->nr_pinned);
		goto out;
	}
	ret = 0;
out:
	return ret;
}
