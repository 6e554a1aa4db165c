// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_replay: replay a real guest's RPCIT trace through the in-kernel
 * RPCIT path and check the shadow after every RPCIT.
 *
 * Usage: zpci_rpcit_replay [-v] [-m on-demand|pinned-parent] [-f] TRACE
 * (decompressed trace; format: the '#' header of the trace files). Without
 * -m the mode is zpci.replay_mode= of the kernel command line, else
 * on-demand. A VM gets the trace's guest RAM; every traced fh gets its own
 * vfio function (/dev/vfio/devices/vfio0, 1, ...) with a nest parent. For
 * each record in order: an ioat record registers the guest IOAT, i.e. a new
 * s390 KVM nested hwpt with the traced IOTA (top-level table at the traced
 * origin) attached in place of the previous one, which is destroyed (a
 * deregistration detaches); an rpcit record's PTE snapshot is written into
 * the guest tables (lazily unmapped PTEs turn invalid there exactly when the
 * trace saw them invalid), then the RPCIT runs through the intercept
 * (KVM_S390_TEST_INTERCEPT + KVM_RUN), registers preset to cc 3 and status
 * 0xff. An RPCIT KVM hands to the VMM (an error: cc 1 status 8 in QEMU) is
 * completed as a VMM does, with IOMMU_HWPT_INVALIDATE of the same range on
 * the function's nested hwpt; a cc 2 (busy) answer is retried like a Linux
 * guest retries it. After each RPCIT: cc/status against
 * the trace, and the shadow of the covered range (test-only debugfs view)
 * against the guest tables: every valid guest PTE -> the host page backing
 * its frame in the memslot (/proc/self/pagemap), read-only iff protected;
 * every invalid one absent. After teardown the pins must be back to baseline.
 *
 * pinned-parent: the nested hwpts get IOMMU_HWPT_S390_KVM_PINNED_PARENT and
 * guest RAM is mapped into each parent IOAS at IOVA = GPA (all of it when
 * the host can pin that much; with -f, or when it cannot, only the pages the
 * trace uses as DMA frames), which iommufd only allows inside the host
 * function's DMA aperture: the traced guest RAM is therefore relocated to
 * GPA start_dma (rounded up to 1 MiB), i.e. that base is added to every
 * traced guest-physical address (IOTA origins, the table entries built from
 * them, PTE frames). The host page the shadow must hold is
 * then the parent's translation of the GPA, i.e. the page iommufd pinned for
 * the VMM's view of it (pagemap again), and refreshes must pin nothing: the
 * debugfs "pinned" count stays 0 and VmPin / foll pins do not move from what
 * the parent map took.
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
	if (rep->hwpt_flags & IOMMU_HWPT_S390_KVM_PINNED_PARENT && pinned)
		mismatch(rep->t, r, "pinned-parent: the domain reports %ld pinned frames, not 0",
			 pinned);
	for (iova = start; iova <= last && iova >= start; iova += ZPCI_PAGE_SIZE) {
		pages_checked++;
		while (i < n && siova[i] < iova) {
			mismatch(rep->t, r, "shadow has 0x%llx, not page aligned or duplicate",
				 (unsigned long long)siova[i]);
			i++;
		}
		valid = zgt_lookup(&f->g, iova, &pte);
		frame = pte & ZT_PTE_ADDR_MASK;
		if (valid && !zgt_in_ram(&rep->a, frame, ZPCI_PAGE_SIZE))
			valid = false;	/* not guest RAM: must not be mapped */
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

/* zpci.replay_mode= of the kernel command line (make replay MODE=), or NULL */
static const char *cmdline_mode(void)
{
	static char buf[4096];
	char *p, *e;
	FILE *f = fopen("/proc/cmdline", "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	for (p = strstr(buf, "zpci.replay_mode="); p;
	     p = strstr(p + 1, "zpci.replay_mode=")) {
		if (p != buf && p[-1] != ' ')
			continue;
		p += strlen("zpci.replay_mode=");
		e = p + strcspn(p, "\t\n ");
		*e = 0;
		return p;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = "/tests/replay.trace", *mode = NULL;
	long nrpcit = 0, nglobal = 0, pinned, foll, kb, kb1 = 0, foll1 = 0;
	long handed = 0, retries = 0;
	bool pinned_parent, frames_only = false, held_ok = true, ok;
	struct zrep_res res;
	struct ztrace t;
	static struct zrep rep;	/* large: page table lists */
	const struct ztr_rec *r;
	char err[320];
	uint32_t i;
	int opt, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "vm:f")) != -1) {
		if (opt == 'v')
			verbose = 1;
		else if (opt == 'm')
			mode = optarg;
		else if (opt == 'f')
			frames_only = true;
		else
			return 2;
	}
	if (optind < argc)
		path = argv[optind];
	if (!mode)
		mode = cmdline_mode();
	if (!mode || !*mode)
		mode = "on-demand";
	if (strcmp(mode, "on-demand") && strcmp(mode, "pinned-parent")) {
		printf("ERROR: unknown mode %s (on-demand or pinned-parent)\n", mode);
		return 2;
	}
	pinned_parent = !strcmp(mode, "pinned-parent");
	if (ztrace_load(&t, path))
		return 1;
	printf("trace %s: %u records, %ld rpcit (%ld global), %u ptes, %u inv, %d fh, %s0x%llx\n",
	       path, t.nrecs, t.nrpcit, t.nglobal, t.nptes, t.ninvs, t.nfh,
	       "guest RAM ", (unsigned long long)t.guest_ram);
	ret = zrep_init_flags(&rep, &t, (pinned_parent ? ZREP_PINNED_PARENT : 0) |
			      (frames_only ? ZREP_PARENT_FRAMES : 0));
	if (ret) {
		zrep_fini(&rep);
		return ret;
	}
	for (i = 0; i < rep.nfn; i++)
		printf("function %d: fh 0x%x on %s, host aperture [0x%llx, 0x%llx]\n",
		       i, rep.fn[i].fh, rep.fn[i].cdev,
		       (unsigned long long)rep.fn[i].d.start_dma,
		       (unsigned long long)rep.fn[i].d.end_dma);
	if (pinned_parent) {
		printf("mode pinned-parent: guest RAM relocated to GPA 0x%llx (%s): %s %s\n",
		       (unsigned long long)t.reloc, "the host aperture's start",
		       "every traced guest-physical address (IOTA origins, table entries,",
		       "PTE frames) is +that base");
		kb1 = rep.kb_parent;
		foll1 = rep.foll_parent;
		printf("mode pinned-parent: parent IOAS of each function maps ");
		printf("%s at IOVA = GPA: %llu pages in %ld runs (VmPin +%ld kB, foll pins %+ld)\n",
		       rep.parent_all ? "all of guest RAM" : frames_only ?
		       "the traced DMA frames only (-f)" :
		       "the traced DMA frames only (the host cannot pin all of guest RAM)",
		       (unsigned long long)rep.parent_pages, rep.parent_runs,
		       kb1 - rep.kb0, foll1 - rep.foll0);
	} else {
		printf("mode on-demand: refreshes pin guest frames through the memslots\n");
	}

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
		handed += res.vmm;
		retries += res.retries;
		if (res.exited && !res.vmm && r->cc != 3)
			mismatch(&t, r, "exited to userspace (fh not handled in the kernel)");
		/* only errors are the VMM's: its REFRESH repeats the kernel's walk */
		if (res.vmm && (res.cc != 1 || res.status != ZPCI_STATUS_ERROR))
			mismatch(&t, r, "handed to the VMM, whose REFRESH answers cc %d status %d",
				 res.cc, res.status);
		if (res.cc != r->cc || (r->cc == 1 && res.status != r->status))
			mismatch(&t, r, "guest sees cc %d status %d, trace cc %d status %d",
				 res.cc, res.status, r->cc, r->status);
		if (!res.exited || res.vmm)
			check_shadow(&rep, r, res.cc == 0);
	}
out:
	pinned = zrep_kvm_pinned(&rep);
	if (pinned_parent) {
		zpin_settle(200, 5000);
		kb = zpin_vmpin_kb();
		foll = zpin_foll_pinned();
		held_ok = kb == kb1 && foll == foll1 && pinned == 0;
		printf("pinned-parent: pins held by refreshes: ");
		printf("%s %ld, VmPin %+ld kB, foll pins %+ld %s: %s\n",
		       "debugfs pinned", pinned, kb - kb1, foll - foll1,
		       "since the parent map", held_ok ? "none" : "NOT 0");
	}
	printf("replayed %ld rpcit (%ld global), %ld pages checked, %ld mismatches, %s%ld\n",
	       nrpcit, nglobal, pages_checked, mismatches, "pinned now ", pinned);
	printf("handed to the VMM %ld rpcit (%s), %ld cc-2 retries\n", handed,
	       "completed by IOMMU_HWPT_INVALIDATE", retries);
	kb = rep.kb0;
	foll = rep.foll0;
	zrep_fini(&rep);
	/* unpinning a parent's map of all of guest RAM takes a while */
	ok = zpin_wait(kb, foll, pinned_parent ? 60000 : 10000);
	printf("after teardown: VmPin %ld kB (baseline %ld), foll pins %ld (baseline %ld): %s\n",
	       zpin_vmpin_kb(), kb, zpin_foll_pinned(), foll,
	       ok ? "back to baseline" : "NOT back to baseline");
	if (nrpcit != t.nrpcit)
		printf("ERROR: replayed %ld of %ld rpcit records\n", nrpcit, t.nrpcit);
	ok = ok && nrpcit == t.nrpcit && held_ok;
	ztrace_free(&t);
	return mismatches || !ok ? 1 : 0;
}
