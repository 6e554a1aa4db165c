// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz core for the s390 KVM shadow engine: random guest tables (including
 * arbitrary raw entries) built from the fuzz input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <linux/bits.h>
#include "guest.h"
#include "fuzz_core.h"

#define FZ_RAM		BIT_ULL(20)
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

/* print one failure line: "fuzz: " @fmt "\n" */
static void fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static int check_accounting(struct fake_guest *fg, struct s390_shadow *sh)
{
	if (fg->errors) {
		fprintf(stderr, "fuzz: fake guest saw %ld accounting errors\n",
			fg->errors);
		return -1;
	}
	if (shadow_check(fg, sh)) {
		fprintf(stderr, "fuzz: shadow recount failed\n");
		return -1;
	}
	return 0;
}

/* [res.start, res.end] inside the request, or a whole unlinked segment/region */
static bool range_ok(const struct s390_shadow_result *res, u64 start, u64 last)
{
	u64 s = start & ~(G_PAGE - 1), l = last | (G_PAGE - 1);

	if (!res->changed)
		return true;
	if (res->start < s && ((res->start & (G_SEG - 1)) ||
			       res->start < (start & ~(G_REG - 1))))
		return false;
	if (res->end > l && (((res->end + 1) & (G_SEG - 1)) ||
			     res->end > (last | (G_REG - 1))))
		return false;
	return res->start <= res->end;
}

struct fz_state {
	struct fake_guest *fg;
	struct s390_shadow *sh;
	bool busy_pins;		/* a pin failure with -EBUSY/-EAGAIN is armed */
};

/*
 * One engine call on [start, last]: check what it answers against the
 * engine's contract and the recount.  Returns 0 and sets *@rc, or -1.
 */
static int fz_refresh_call(struct fz_state *z, u64 start, u64 last, int *rc,
			   struct s390_shadow_result *res)
{
	struct s390_shadow *sh = z->sh;
	long unpins = z->fg->unpin_calls;
	u64 s = start & ~(G_PAGE - 1);
	u64 bound = sh->max_visit > 5 ? sh->max_visit : 5;

	*rc = s390_shadow_refresh(sh, start, last - start + 1, res);
	switch (*rc) {
	case 0:
	case -EINVAL:
	case -EFAULT:
	case -ENOMEM:
		break;
	case -EAGAIN:
		if (!sh->max_visit) {
			fprintf(stderr, "fuzz: -EAGAIN without a work bound\n");
			return -1;
		}
		if (res->next <= s || res->next > last || (res->next & (G_PAGE - 1))) {
			fprintf(stderr, "fuzz: -EAGAIN next %#llx for [%#llx, %#llx]\n",
				(unsigned long long)res->next,
				(unsigned long long)start, (unsigned long long)last);
			return -1;
		}
		break;
	case -EBUSY:
		if (!z->busy_pins || res->next < s || res->next > last ||
		    (res->next & (G_PAGE - 1))) {
			fprintf(stderr, "fuzz: -EBUSY next %#llx for [%#llx, %#llx]\n",
				(unsigned long long)res->next,
				(unsigned long long)start, (unsigned long long)last);
			return -1;
		}
		break;
	default:
		fprintf(stderr, "fuzz: refresh rc %d\n", *rc);
		return -1;
	}
	if (*rc == -EBUSY)
		z->busy_pins = false;
	/* nomem: always with -ENOMEM, never with 0 or -EBUSY */
	if ((*rc == -ENOMEM && !res->nomem) ||
	    ((!*rc || *rc == -EBUSY) && res->nomem)) {
		fprintf(stderr, "fuzz: rc %d but nomem %d\n", *rc, res->nomem);
		return -1;
	}
	if (!*rc && res->next != last / G_PAGE * G_PAGE + G_PAGE) {
		fprintf(stderr, "fuzz: complete walk but next %#llx\n",
			(unsigned long long)res->next);
		return -1;
	}
	if (sh->max_visit && res->visited > bound) {
		fprintf(stderr, "fuzz: visited %llu > bound %llu\n",
			(unsigned long long)res->visited, (unsigned long long)bound);
		return -1;
	}
	if (z->fg->unpin_calls != unpins) {
		fprintf(stderr, "fuzz: refresh unpinned a page\n");
		return -1;
	}
	if (!range_ok(res, start, last)) {
		fprintf(stderr, "fuzz: flush range [%#llx, %#llx] for [%#llx, %#llx]\n",
			(unsigned long long)res->start, (unsigned long long)res->end,
			(unsigned long long)start, (unsigned long long)last);
		return -1;
	}
	return check_accounting(z->fg, sh);
}

int shadow_fuzz_one(const uint8_t *data, size_t size)
{
	static const int dts[] = { ZPCI_IOTA_RTTO, ZPCI_IOTA_RSTO,
				   ZPCI_IOTA_RFTO, ZPCI_IOTA_STO };
	static const int pin_rcs[] = { -ENOMEM, -EBUSY, -EAGAIN, -EFAULT };
	struct fz f = { data, size };
	struct s390_shadow_result res;
	static struct fake_guest fg;
	struct s390_shadow sh;
	struct fz_state z = { &fg, &sh, false };
	int ret = -1, rc, steps = 0;
	u64 iota, i;

	if (!fg.ram && fg_init(&fg, FZ_RAM))
		abort();
	fg_recycle(&fg);
	if (s390_shadow_init(&sh, &fg))
		abort();
	iota = fg_new_root(&fg, dts[fz_get(&f, 1) & 3]);
	if (s390_shadow_set_iota(&sh, iota, &res)) {
		fz_fail("set_iota failed");
		goto out;
	}

	while (f.n && steps++ < 2000) {
		unsigned int op = fz_get(&f, 1);
		u64 iova = fz_iova(fz_get(&f, 1));

		switch (op % 12) {
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
		case 3: {	/* flip bits of an entry (0x400: segment FC) */
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
			u64 start, len, last, first;
			bool nomem = false, resume = op & 0x20;
			int calls = 0;

			if (op & 0x10) {
				start = 0;
				len = G_REACH;
			} else {
				start = iova + (fz_get(&f, 2) << 6);
				len = fz_get(&f, 4) << (fz_get(&f, 1) % 24);
			}
			if (!len || start + len - 1 < start) {
				rc = s390_shadow_refresh(&sh, start, len, &res);
				if (rc != (len ? -EINVAL : 0) || res.changed) {
					fz_fail("refresh of len %#llx: rc %d",
						(unsigned long long)len, rc);
					goto out;
				}
				break;
			}
			last = start + len - 1;
			first = start;
			for (;;) {
				if (fz_refresh_call(&z, first, last, &rc, &res))
					goto out;
				nomem |= res.nomem;
				if (rc != -EAGAIN || !resume || ++calls > 64)
					break;
				/* the caller's sync + release, then resume */
				s390_shadow_release(&sh);
				if (check_accounting(&fg, &sh))
					goto out;
				first = res.next;
			}
			/* compare only after a walk that reached the end */
			if ((rc && rc != -ENOMEM) || last >= sh.reach ||
			    res.next != (last | (G_PAGE - 1)) + 1)
				break;
			/* tracked pages inside the range match the guest */
			for (i = 0; i < FZ_NPAGES; i++) {
				u64 v = fz_iova(i), gpa = 0, hpa = 0;
				bool prot = false, sprot = false;
				int ref;
				bool valid, mapped;

				if (v + G_PAGE - 1 < start || v > last)
					continue;
				ref = fg_ref_walk(&fg, iota, v, &gpa, &prot);
				mapped = ref == 1;
				valid = s390_shadow_lookup(&sh, v, &hpa, &sprot);
				if (ref < 0 && !nomem) {
					fz_fail("rc 0 but table error at %#llx",
						(unsigned long long)v);
					goto out;
				}
				/* after -ENOMEM: the new translation or none */
				if (nomem && !valid)
					continue;
				if (valid != mapped ||
				    (valid && (hpa != fg_hpa(&fg, gpa) ||
					       prot != sprot))) {
					fz_fail("shadow mismatch at %#llx (rc %d)",
						(unsigned long long)v, rc);
					goto out;
				}
			}
			break;
		}
		case 6: {
			s390_shadow_release(&sh);
			if (check_accounting(&fg, &sh))
				goto out;
			if (sh.nr_gather || shadow_count_valid(&sh) != sh.nr_pinned) {
				fz_fail("mapped %lu != pinned %lu after release",
					shadow_count_valid(&sh), sh.nr_pinned);
				goto out;
			}
			break;
		}
		case 7:
			switch ((op >> 4) & 7) {
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
			case 3:
				fg.fail_realloc_in = fz_get(&f, 1) % 4;
				break;
			case 4:
			case 5:
				fg.fail_pin_in = fz_get(&f, 1) % 6;
				fg.fail_pin_rc = pin_rcs[(op >> 7) + 2 * ((op >> 4) & 1)];
				z.busy_pins = fg.fail_pin_rc == -EBUSY ||
					      fg.fail_pin_rc == -EAGAIN;
				break;
			default:
				/* work bound; now and then below one walk path (5) */
				rc = fz_get(&f, 2);
				if (op & 0x80)
					sh.max_visit = 0;
				else if (rc % 8 == 0)
					sh.max_visit = rc / 8 % 8;
				else
					sh.max_visit = 16 + rc % 4096;
				break;
			}
			break;
		case 8: {
			u64 niota;

			if (op & 0x80)
				niota = fz_get(&f, 8);
			else
				niota = fg_new_root(&fg, dts[(op >> 4) & 3]);
			rc = s390_shadow_set_iota(&sh, niota, &res);
			if (rc && rc != -EINVAL && rc != -ENOMEM) {
				fz_fail("set_iota rc %d", rc);
				goto out;
			}
			if (!rc) {
				iota = niota;
				if (shadow_count_valid(&sh)) {
					fz_fail("set_iota left mappings");
					goto out;
				}
			}
			if (check_accounting(&fg, &sh))
				goto out;
			break;
		}
		case 9: {	/* a zero entry at any level */
			u64 ea = fg_entry_addr(&fg, iota, iova, (op >> 4) % 5,
					       false);

			if (ea)
				fg_wr(&fg, ea, 0);
			break;
		}
		case 10: {	/* alias: copy one entry over another of the level */
			int lvl = (op >> 4) % 5;
			u64 src = fg_entry_addr(&fg, iota, iova, lvl, false);
			u64 dst = fg_entry_addr(&fg, iota, fz_iova(fz_get(&f, 1)),
						lvl, false);

			if (src && dst)
				fg_wr(&fg, dst, fg_rd(&fg, src));
			break;
		}
		default: {	/* guest memory going away */
			u64 first = fz_get(&f, 1) * G_PAGE * 2;
			u64 last = first + fz_get(&f, 1) * G_PAGE;
			int rounds = 0;

			do {
				rc = s390_shadow_unmap_gpa(&sh, first, last, &res);
				if (rc && rc != -EAGAIN) {
					fz_fail("unmap_gpa rc %d", rc);
					goto out;
				}
				if (check_accounting(&fg, &sh))
					goto out;
				if (res.changed && !res.removed) {
					fz_fail("unmap_gpa changed without removing");
					goto out;
				}
				s390_shadow_release(&sh);
			} while (rc && ++rounds < 100);
			if (rc) {
				fz_fail("unmap_gpa made no progress");
				goto out;
			}
			break;
		}
		}
	}
	ret = 0;
out:
	s390_shadow_destroy(&sh);
	if (!ret && (fg.nr_pins || fg.tables_live || fg.pts_live || fg.errors)) {
		fprintf(stderr,
			"fuzz: leak after destroy: pins %ld tables %ld pts %ld errors %ld\n",
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
