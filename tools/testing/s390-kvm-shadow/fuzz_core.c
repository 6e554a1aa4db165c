// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz core for the s390 KVM shadow engine: random guest tables (including
 * arbitrary raw entries) built from the fuzz input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "guest.h"
#include "fuzz_core.h"

#define FZ_RAM		(1ULL << 20)
#define FZ_NPAGES	64

struct fz {
	const uint8_t *p;
	size_t n;
};

static u64 fz_get(struct fz *f, int bytes)
{
	u64 v = 0;

	while (bytes--) {
		v <<= 8;
		if (f->n) {
			v |= *f->p++;
			f->n--;
		}
	}
	return v;
}

/* tracked IOVAs: a few regions, segments and pages, including edges */
static u64 fz_iova(unsigned int k)
{
	static const u64 reg[] = { 0, 1, 2047 };
	static const u64 seg[] = { 0, 511, 512, 2047 };
	static const u64 pg[] = { 0, 1, 128, 255, 7, 200 };

	k %= FZ_NPAGES;
	return reg[k % 3] * G_REG + seg[(k / 3) % 4] * G_SEG +
	       pg[(k / 12) % 6] * G_PAGE;
}

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz: " __VA_ARGS__);				\
	fprintf(stderr, "\n");						\
	goto out;							\
} while (0)

static int check_accounting(struct fake_guest *fg, struct s390_shadow *sh)
{
	if ((unsigned long)fg->nr_pins != sh->nr_pinned) {
		fprintf(stderr, "fuzz: nr_pins %ld != shadow nr_pinned %lu\n",
			fg->nr_pins, sh->nr_pinned);
		return -1;
	}
	if (fg->errors) {
		fprintf(stderr, "fuzz: fake guest saw %ld accounting errors\n",
			fg->errors);
		return -1;
	}
	return 0;
}

int shadow_fuzz_one(const uint8_t *data, size_t size)
{
	static const int dts[] = { ZPCI_IOTA_RTTO, ZPCI_IOTA_RSTO,
				   ZPCI_IOTA_RFTO, ZPCI_IOTA_STO };
	struct fz f = { data, size };
	struct s390_shadow_result res;
	static struct fake_guest fg;
	struct s390_shadow sh;
	int ret = -1, rc, steps = 0;
	u64 iota, i;

	if (!fg.ram && fg_init(&fg, FZ_RAM))
		abort();
	fg_recycle(&fg);
	if (s390_shadow_init(&sh, &fake_ops, &fg))
		abort();
	iota = fg_new_root(&fg, dts[fz_get(&f, 1) & 3]);
	if (s390_shadow_set_iota(&sh, iota, &res))
		FAIL("set_iota failed");

	while (f.n && steps++ < 2000) {
		unsigned int op = fz_get(&f, 1);
		u64 iova = fz_iova(fz_get(&f, 1));

		switch (op % 9) {
		case 0: {
			u64 gpa = fz_get(&f, 2) * G_PAGE;

			fg_map(&fg, iota, iova, gpa, op & 0x80);
			break;
		}
		case 1:
			fg_unmap(&fg, iota, iova);
			break;
		case 2: {	/* raw entry at any level */
			u64 ea = fg_entry_addr(&fg, iota, iova, (op >> 4) % 5,
					       false);
			u64 val = fz_get(&f, 8);

			if (ea)
				fg_wr(&fg, ea, val);
			break;
		}
		case 3: {	/* flip bits of an entry */
			u64 ea = fg_entry_addr(&fg, iota, iova, (op >> 4) % 5,
					       false);
			static const u64 bits[] = { 0x20, 0x200, 0x4, 0x8,
						    0xc0, 0x3, 0x400, 0x40 };

			if (ea)
				fg_wr(&fg, ea, fg_rd(&fg, ea) ^ bits[fz_get(&f, 1) & 7]);
			break;
		}
		case 4:
		case 5: {
			u64 start, len;
			long unpins = fg.unpin_calls;

			if (op & 0x10) {
				start = 0;
				len = G_REACH;
			} else {
				start = iova + (fz_get(&f, 2) << 6);
				len = fz_get(&f, 4) << (fz_get(&f, 1) % 24);
			}
			rc = s390_shadow_refresh(&sh, start, len, &res);
			if (rc && rc != -EINVAL && rc != -EFAULT && rc != -ENOMEM)
				FAIL("refresh rc %d", rc);
			if (fg.unpin_calls != unpins)
				FAIL("refresh unpinned a page");
			if (check_accounting(&fg, &sh))
				goto out;
			if (res.changed && (res.start < (start & ~(G_PAGE - 1)) ||
					    res.end > ((start + len - 1) | (G_PAGE - 1))))
				FAIL("flush range outside request");
			if (rc || !len)
				break;
			/* tracked pages inside the range match the guest */
			for (i = 0; i < FZ_NPAGES; i++) {
				u64 v = fz_iova(i), gpa = 0, hpa = 0;
				bool prot = false, sprot = false;
				int ref;
				bool valid;

				if (v + G_PAGE - 1 < start || v > start + len - 1)
					continue;
				ref = fg_ref_walk(&fg, iota, v, &gpa, &prot);
				valid = s390_shadow_lookup(&sh, v, &hpa, &sprot);
				if (ref < 0)
					FAIL("rc 0 but table error at %#llx",
					     (unsigned long long)v);
				if (valid != (ref == 1) ||
				    (valid && (hpa != fg_hpa(&fg, gpa) ||
					       prot != sprot)))
					FAIL("shadow mismatch at %#llx",
					     (unsigned long long)v);
			}
			break;
		}
		case 6: {
			s390_shadow_release(&sh);
			if (check_accounting(&fg, &sh))
				goto out;
			if (shadow_count_valid(&sh) != sh.nr_pinned)
				FAIL("mapped %lu != pinned %lu after release",
				     shadow_count_valid(&sh), sh.nr_pinned);
			break;
		}
		case 7:
			switch ((op >> 4) & 3) {
			case 0:
				fg.pin_limit = op & 0x80 ? -1 :
					       fg.nr_pins + (long)fz_get(&f, 1) % 8;
				break;
			case 1:
				fg.fail_table_in = fz_get(&f, 1) % 4;
				break;
			case 2:
				fg.fail_pt_in = fz_get(&f, 1) % 4;
				break;
			default:
				fg.fail_realloc_in = fz_get(&f, 1) % 4;
				break;
			}
			break;
		default: {
			u64 niota;

			if (op & 0x80)
				niota = fz_get(&f, 8);
			else
				niota = fg_new_root(&fg, dts[(op >> 4) & 3]);
			rc = s390_shadow_set_iota(&sh, niota, &res);
			if (rc && rc != -EINVAL && rc != -ENOMEM)
				FAIL("set_iota rc %d", rc);
			if (!rc) {
				iota = niota;
				if (shadow_count_valid(&sh))
					FAIL("set_iota left mappings");
			}
			if (check_accounting(&fg, &sh))
				goto out;
			break;
		}
		}
	}
	ret = 0;
out:
	s390_shadow_destroy(&sh);
	if (!ret && (fg.nr_pins || fg.tables_live || fg.pts_live || fg.errors)) {
		fprintf(stderr, "fuzz: leak after destroy: pins %ld tables %ld pts %ld errors %ld\n",
			fg.nr_pins, fg.tables_live, fg.pts_live, fg.errors);
		ret = -1;
	}
	for (i = 0; !ret && i < FZ_RAM / G_PAGE; i++) {
		if (fg.pins[i] || fg.wpins[i]) {
			fprintf(stderr, "fuzz: page %llu still pinned\n",
				(unsigned long long)i);
			ret = -1;
		}
	}
	return ret;
}
