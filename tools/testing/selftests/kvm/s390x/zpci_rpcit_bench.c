// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_bench: a guest RPCIT trace through (a) the in-kernel RPCIT path
 * and (b) the userspace path QEMU uses today, in the same VMM, same kernel,
 * same boot, interleaved passes.
 *
 * Usage: zpci_rpcit_bench [-r ROUNDS] [-n RECORDS] TRACE
 *
 * (a) every traced fh has an s390 KVM nested hwpt (on-demand mode, a fresh
 *     one per pass); the RPCIT intercept is handled in the kernel
 *     (KVM_S390_TEST_INTERCEPT + KVM_RUN).
 * (b) the nested hwpts destroyed, the same vfio functions attached to an IOAS
 *     of their own (an automatic paging domain, as a VMM without the KVM
 *     domain has); no KVM domain serves the fh, so the intercept exits to
 *     userspace, which does what QEMU's rpcit_service_call does: walk the
 *     guest tables page by page (every level, from guest memory), compare
 *     with its IOTLB, and IOMMU_IOAS_UNMAP/IOMMU_IOAS_MAP each changed 4 KiB
 *     page, then set cc and status and re-enter the vCPU (KVM_RUN).
 *     An RPCIT the kernel hands to the VMM (an error QEMU answers with the
 *     error state) is completed with IOMMU_HWPT_INVALIDATE, as a VMM does.
 * Time per RPCIT: from queuing the intercept to the guest seeing the result
 * (the guest's own table writes are not timed, they are the same for both).
 * Prints a table; never fails on time (exit 0 unless the VMM cannot be set up).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "zpci_trace.h"

struct pstat {
	const char *name;
	uint64_t total_ns;
	long n;
	uint64_t *range_ns, *global_ns;
	long nrange, nglobal;
	long pinned;		/* at the end of the last pass */
	long foll;		/* foll pins held at the end of the last pass */
	long host_rpcits;	/* summed over passes */
	long exits, passes, bad_cc;
	long handed, retries;	/* in-kernel: completed by the VMM; cc-2 retries */
	long maps, unmaps;
	uint64_t ph[4];		/* phases: queue, KVM_RUN, handler, resume */
	uint64_t null_ns;	/* null ioctls between RPCITs */
	uint64_t synth_global_ns;	/* global over the aperture after a pass */
	long synth_global_n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double mean_us(const uint64_t *v, long n)
{
	uint64_t s = 0;
	long i;

	for (i = 0; i < n; i++)
		s += v[i];
	return n ? s / 1000.0 / n : 0;
}

static double p99_us(uint64_t *v, long n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(n * 99 + 99) / 100 - 1] / 1000.0;
}

static struct zrep rep;		/* large: page table lists */
static double plumbing_us;	/* queue + KVM_RUN of an intercept nobody handles */
static struct ztrace t;

static int one_pass(struct pstat *ps, bool user, long nrec)
{
	long host0, host1, foll0;
	const struct ztr_rec *r;
	struct zrep_res res;
	uint64_t t0, t1;
	char err[320];
	uint32_t i;
	int k;

	if (zrep_set_mode(&rep, user) || zrep_restart(&rep)) {
		printf("ERROR: switching to the %s path failed\n", ps->name);
		return -1;
	}
	/* pins of the destroyed hwpts may be released late */
	zpin_settle(200, 5000);
	host0 = zrep_host_rpcits(&rep);
	foll0 = zpin_foll_pinned();
	for (i = 0; i < t.nrecs && (!nrec || i < nrec); i++) {
		r = &t.recs[i];
		if (r->type == ZTR_IOAT) {
			if (zrep_ioat(&rep, r, err, sizeof(err))) {
				printf("ERROR: cannot apply record %s: %s\n",
				       ztrace_desc(&t, r), err);
				return -1;
			}
			continue;
		}
		if (zrep_guest_writes(&rep, r, err, sizeof(err))) {
			printf("ERROR: cannot apply record %s: %s\n",
			       ztrace_desc(&t, r), err);
			return -1;
		}
		t0 = znow_ns();
		zrep_rpcit(&rep, r, &res);
		t1 = znow_ns();
		ps->total_ns += t1 - t0;
		ps->n++;
		if (r->global)
			ps->global_ns[ps->nglobal++] = t1 - t0;
		else
			ps->range_ns[ps->nrange++] = t1 - t0;
		ps->exits += res.exited;
		ps->handed += res.vmm;
		ps->retries += res.retries;
		ps->ph[0] += res.t_queue;
		ps->ph[1] += res.t_run;
		ps->ph[2] += res.t_handler;
		ps->ph[3] += res.t_resume;
		/* a syscall round trip, interleaved with the RPCITs */
		t0 = znow_ns();
		ioctl(rep.vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
		ps->null_ns += znow_ns() - t0;
		if (res.err || res.cc != r->cc ||
		    (r->cc == 1 && res.status != r->status))
			ps->bad_cc++;
	}
	host1 = zrep_host_rpcits(&rep);
	if (host0 >= 0 && host1 >= 0)
		ps->host_rpcits += host1 - host0;
	else
		ps->host_rpcits = -1;
	ps->foll = zpin_foll_pinned() - foll0;
	ps->pinned = user ? ps->foll : zrep_kvm_pinned(&rep);
	for (k = 0; k < rep.nfn; k++) {
		ps->maps += rep.fn[k].user_maps;
		ps->unmaps += rep.fn[k].user_unmaps;
	}
	/* a global refresh over every aperture with the pass's mappings in place */
	for (k = 0; k < rep.nfn; k++) {
		struct ztr_rec g = { .type = ZTR_RPCIT, .fh = rep.fn[k].fh,
				     .iova = rep.fn[k].pba, .global = true };

		if (!rep.fn[k].has_ioat)
			continue;
		g.len = rep.fn[k].pal - rep.fn[k].pba + 1;
		t0 = znow_ns();
		zrep_rpcit(&rep, &g, &res);
		ps->synth_global_ns += znow_ns() - t0;
		ps->synth_global_n++;
	}
	ps->passes++;
	return 0;
}

/* micro costs on function 0 at the top of its aperture, N samples each */
static void breakdown(bool user, const char *name)
{
	struct zrep_fn *f = &rep.fn[0];
	uint64_t frame = t.ptes[0].entry & ZT_PTE_ADDR_MASK, iova, base;
	uint64_t s_new = 0, s_same = 0, s_gone = 0, s_null = 0, t0;
	struct ztr_rec r = { .type = ZTR_RPCIT, .len = ZPCI_PAGE_SIZE };
	struct zrep_res res;
	const int n = 500;
	char err[320];
	int i;

	if (!f->has_ioat || zrep_set_mode(&rep, user) || zrep_restart(&rep))
		return;
	for (i = 0; i < (int)t.nrecs; i++)
		if (t.recs[i].type == ZTR_IOAT)
			zrep_ioat(&rep, &t.recs[i], err, sizeof(err));
	base = (f->pal + 1 - 2 * ZPCI_MIB) & ~(ZPCI_MIB - 1);
	r.fh = f->fh;
	for (i = 0; i < n; i++) {
		iova = base + (uint64_t)i * ZPCI_PAGE_SIZE;
		r.iova = iova;
		if (zgt_write_pte(&f->g, iova, frame, err, sizeof(err)))
			return;
		t0 = znow_ns();
		zrep_rpcit(&rep, &r, &res);
		s_new += znow_ns() - t0;
		t0 = znow_ns();
		zrep_rpcit(&rep, &r, &res);
		s_same += znow_ns() - t0;
		zgt_write_pte(&f->g, iova, frame | ZT_PTE_INVALID, err, sizeof(err));
		t0 = znow_ns();
		zrep_rpcit(&rep, &r, &res);
		s_gone += znow_ns() - t0;
		r.fh = 0x7fffff00;	/* no function: the plain exit to userspace */
		t0 = znow_ns();
		zrep_rpcit(&rep, &r, &res);
		s_null += znow_ns() - t0;
		r.fh = f->fh;
	}
	if (!user) {
		/* what the intercept plumbing of the test mode costs */
		struct kvm_s390_test_intercept icpt = { .icptcode = ZPCI_ICPT_INST,
			.ipa = ZPCI_IPA_RPCIT, .ipb = ZPCI_RPCIT_IPB(1, 2) };
		uint64_t s_sys = 0, s_q = 0, s_run = 0, s_empty = 0, t1;

		rep.vm.run->s.regs.gprs[1] = 0x7fffff00ULL << 32;
		rep.vm.run->kvm_dirty_regs = KVM_SYNC_GPRS;
		for (i = 0; i < n; i++) {
			t0 = znow_ns();
			ioctl(rep.vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
			t1 = znow_ns();
			s_sys += t1 - t0;
			ioctl(rep.vm.vcpu_fd, KVM_S390_TEST_INTERCEPT, &icpt);
			t0 = znow_ns();
			s_q += t0 - t1;
			ioctl(rep.vm.vcpu_fd, KVM_RUN, 0);
			t1 = znow_ns();
			s_run += t1 - t0;
			ioctl(rep.vm.vcpu_fd, KVM_RUN, 0);
			s_empty += znow_ns() - t1;
		}
		printf("cost plumbing (x %d, us): null ioctl %.1f | %s %.1f | %s %.1f | %s %.1f\n",
		       n, s_sys / 1000.0 / n, "KVM_S390_TEST_INTERCEPT", s_q / 1000.0 / n,
		       "KVM_RUN with an RPCIT for an unknown fh (exits)", s_run / 1000.0 / n,
		       "KVM_RUN, nothing queued", s_empty / 1000.0 / n);
		plumbing_us = (s_q + s_run) / 1000.0 / n;
	}
	if (!user) {
		/* the same domain work without the vCPU: iommufd REFRESH */
		uint64_t s_rnew = 0, s_rsame = 0;
		int cc, st;

		for (i = 0; i < n; i++) {
			iova = base + ZPCI_MIB + (uint64_t)i * ZPCI_PAGE_SIZE;
			zgt_write_pte(&f->g, iova, frame, err, sizeof(err));
			t0 = znow_ns();
			zdev_refresh(&f->d, f->hwpt, iova, ZPCI_PAGE_SIZE, &cc, &st);
			s_rnew += znow_ns() - t0;
			t0 = znow_ns();
			zdev_refresh(&f->d, f->hwpt, iova, ZPCI_PAGE_SIZE, &cc, &st);
			s_rsame += znow_ns() - t0;
		}
		printf("cost %-9s (1 page x %d, us): map new %.1f | same %.1f | %s\n",
		       "REFRESH", n, s_rnew / 1000.0 / n, s_rsame / 1000.0 / n,
		       "IOMMU_HWPT_INVALIDATE on the s390 KVM hwpt, no vCPU");
	}
	printf("cost %-9s (1 page x %d, us): map new %.1f | same %.1f | unmap %.1f | %s %.1f\n",
	       name, n, s_new / 1000.0 / n, s_same / 1000.0 / n, s_gone / 1000.0 / n,
	       "intercept with no handler (exit to userspace)", s_null / 1000.0 / n);
}

int main(int argc, char **argv)
{
	struct pstat ps[2] = { { .name = "in-kernel" }, { .name = "userspace" } };
	const char *path = "/tests/replay.trace", *base;
	int rounds = 3, opt, ret, round, k, p;
	double rate[2];
	long nrec = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'n')
			nrec = atol(optarg);
		else
			return 2;
	}
	if (optind < argc)
		path = argv[optind];
	if (ztrace_load(&t, path))
		return 1;
	ret = zrep_init(&rep, &t);
	if (ret) {
		zrep_fini(&rep);
		return ret;
	}
	for (k = 0; k < 2; k++) {
		ps[k].range_ns = calloc((size_t)t.nrpcit * rounds + 1, sizeof(uint64_t));
		ps[k].global_ns = calloc((size_t)t.nrpcit * rounds + 1, sizeof(uint64_t));
		if (!ps[k].range_ns || !ps[k].global_ns)
			return 1;
	}
	base = strrchr(t.path, '/');
	base = base ? base + 1 : t.path;
	printf("bench: trace %s: %ld rpcit (%ld global), %d function(s), %d %s\n",
	       base, t.nrpcit, t.nglobal, t.nfh, rounds, "interleaved round(s) per path");
	for (round = 0; round < rounds; round++) {
		for (k = 0; k < 2; k++) {
			/* alternate which path goes first */
			p = (round & 1) ? 1 - k : k;
			printf("bench: round %d: %s pass\n", round + 1, ps[p].name);
			if (one_pass(&ps[p], p == 1, nrec)) {
				zrep_fini(&rep);
				return 1;
			}
		}
	}
	breakdown(false, "in-kernel");
	breakdown(true, "userspace");

	printf("\n%-10s %10s %10s %10s %10s %10s %9s %11s %11s %8s\n", "path",
	       "rpcit/s", "range", "range", "global", "global", "pages", "host",
	       "synthetic", "exits to");
	printf("%-10s %10s %10s %10s %10s %10s %9s %11s %11s %8s\n", "",
	       "", "mean us", "p99 us", "mean us", "p99 us", "pinned", "RPCITs/pass",
	       "global us", "user/pass");
	for (k = 0; k < 2; k++) {
		char gm[16] = "-", gp[16] = "-";
		double sg = 0;

		if (ps[k].synth_global_n)
			sg = ps[k].synth_global_ns / 1000.0 / ps[k].synth_global_n;
		rate[k] = ps[k].total_ns ? ps[k].n * 1e9 / ps[k].total_ns : 0;
		if (ps[k].nglobal) {
			snprintf(gm, sizeof(gm), "%.1f", mean_us(ps[k].global_ns, ps[k].nglobal));
			snprintf(gp, sizeof(gp), "%.1f", p99_us(ps[k].global_ns, ps[k].nglobal));
		}
		printf("%-10s %10.0f %10.1f %10.1f %10s %10s %9ld %11ld %11.0f %8ld\n",
		       ps[k].name, rate[k], mean_us(ps[k].range_ns, ps[k].nrange),
		       p99_us(ps[k].range_ns, ps[k].nrange), gm, gp, ps[k].pinned,
		       ps[k].host_rpcits < 0 ? -1 : ps[k].host_rpcits / ps[k].passes,
		       sg,
		       ps[k].exits / ps[k].passes);
	}
	printf("userspace path per pass: %ld IOAS_MAP, %ld IOAS_UNMAP; %s %ld, %s %ld\n",
	       ps[1].maps / ps[1].passes, ps[1].unmaps / ps[1].passes,
	       "foll pins held at the end of a pass: in-kernel", ps[0].foll,
	       "userspace", ps[1].foll);
	printf("RPCITs with a cc/status other than traced: in-kernel %ld, userspace %ld\n",
	       ps[0].bad_cc, ps[1].bad_cc);
	printf("in-kernel path per pass: %ld RPCIT(s) handed to the VMM, %ld cc-2 retries\n",
	       ps[0].handed / ps[0].passes, ps[0].retries / ps[0].passes);
	printf("synthetic global: %s\n",
	       "one RPCIT over each function's whole aperture right after a pass (mappings unchanged)");
	printf("\nper RPCIT, mean us: %-9s | %9s | %9s | %9s | %9s | %9s | %s\n",
	       "path", "queue", "KVM_RUN", "handler", "resume", "total", "null ioctl");
	for (k = 0; k < 2; k++)
		printf("per RPCIT, mean us: %-9s | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %.1f\n",
		       ps[k].name, ps[k].ph[0] / 1e3 / ps[k].n, ps[k].ph[1] / 1e3 / ps[k].n,
		       ps[k].ph[2] / 1e3 / ps[k].n, ps[k].ph[3] / 1e3 / ps[k].n,
		       ps[k].total_ns / 1e3 / ps[k].n, ps[k].null_ns / 1e3 / ps[k].n);
	printf("(queue = KVM_S390_TEST_INTERCEPT, test-only; KVM_RUN = intercept handled in\n"
	       " the kernel, or exit to userspace; handler = userspace walk + IOAS_MAP/UNMAP;\n"
	       " resume = KVM_RUN re-entry with cc/status; null ioctl = KVM_CHECK_EXTENSION)\n");
	if (ps[0].n && ps[1].n) {
		/*
		 * Production has no queue ioctl, and the in-kernel path never
		 * leaves the kernel while the userspace path leaves once and
		 * comes back once where the test mode makes two round trips:
		 * both lose the queue ioctl and one syscall round trip.
		 */
		double k = (ps[0].total_ns - ps[0].ph[0] - ps[0].null_ns) / 1e3 / ps[0].n;
		double u = (ps[1].total_ns - ps[1].ph[0] - ps[1].null_ns) / 1e3 / ps[1].n;

		printf("%s: in-kernel %.1f us, userspace %.1f us per RPCIT, ratio %.1f\n",
		       "without the test-only queue ioctl and one syscall round trip", k, u,
		       k > 0 ? u / k : 0);
	}
	if (plumbing_us > 0 && rate[0] > 0 && rate[1] > 0) {
		double k = 1e6 / rate[0] - plumbing_us, u = 1e6 / rate[1] - plumbing_us;

		printf("%s (%.1f us, paid by both): %s %.1f us, %s %.1f us per RPCIT, ratio %.1f\n",
		       "without the test mode's intercept round trip", plumbing_us,
		       "in-kernel", k, "userspace", u, k > 0 ? u / k : 0);
	}
	zrep_fini(&rep);
	printf("bench: in-kernel %.0f rpcit/s, userspace %.0f rpcit/s, ratio %.1f\n",
	       rate[0], rate[1], rate[1] ? rate[0] / rate[1] : 0);
	ztrace_free(&t);
	return 0;
}
