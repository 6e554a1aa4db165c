// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_replay: replay a real guest's RPCIT trace through the in-kernel
 * RPCIT path and check the shadow after every RPCIT.
 *
 * Usage: zpci_rpcit_replay [-v] TRACE   (decompressed trace; format: the '#'
 * header of the trace files). A VM gets the trace's guest RAM; every traced
 * fh gets its own vfio function (/dev/vfio/devices/vfio0, 1, ...) with an s390
 * KVM hwpt. For each record in order: an ioat record becomes the domain's
 * guest IOAT (SET_IOAT), with the top-level table at the traced origin; an
 * rpcit record's PTE snapshot is written into the guest tables (lazily unmapped
 * PTEs turn invalid there exactly when the trace saw them invalid), then the
 * RPCIT runs through the intercept (KVM_S390_TEST_INTERCEPT + KVM_RUN). After
 * each RPCIT: cc/status against the trace, and the shadow of the covered range
 * (test-only debugfs view) against the guest tables: every valid guest PTE ->
 * the host page backing its frame in the memslot, read-only iff protected;
 * every invalid one absent. After teardown the pins must be back to baseline.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zpci_trace.h"

static int verbose;
static long mismatches;
static long pages_checked;

static void mismatch(const struct ztrace *t, const struct ztr_rec *r,
		     const char *fmt, ...);

static void mismatch(const struct ztrace *t, const struct ztr_rec *r,
		     const char *fmt, ...)
{
	va_list ap;

	mismatches++;
	if (mismatches > 20 && !verbose)
		return;
	printf("MISMATCH %s: ", ztrace_desc(t, r));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (mismatches == 20 && !verbose)
		printf("(further mismatches counted, not printed)\n");
}

/* shadow of the RPCIT's range against the guest tables */
static void check_shadow(struct zrep *rep, const struct ztr_rec *r, bool strict)
{
	struct zrep_fn *f = zrep_fn_of(rep, r->fh);
	uint64_t start = r->iova & ~0xfffULL, last = r->iova + r->len - 1;
	uint64_t *siova, *shpa, iova, pte, hpa, frame;
	long n, i = 0, pinned;
	uint8_t *sro;
	bool valid;

	n = zrep_shadow(f, start, last, &siova, &shpa, &sro, &pinned);
	if (n < 0) {
		mismatch(rep->t, r, "cannot read the shadow view %s: %s", f->dbg,
			 strerror(-n));
		return;
	}
	for (iova = start; iova <= last && iova >= start; iova += ZPCI_PAGE_SIZE) {
		pages_checked++;
		while (i < n && siova[i] < iova) {
			mismatch(rep->t, r, "shadow has 0x%llx, not page aligned or duplicate",
				 (unsigned long long)siova[i]);
			i++;
		}
		valid = zgt_lookup(&f->g, iova, &pte);
		frame = pte & ZT_PTE_ADDR_MASK;
		if (valid && frame + ZPCI_PAGE_SIZE > rep->vm.mem_size)
			valid = false;	/* not memslot-backed: must not be mapped */
		if (i < n && siova[i] == iova) {
			if (!valid) {
				if (strict)
					mismatch(rep->t, r,
						 "iova 0x%llx: guest PTE invalid, shadow maps hpa 0x%llx",
						 (unsigned long long)iova,
						 (unsigned long long)shpa[i]);
			} else {
				hpa = zhpa_of(zvm_ptr(&rep->vm, frame));
				if (shpa[i] != hpa)
					mismatch(rep->t, r,
						 "iova 0x%llx: guest frame 0x%llx is hpa 0x%llx, shadow has 0x%llx",
						 (unsigned long long)iova,
						 (unsigned long long)frame,
						 (unsigned long long)hpa,
						 (unsigned long long)shpa[i]);
				if (!!sro[i] != !!(pte & ZT_PROTECTED))
					mismatch(rep->t, r,
						 "iova 0x%llx: guest PTE 0x%llx is %s, shadow is %s",
						 (unsigned long long)iova,
						 (unsigned long long)pte,
						 pte & ZT_PROTECTED ? "ro" : "rw",
						 sro[i] ? "ro" : "rw");
			}
			i++;
		} else if (valid && strict) {
			mismatch(rep->t, r,
				 "iova 0x%llx: guest PTE 0x%llx valid, shadow has nothing",
				 (unsigned long long)iova, (unsigned long long)pte);
		}
	}
	for (; i < n; i++)
		mismatch(rep->t, r, "shadow has 0x%llx outside the range",
			 (unsigned long long)siova[i]);
}

/* the guest tables must hold exactly what the trace recorded */
static void check_guest(struct zrep *rep, const struct ztr_rec *r)
{
	struct zrep_fn *f = zrep_fn_of(rep, r->fh);
	const struct ztr_pte *p;
	uint64_t pte;
	uint32_t i;

	for (i = 0; i < r->npte; i++) {
		p = &rep->t->ptes[r->pte0 + i];
		if (!zgt_lookup(&f->g, p->iova, &pte) && !(p->entry & ZT_PTE_INVALID))
			pte = ~0ULL;
		if (!(p->entry & ZT_PTE_INVALID) && pte != p->entry)
			mismatch(rep->t, r,
				 "guest table builder: iova 0x%llx holds 0x%llx, trace 0x%llx",
				 (unsigned long long)p->iova, (unsigned long long)pte,
				 (unsigned long long)p->entry);
	}
}

int main(int argc, char **argv)
{
	const char *path = "/tests/replay.trace";
	long nrpcit = 0, nglobal = 0, pinned, foll, kb;
	struct zrep_res res;
	struct ztrace t;
	static struct zrep rep;	/* large: page table lists */
	const struct ztr_rec *r;
	char err[320];
	uint32_t i;
	int opt, ret;
	bool ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "v")) != -1) {
		if (opt == 'v')
			verbose = 1;
		else
			return 2;
	}
	if (optind < argc)
		path = argv[optind];
	if (ztrace_load(&t, path))
		return 1;
	printf("trace %s: %u records, %ld rpcit (%ld global), %u ptes, %u inv, %d fh, %s0x%llx\n",
	       path, t.nrecs, t.nrpcit, t.nglobal, t.nptes, t.ninvs, t.nfh,
	       "guest RAM ", (unsigned long long)t.guest_ram);
	ret = zrep_init(&rep, &t);
	if (ret) {
		zrep_fini(&rep);
		return ret;
	}
	for (i = 0; i < rep.nfn; i++)
		printf("function %d: fh 0x%x on %s, host aperture [0x%llx, 0x%llx]\n",
		       i, rep.fn[i].fh, rep.fn[i].cdev,
		       (unsigned long long)rep.fn[i].d.start_dma,
		       (unsigned long long)rep.fn[i].d.end_dma);

	for (i = 0; i < t.nrecs; i++) {
		r = &t.recs[i];
		if (r->type == ZTR_IOAT) {
			if (zrep_ioat(&rep, r, err, sizeof(err))) {
				printf("ERROR: cannot apply record %s: %s\n",
				       ztrace_desc(&t, r), err);
				mismatches++;
				goto out;
			}
			continue;
		}
		if (zrep_guest_writes(&rep, r, err, sizeof(err))) {
			printf("ERROR: cannot apply record %s: %s\n",
			       ztrace_desc(&t, r), err);
			mismatches++;
			goto out;
		}
		check_guest(&rep, r);
		zrep_rpcit(&rep, r, &res);
		nrpcit++;
		nglobal += r->global;
		if (res.err) {
			mismatch(&t, r, "RPCIT intercept failed: %s", strerror(-res.err));
			continue;
		}
		if (res.exited && r->cc != 3)
			mismatch(&t, r, "exited to userspace (fh not handled in the kernel)");
		if (res.cc != r->cc || (r->cc == 1 && res.status != r->status))
			mismatch(&t, r, "guest sees cc %d status %d, trace cc %d status %d",
				 res.cc, res.status, r->cc, r->status);
		if (!res.exited)
			check_shadow(&rep, r, res.cc == 0);
	}
out:
	pinned = zrep_kvm_pinned(&rep);
	printf("replayed %ld rpcit (%ld global), %ld pages checked, %ld mismatches, %s%ld\n",
	       nrpcit, nglobal, pages_checked, mismatches, "pinned now ", pinned);
	kb = rep.kb0;
	foll = rep.foll0;
	zrep_fini(&rep);
	ok = zpin_wait(kb, foll, 10000);
	printf("after teardown: VmPin %ld kB (baseline %ld), foll pins %ld (baseline %ld): %s\n",
	       zpin_vmpin_kb(), kb, zpin_foll_pinned(), foll,
	       ok ? "back to baseline" : "NOT back to baseline");
	if (nrpcit != t.nrpcit)
		printf("ERROR: replayed %ld of %ld rpcit records\n", nrpcit, t.nrpcit);
	ok = ok && nrpcit == t.nrpcit;
	ztrace_free(&t);
	return mismatches || !ok ? 1 : 0;
}
