// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_bench: a guest RPCIT trace through four configurations in the
 * same VMM, same VM, same boot, in interleaved rounds:
 *   userspace      no KVM domain serves the fh: every RPCIT exits to
 *                  userspace, which does what QEMU's rpcit_service_call does
 *                  (walk the guest tables page by page, IOMMU_IOAS_UNMAP /
 *                  IOMMU_IOAS_MAP each changed 4 KiB page on the function's
 *                  own IOAS), sets cc and status and re-enters (KVM_RUN);
 *   on-demand      an s390 KVM nested hwpt per traced fh (pins what the guest
 *                  maps); the RPCIT is handled in the kernel;
 *   pinned-parent  the same with IOMMU_HWPT_S390_KVM_PINNED_PARENT: the
 *                  parent maps all guest RAM at IOVA = GPA, no pin per RPCIT;
 *   direct-map     the parent alone (relaxed translation: no RPCIT at all,
 *                  all guest RAM pinned): its pins are reported.
 * RPCITs are queued in batches served by one KVM_RUN
 * (KVM_S390_TEST_INTERCEPT_BATCH), so the in-kernel figure is the handler's
 * own cost without the test-only queue ioctl or a syscall per RPCIT; the
 * userspace path still exits and re-enters for every RPCIT, as with SIE.
 * Cost per RPCIT: the batch's time from its first KVM_RUN to the return of
 * its last, divided by its RPCITs. Under qemu-system-s390x -icount shift=0
 * the clock counts executed instructions: with zpci.bench_unit=insn on the
 * kernel command line the figures are printed as instructions.
 *
 * Usage: zpci_rpcit_bench [-r ROUNDS] [-n RECORDS] [-u ns|insn] TRACE
 * Prints figures; never fails on time (exit 0 unless the VMM cannot be set
 * up or an RPCIT cannot be issued).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "zpci_trace.h"

enum { C_USER, C_ONDEMAND, C_PARENT, NCFG };

static const char * const cfg_name[NCFG] = {
	"userspace", "on-demand", "pinned-parent",
};

struct pstat {
	uint64_t range_total, global_total;	/* ns (icount: instructions) */
	long nrange, nglobal;
	uint64_t *range_ns, *global_ns;	/* per RPCIT, for the p99 */
	long npr, npg;
	long pinned;		/* pins the RPCIT path holds at the end of a pass */
	long host_rpcits, exits, handed, retries, bad_cc, run_calls;
	long maps, unmaps, passes, batches;
	uint64_t t_handler;	/* userspace: time in the VMM's own handler */
};

static struct zrep rep;
static struct ztrace t;
static struct zrep_batch batch;
static const char *unit = "ns";

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double p99(uint64_t *v, long n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(n * 99 + 99) / 100 - 1];
}

static double per(uint64_t total, long n)
{
	return n ? (double)total / n : 0;
}

/* zpci.bench_unit=insn on the kernel command line: the clock is icount */
static void read_unit(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f) && strstr(buf, "zpci.bench_unit=insn"))
		unit = "insn";
	fclose(f);
}

static int set_config(int c)
{
	rep.hwpt_flags = c == C_PARENT ? IOMMU_HWPT_S390_KVM_PINNED_PARENT : 0;
	/* a fresh hwpt with the new flags: leave the in-kernel path first */
	if (c != C_USER && !rep.user_mode && zrep_set_mode(&rep, true))
		return -1;
	if (zrep_set_mode(&rep, c == C_USER) || zrep_restart(&rep))
		return -1;
	return 0;
}

static int run_batch(struct pstat *ps)
{
	const struct ztr_rec *r;
	uint64_t sum, loop;
	bool global;
	uint32_t i;
	int ret;

	if (!batch.n)
		return 0;
	ret = zrep_batch_run(&rep, &batch);
	if (ret) {
		printf("ERROR: a batch of %u RPCITs failed: %s\n", batch.n, strerror(-ret));
		return -1;
	}
	global = batch.rec[0]->global;
	if (global) {
		ps->global_total += batch.total_ns;
		ps->nglobal += batch.n;
	} else {
		ps->range_total += batch.total_ns;
		ps->nrange += batch.n;
	}
	ps->run_calls += batch.run_calls;
	ps->batches++;
	/*
	 * The batch's time the entries' own figures do not cover (the KVM run
	 * loop between in-kernel entries), spread evenly over its RPCITs, so
	 * that the p99 and the mean count the same work.
	 */
	for (i = 0, sum = 0; i < batch.n; i++)
		sum += batch.ns[i];
	loop = batch.total_ns > sum ? (batch.total_ns - sum) / batch.n : 0;
	for (i = 0; i < batch.n; i++) {
		struct zrep_res *res = &batch.res[i];

		r = batch.rec[i];
		if (r->global)
			ps->global_ns[ps->npg++] = batch.ns[i] + loop;
		else
			ps->range_ns[ps->npr++] = batch.ns[i] + loop;
		ps->exits += res->exited;
		ps->handed += res->vmm;
		ps->retries += res->retries;
		ps->t_handler += res->t_handler;
		if (res->err || res->cc != r->cc ||
		    (r->cc == 1 && res->status != r->status))
			ps->bad_cc++;
	}
	batch.n = 0;
	return 0;
}

static int one_pass(struct pstat *ps, int c, long nrec)
{
	long host0, host1, foll0;
	const struct ztr_rec *r;
	char err[320];
	uint32_t i;
	int k;

	if (set_config(c)) {
		printf("ERROR: switching to the %s configuration failed\n", cfg_name[c]);
		return -1;
	}
	/* pins of the destroyed hwpts may be released late */
	zpin_settle(200, 5000);
	host0 = zrep_host_rpcits(&rep);
	foll0 = zpin_foll_pinned();
	batch.n = 0;
	for (i = 0; i < t.nrecs && (!nrec || i < nrec); i++) {
		r = &t.recs[i];
		if (r->type == ZTR_IOAT) {
			if (run_batch(ps))
				return -1;
			if (zrep_ioat(&rep, r, err, sizeof(err))) {
				printf("ERROR: cannot apply record %s: %s\n",
				       ztrace_desc(&t, r), err);
				return -1;
			}
			continue;
		}
		if (!zrep_batch_fits(&batch, &t, r) && run_batch(ps))
			return -1;
		if (zrep_guest_writes(&rep, r, err, sizeof(err))) {
			printf("ERROR: cannot apply record %s: %s\n",
			       ztrace_desc(&t, r), err);
			return -1;
		}
		zrep_batch_add(&batch, r);
	}
	if (run_batch(ps))
		return -1;
	host1 = zrep_host_rpcits(&rep);
	if (host0 >= 0 && host1 >= 0)
		ps->host_rpcits += host1 - host0;
	else
		ps->host_rpcits = -1;
	if (c == C_USER)
		ps->pinned = zpin_foll_pinned() - foll0;
	else
		ps->pinned = c == C_PARENT ? 0 : zrep_kvm_pinned(&rep);
	for (k = 0; k < rep.nfn; k++) {
		ps->maps += rep.fn[k].user_maps;
		ps->unmaps += rep.fn[k].user_unmaps;
	}
	ps->passes++;
	return 0;
}

/*
 * One-page RPCITs on function 0, n per batch, at the top of its aperture:
 * new frames, the same again (unchanged), one already pinned frame at new
 * IOVAs, their unmap, and an fh nobody serves. Means per RPCIT of the
 * batch entries (in the kernel: the kernel's time for the entry).
 */
struct micro {
	double map_new, same, map_pinned, unmap, nobody;
	int n;
	bool ok;
};

static int micro_batch(struct zrep_fn *f, uint64_t base, uint64_t frame0,
		       bool one_frame, bool invalid, uint32_t fh, int n, double *mean)
{
	struct ztr_rec *r = calloc(n, sizeof(*r));
	uint64_t sum = 0, frame;
	char err[320];
	int i, ret;

	if (!r)
		return -1;
	batch.n = 0;
	for (i = 0; i < n; i++) {
		uint64_t iova = base + (uint64_t)i * ZPCI_PAGE_SIZE;

		frame = one_frame ? frame0 : frame0 + (uint64_t)i * ZPCI_PAGE_SIZE;
		r[i].type = ZTR_RPCIT;
		r[i].fh = fh;
		r[i].iova = iova;
		r[i].len = ZPCI_PAGE_SIZE;
		if (zgt_write_pte(&f->g, iova, frame | (invalid ? ZT_PTE_INVALID : 0),
				  err, sizeof(err))) {
			printf("ERROR: micro: %s\n", err);
			free(r);
			return -1;
		}
		zrep_batch_add(&batch, &r[i]);
	}
	ret = zrep_batch_run(&rep, &batch);
	for (i = 0; i < n && !ret; i++) {
		sum += batch.ns[i];
		if (fh == f->fh && (batch.res[i].err || batch.res[i].cc != 0))
			ret = -EPROTO;
	}
	batch.n = 0;
	free(r);
	if (ret) {
		printf("ERROR: micro batch: %s\n", strerror(-ret));
		return -1;
	}
	*mean = (double)sum / n;
	return 0;
}

static void micro(int c, uint64_t frames, int n, struct micro *m)
{
	struct zrep_fn *f = &rep.fn[0];
	uint64_t base, base2;
	char err[320];
	uint32_t i;

	memset(m, 0, sizeof(*m));
	if (!f->has_ioat || set_config(c))
		return;
	for (i = 0; i < t.nrecs; i++)
		if (t.recs[i].type == ZTR_IOAT)
			zrep_ioat(&rep, &t.recs[i], err, sizeof(err));
	if (!f->has_ioat)
		return;
	/* two runs of n pages at the top of the aperture, fewer if it is small */
	if ((f->pal - f->pba + 1) / ZPCI_PAGE_SIZE < 2 * (uint64_t)n)
		n = (f->pal - f->pba + 1) / ZPCI_PAGE_SIZE / 2;
	if (n < 1)
		return;
	m->n = n;
	base2 = f->pal + 1 - (uint64_t)n * ZPCI_PAGE_SIZE;
	base = base2 - (uint64_t)n * ZPCI_PAGE_SIZE;
	if (micro_batch(f, base, frames, false, false, f->fh, n, &m->map_new) ||
	    micro_batch(f, base, frames, false, false, f->fh, n, &m->same) ||
	    micro_batch(f, base2, frames, true, false, f->fh, n, &m->map_pinned) ||
	    micro_batch(f, base2, frames, true, true, f->fh, n, &m->unmap) ||
	    micro_batch(f, base2, frames, true, true, 0x7fffff00, n, &m->nobody))
		return;
	/* leave nothing mapped for the next configuration */
	micro_batch(f, base, frames, false, true, f->fh, n, &m->unmap);
	m->ok = true;
}

/* The four lines make bench ends with */
static void summary(struct pstat *ps, struct micro *mi, long direct_pages,
		    long direct_needed, bool parent_all)
{
	struct pstat *u = &ps[C_USER], *o = &ps[C_ONDEMAND], *pp = &ps[C_PARENT];
	double x = per(o->range_total + o->global_total, o->nrange + o->nglobal);
	double y = per(u->range_total + u->global_total, u->nrange + u->nglobal);
	double x2 = per(pp->range_total + pp->global_total, pp->nrange + pp->nglobal);

	if (parent_all)
		printf("bench [direct-map]: 0 rpcit, %ld pages pinned\n", direct_pages);
	else
		printf("bench [direct-map]: 0 rpcit, %ld pages pinned (%s; %ld measured)\n",
		       direct_needed, "all guest RAM, computed: the host is short of memory",
		       direct_pages);
	printf("bench [pinned-parent]: %.0f %s/rpcit, ratio %.1f\n", x2, unit,
	       x2 > 0 ? y / x2 : 0);
	if (mi[C_ONDEMAND].ok)
		printf("bench: one-page map %.0f %s in the handler (pinned frame), %.0f %s %s\n",
		       mi[C_ONDEMAND].map_pinned, unit, mi[C_ONDEMAND].map_new, unit,
		       "(new frame)");
	else
		printf("bench: one-page map: not measured (%s)\n",
		       "no IOAT or no free guest frames");
	printf("bench: in-kernel %.0f %s/rpcit, userspace %.0f %s/rpcit, ratio %.1f\n",
	       x, unit, y, unit, x > 0 ? y / x : 0);
}

int main(int argc, char **argv)
{
	static struct pstat ps[NCFG];
	const char *path = "/tests/replay.trace", *base;
	int rounds = 3, opt, ret, round, k, c;
	long nrec = 0, direct_pages, direct_needed;
	struct micro mi[NCFG];
	uint64_t frames;
	const int n_micro = 256;
	bool parent_all;

	setvbuf(stdout, NULL, _IOLBF, 0);
	read_unit();
	while ((opt = getopt(argc, argv, "r:n:u:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'n')
			nrec = atol(optarg);
		else if (opt == 'u')
			unit = strcmp(optarg, "insn") ? "ns" : "insn";
		else
			return 2;
	}
	if (optind < argc)
		path = argv[optind];
	if (ztrace_load(&t, path))
		return 1;
	/* all guest RAM in the parents: pinned-parent and direct map */
	ret = zrep_init_flags(&rep, &t, ZREP_PINNED_PARENT);
	if (ret) {
		zrep_fini(&rep);
		return ret;
	}
	direct_pages = rep.foll_parent - rep.foll0;
	direct_needed = (long)(rep.a.ram_end - rep.a.ram_base) / ZPCI_PAGE_SIZE * rep.nfn;
	for (c = 0; c < NCFG; c++) {
		ps[c].range_ns = calloc((size_t)t.nrpcit * rounds + 1, sizeof(uint64_t));
		ps[c].global_ns = calloc((size_t)t.nrpcit * rounds + 1, sizeof(uint64_t));
		if (!ps[c].range_ns || !ps[c].global_ns)
			return 1;
	}
	base = strrchr(t.path, '/');
	base = base ? base + 1 : t.path;
	printf("bench: trace %s: %ld rpcit (%ld global), %d function(s), %d %s, unit %s\n",
	       base, t.nrpcit, t.nglobal, t.nfh, rounds,
	       "interleaved round(s) per configuration", unit);
	for (round = 0; round < rounds; round++) {
		for (k = 0; k < NCFG; k++) {
			/* rotate which configuration goes first */
			c = (k + round) % NCFG;
			printf("bench: round %d: %s pass\n", round + 1, cfg_name[c]);
			if (one_pass(&ps[c], c, nrec)) {
				zrep_fini(&rep);
				return 1;
			}
		}
	}
	frames = zgt_alloc_frames(&rep.a, n_micro);
	for (k = 0; frames && k < n_micro; k++)
		__atomic_store_n((uint64_t *)zvm_ptr(&rep.vm, frames + k * ZPCI_PAGE_SIZE),
				 frames + 1, __ATOMIC_RELAXED);
	for (c = 0; c < NCFG; c++) {
		memset(&mi[c], 0, sizeof(mi[c]));
		/* the parents map the traced frames only when RAM is short */
		if (frames && (c != C_PARENT || rep.parent_all))
			micro(c, frames, n_micro, &mi[c]);
	}

	printf("\n%-14s %10s %10s %10s %10s %10s %9s %10s %9s %9s\n", "configuration",
	       "all", "range", "range", "global", "global", "pins", "host", "exits",
	       "KVM_RUN");
	printf("%-14s %10s %10s %10s %10s %10s %9s %10s %9s %9s\n", "",
	       "mean", "mean", "p99", "mean", "p99", "held", "RPCITs", "/pass", "/pass");
	for (c = 0; c < NCFG; c++) {
		struct pstat *p = &ps[c];
		long n = p->nrange + p->nglobal;

		printf("%-14s %10.0f %10.0f %10.0f %10.0f %10.0f %9ld %10ld %9ld %9ld\n",
		       cfg_name[c], per(p->range_total + p->global_total, n),
		       per(p->range_total, p->nrange), p99(p->range_ns, p->npr),
		       per(p->global_total, p->nglobal), p99(p->global_ns, p->npg),
		       p->pinned, p->host_rpcits < 0 ? -1 : p->host_rpcits / p->passes,
		       p->exits / p->passes, p->run_calls / p->passes);
	}
	printf("(%s per RPCIT; mean = batch time / RPCITs; p99 over RPCITs of %s;\n"
	       " pins held = pages the RPCIT path keeps pinned at the end of a pass)\n",
	       unit, "the kernel's time per entry + its share of the batch's run loop,\n"
	       " or KVM_RUN + handler when it exits");
	printf("userspace path per pass: %ld IOAS_MAP, %ld IOAS_UNMAP, %.0f %s per RPCIT %s\n",
	       ps[C_USER].maps / ps[C_USER].passes, ps[C_USER].unmaps / ps[C_USER].passes,
	       per(ps[C_USER].t_handler, ps[C_USER].nrange + ps[C_USER].nglobal), unit,
	       "in its own walk and map ioctls");
	for (c = 0; c < NCFG; c++)
		printf("%s: %ld RPCIT(s) with a cc/status other than traced, %ld %s, %ld %s\n",
		       cfg_name[c], ps[c].bad_cc / ps[c].passes, ps[c].handed / ps[c].passes,
		       "handed to the VMM", ps[c].retries / ps[c].passes, "cc-2 retries per pass");
	printf("pinned memory needed: userspace %ld pages (what is mapped), on-demand %ld %s\n",
	       ps[C_USER].pinned, ps[C_ONDEMAND].pinned, "(each mapped frame once)");
	printf("pinned memory needed: pinned-parent and direct map: all guest RAM, %ld pages %s\n",
	       direct_needed, "(all functions)");
	printf("\none-page RPCITs, %d per batch, %s per RPCIT %s:\n",
	       mi[C_ONDEMAND].n ? mi[C_ONDEMAND].n : n_micro, unit,
	       "(in the kernel: the handler alone)");
	printf("%-14s %10s %10s %10s %10s %12s\n", "configuration", "map new", "unchanged",
	       "map pinned", "unmap", "no handler");
	for (c = 0; c < NCFG; c++)
		if (mi[c].ok)
			printf("%-14s %10.0f %10.0f %10.0f %10.0f %12.0f\n", cfg_name[c],
			       mi[c].map_new, mi[c].same, mi[c].map_pinned, mi[c].unmap,
			       mi[c].nobody);
	printf("(map new: a frame never pinned; map pinned: a frame already pinned, at a new\n"
	       " IOVA; no handler: an fh no KVM domain serves, up to its exit to userspace)\n\n");
	parent_all = rep.parent_all;
	zrep_fini(&rep);

	summary(ps, mi, direct_pages, direct_needed, parent_all);
	ztrace_free(&t);
	return 0;
}
