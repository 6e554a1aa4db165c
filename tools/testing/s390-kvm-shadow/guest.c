// SPDX-License-Identifier: GPL-2.0
/*
 * Fake guest for the host-native tests of the s390 KVM shadow engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <endian.h>
#include "guest.h"

static u64 *ptr_of(u64 phys)
{
	return (u64 *)(uintptr_t)phys;
}

static int fo_read(void *priv, u64 gpa, void *buf, size_t len)
{
	struct fake_guest *fg = priv;

	fg->read_calls++;
	if (gpa >= fg->size || len > fg->size - gpa)
		return -EFAULT;
	memcpy(buf, fg->ram + gpa, len);
	return 0;
}

static int fo_pin(void *priv, u64 gpa, bool write, u64 *hpa)
{
	struct fake_guest *fg = priv;
	u64 pfn = gpa / G_PAGE;

	fg->pin_calls++;
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

static void fo_unpin(void *priv, u64 hpa, bool dirty)
{
	struct fake_guest *fg = priv;
	u64 base = (u64)(uintptr_t)fg->ram;
	u64 pfn;

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

static u64 *fo_alloc_table(void *priv)
{
	struct fake_guest *fg = priv;
	void *p;

	if (inject(&fg->fail_table_in))
		return NULL;
	p = aligned_alloc(16384, 16384);
	if (!p)
		return NULL;
	memset(p, 0xa5, 16384);
	fg->tables_live++;
	return p;
}

static void fo_free_table(void *priv, u64 *table)
{
	struct fake_guest *fg = priv;

	if ((uintptr_t)table & 16383)
		fg->errors++;
	fg->tables_live--;
	free(table);
}

static u64 *fo_alloc_pt(void *priv)
{
	struct fake_guest *fg = priv;
	void *p;

	if (inject(&fg->fail_pt_in))
		return NULL;
	p = aligned_alloc(4096, 4096);
	if (!p)
		return NULL;
	memset(p, 0x5a, 4096);
	fg->pts_live++;
	return p;
}

static void fo_free_pt(void *priv, u64 *pt)
{
	struct fake_guest *fg = priv;

	fg->pts_live--;
	free(pt);
}

static u64 fo_virt_to_phys(void *priv, void *virt)
{
	(void)priv;
	return (u64)(uintptr_t)virt;
}

static void *fo_phys_to_virt(void *priv, u64 phys)
{
	(void)priv;
	return ptr_of(phys);
}

static void *fo_realloc(void *priv, void *p, size_t size)
{
	struct fake_guest *fg = priv;

	if (inject(&fg->fail_realloc_in))
		return NULL;
	return realloc(p, size);
}

static void fo_free(void *priv, void *p)
{
	(void)priv;
	free(p);
}

const struct s390_shadow_ops fake_ops = {
	.read = fo_read,
	.pin = fo_pin,
	.unpin = fo_unpin,
	.alloc_table = fo_alloc_table,
	.free_table = fo_free_table,
	.alloc_pt = fo_alloc_pt,
	.free_pt = fo_free_pt,
	.virt_to_phys = fo_virt_to_phys,
	.phys_to_virt = fo_phys_to_virt,
	.realloc = fo_realloc,
	.free = fo_free,
};

int fg_init(struct fake_guest *fg, u64 size)
{
	memset(fg, 0, sizeof(*fg));
	fg->size = size;
	fg->ram = aligned_alloc(16384, size);
	fg->pins = calloc(size / G_PAGE, sizeof(u32));
	fg->wpins = calloc(size / G_PAGE, sizeof(u32));
	if (!fg->ram || !fg->pins || !fg->wpins)
		return -ENOMEM;
	memset(fg->ram, 0, size);
	fg->data_end = size / 4 * 3;
	fg->table_next = fg->data_end;
	fg->pin_limit = -1;
	return 0;
}

void fg_recycle(struct fake_guest *fg)
{
	struct fake_guest keep = *fg;

	memset(fg->ram, 0, fg->size);
	memset(fg->pins, 0, fg->size / G_PAGE * sizeof(u32));
	memset(fg->wpins, 0, fg->size / G_PAGE * sizeof(u32));
	memset(fg, 0, sizeof(*fg));
	fg->ram = keep.ram;
	fg->pins = keep.pins;
	fg->wpins = keep.wpins;
	fg->size = keep.size;
	fg->data_end = keep.data_end;
	fg->table_next = fg->data_end;
	fg->pin_limit = -1;
}

void fg_destroy(struct fake_guest *fg)
{
	free(fg->ram);
	free(fg->pins);
	free(fg->wpins);
	memset(fg, 0, sizeof(*fg));
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

void fg_wr(struct fake_guest *fg, u64 gpa, u64 val)
{
	u64 v = htobe64(val);

	memcpy(fg->ram + gpa, &v, 8);
}

static u64 fg_alloc(struct fake_guest *fg, u64 size, u64 fill)
{
	u64 gpa = (fg->table_next + size - 1) & ~(size - 1);
	u64 i;

	if (gpa + size > fg->size)
		return 0;	/* out of table memory: callers treat 0 as failure */
	fg->table_next = gpa + size;
	for (i = 0; i < size; i += 8)
		fg_wr(fg, gpa + i, fill);
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
		if (l == 0)
			break;
		if (e & ZPCI_TABLE_INVALID)
			return 0;
		if ((e & ZPCI_TABLE_TYPE_MASK) != type_of[l])
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
