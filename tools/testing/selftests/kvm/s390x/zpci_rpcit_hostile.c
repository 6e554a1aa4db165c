// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_hostile - a hostile guest's I/O translation tables against the
 * in-kernel RPCIT.
 *
 * hostile_guest: a seeded fuzzer builds random guest translation tables
 * (valid, invalid and zero entries, tables aliased by several entries, table
 * origins and frames outside every memslot, wrong table types, bad region
 * table offset/length, segment entries with the format-control bit,
 * protection at every level; RTTO mostly, some STO), registers them as a
 * nested hwpt (on demand) and issues random RPCITs through KVM_RUN, changing
 * the tables in between. Every answer and every shadow entry is checked
 * against a reference walk of the tables written here from the architecture
 * (asm/pci_dma.h format):
 *
 *  - the walk goes in IOVA order and stops at the first table error: pages
 *    before the failing entry are updated, pages at and after it keep their
 *    previous shadow state, except that a PTE whose new frame is not guest
 *    RAM loses its old translation;
 *  - one RPCIT examines at most 2^15 guest entries: a walk of more answers
 *    cc 2 as often as that bound demands, and the retries resume it;
 *  - errors (range not within [pba, pal], zero region/segment entry or PTE,
 *    wrong table type, segment index outside the region entry's table
 *    offset/length, a valid segment entry with the format-control bit, an
 *    unreadable table, a frame outside guest RAM) are handed to the VMM
 *    (KVM_EXIT_S390_SIEIC, registers unchanged), whose IOMMU_HWPT_INVALIDATE
 *    of the same range answers cc 1 status 8; anything else is cc 0, cc 2
 *    asks for the same RPCIT again;
 *  - a valid page maps the host page of its guest frame (from pagemap),
 *    read-only iff the region entry, segment entry or PTE is protected;
 *  - the debugfs summary has this domain alone, its pins, a shadow table
 *    for each region and segment with a valid page and nothing more, and
 *    counts every hand-over and every cc 2 answer.
 *
 * Options (before the harness's own): -s SEED, -n ITERATIONS (RPCITs; the
 * fuzzer also stops starting new ones after its time budget).
 *
 * The named cases use aliased tables (every region entry on one segment
 * table, every segment entry on one page table of 256 valid PTEs) on a
 * 128 MiB guest aperture, a few more guest entries than the work bound of
 * one RPCIT: a global RPCIT needs cc 2 answers and each KVM_RUN is bounded
 * in time, every entry of a huge IOMMU_HWPT_INVALIDATE is bounded, a VMM
 * killed in either is reaped promptly. A device write into a protected
 * guest page is refused; that one makes the device fault, runs last and
 * brings the function back (sysfs recover, rebind).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"
#include "zpci_virtio.h"

#define FH		ZPCI_GUEST_FH
#define PG		ZPCI_PAGE_SIZE
#define SLOT1_SIZE	(16 * ZPCI_MIB)		/* slot 1 at the host's start_dma */
#define TBL_START	ZPCI_MIB		/* fuzzer table arena in slot 0 */
#define TBL_END		(16 * ZPCI_MIB)
#define DATA_START	(16 * ZPCI_MIB)		/* data frames of slot 0 */

/* architecture, arch/s390/include/asm/pci_dma.h */
#define PSW_CC3		(3ULL << 44)

#define A_DT(iota)	(((iota) >> 2) & 7)
#define A_DT_STO	0
#define A_DT_RTTO	1
#define A_TT_MASK	0xcULL
#define A_TT_RTX	0x4ULL
#define A_TT_SX		0x0ULL
#define A_TF(e)		(((e) >> 6) & 3)
#define A_TL(e)		((e) & 3)
#define A_TL_FULL	0x3ULL
#define A_TBL_INVALID	0x20ULL
#define A_PROT		0x200ULL
#define A_STE_FC	0x400ULL
#define A_PTE_INVALID	0x400ULL
#define A_ORG_RT(e)	((e) & ~0x3fffULL)	/* IOTA origin, region entry's table */
#define A_ORG_ST(e)	((e) & ~0x7ffULL)	/* segment entry's page table */
#define A_FRAME(e)	((e) & ~0xfffULL)
#define A_RX(a)		(((a) >> 31) & 0x7ff)
#define A_SX(a)		(((a) >> 20) & 0x7ff)
#define A_PX(a)		(((a) >> 12) & 0xff)
#define A_REG_SIZE	0x80000000ULL
#define A_SEG_SIZE	0x100000ULL
#define A_ST_REACH	0x80000000ULL

/*
 * Work bound of the in-kernel RPCIT: guest table entries examined per
 * instruction, in chunks between fatal-signal checks
 */
#define MAX_VISIT	0x8000UL
#define CHUNK_VISIT	0x1000UL
#define BUSY_SLACK	8		/* cc 2 answers of transient pin trouble */
#define BUSY_RETRIES	64		/* cc 2 answers accepted for one RPCIT */
/*
 * Guest aperture of the aliased-table cases: 128 MiB, 32897 guest entries
 * (1 region entry, 128 segment entries, 32768 PTEs) for a global refresh,
 * a few more than one instruction may examine
 */
#define ALIAS_SIZE	(128 * ZPCI_MIB)
/* the calibration refresh: one chunk of aliased PTEs */
#define ALIAS_CAL_SEGS	(CHUNK_VISIT / ZT_PT_ENTRIES)
/*
 * Time bound of one KVM_RUN (or one IOMMU_HWPT_INVALIDATE entry) over
 * aliased tables: the work bound at the cost per page measured first, times
 * 3, at least RUN_BOUND_MIN_MS (the emulated host is slow, real hardware fast)
 */
#define RUN_BOUND_MIN_MS	60000
/* the largest IOMMU_HWPT_INVALIDATE iommufd accepts */
#define HUGE_ENTRIES	0x80000U
#define HUGE_WATCH_MS	2000		/* watch the entries after the first cc 0 */
#define HUGE_PT_STEP	16		/* every 16th PTE valid in that case */
#define HUGE_POLL_US	5000
/*
 * reaping a killed VMM: REAP_MS (-r: the exit's own teardown of the shadow
 * the child built, seconds on a KASAN kernel) plus REAP_CHUNKS chunks of
 * aliased work
 */
#define REAP_MS		5000
#define REAP_CHUNKS	4
#define READY_MS	120000
#define FUZZ_BUDGET_MS	45000
#define FUZZ_ITERS	4000
#define SHOW_MAX	32
#define SHOW_PER_SET	4
#define REQ_TIMEOUT_MS	10000
#define DENY_TIMEOUT_MS	3000

/* the fuzzer's result line */
#define SUMMARY_FMT \
	"hostile guest: %lu random tables, %lu rpcit, %lu mismatches against the reference walk\n"

static uint64_t opt_seed;
static bool opt_seed_set;
static unsigned long opt_iters = FUZZ_ITERS;
static long opt_reap_ms = REAP_MS;

/* ------------------------------------------------------------ PRNG */

static uint64_t rnd_state;

static uint64_t rnd64(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ------------------------------------------------------------ common setup */

struct hg {
	struct zvm vm;
	struct zdev d;
	uint32_t hwpt;
	bool have_hwpt;
	bool attached;
	uint64_t pba, pal;
	long kb0, foll0;
	int pm_fd;		/* /proc/self/pagemap */
	/* device test */
	struct zv_blk v;
	struct zv_page ring[ZV_RING_PAGES];
	int kmsg;
	bool faulted;
};

static void hg_clear(struct hg *g)
{
	memset(g, 0, sizeof(*g));
	g->vm.kvm_fd = -1;
	g->vm.vm_fd = -1;
	g->vm.vcpu_fd = -1;
	g->d.iommufd = -1;
	g->d.devfd = -1;
	g->pm_fd = -1;
	g->v.devfd = -1;
	g->kmsg = -1;
}

static void hg_down(struct hg *g)
{
	if (g->v.devfd >= 0 && g->d.devfd >= 0 && !g->faulted)
		zv_reset(&g->v);
	if (g->attached)
		zdev_detach(&g->d);
	g->attached = false;
	if (g->have_hwpt)
		zdev_destroy_obj(&g->d, g->hwpt);
	g->have_hwpt = false;
	zdev_close(&g->d);
	zvm_destroy(&g->vm);
	if (g->pm_fd >= 0)
		close(g->pm_fd);
	g->pm_fd = -1;
}

static bool pins_back(struct __test_metadata *_metadata, long kb0, long foll0, int ms)
{
	if (zpin_wait(kb0, foll0, ms))
		return true;
	TH_LOG("pins not back to baseline: VmPin %+ld kB, foll %+ld",
	       zpin_vmpin_kb() - kb0, zpin_foll_pinned() - foll0);
	return false;
}

/* VM (slot 0, optionally slot 1 at start_dma), device; no hwpt yet */
static void hg_up(struct __test_metadata *_metadata, struct hg *g, bool slot1)
{
	int ret;

	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK)) TH_LOG("/dev/kvm: %s", strerror(errno));
	ASSERT_EQ(0, access("/dev/iommu", R_OK | W_OK)) TH_LOG("/dev/iommu: %s", strerror(errno));
	ASSERT_EQ(0, access(ZPCI_VFIO_DEV, R_OK | W_OK))
		TH_LOG("%s: %s", ZPCI_VFIO_DEV, strerror(errno));
	zpin_settle(300, 10000);
	g->kb0 = zpin_vmpin_kb();
	g->foll0 = zpin_foll_pinned();
	ret = zdev_open(&g->d, ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", ZPCI_VFIO_DEV, strerror(-ret));
	ASSERT_TRUE(g->d.have_zpci_info) TH_LOG("no VFIO_DEVICE_INFO_CAP_ZPCI_BASE");
	zdev_aperture(&g->d, &g->pba, &g->pal);
	ret = zvm_create(&g->vm, ZSETUP_MEM);
	ASSERT_EQ(0, ret) TH_LOG("VM: %s", strerror(-ret));
	if (slot1) {
		ret = zvm_add_data_slot(&g->vm, g->d.start_dma, SLOT1_SIZE);
		ASSERT_EQ(0, ret) TH_LOG("memslot 1: %s", strerror(-ret));
	}
	g->pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, g->pm_fd) TH_LOG("/proc/self/pagemap: %s", strerror(errno));
}

/* every page of guest RAM written once: stable host pages, no zero page */
static void hg_prefault(struct hg *g)
{
	uint64_t a;

	madvise(g->vm.mem, g->vm.mem_size, MADV_NOHUGEPAGE);
	for (a = 0; a < g->vm.mem_size; a += PG)
		g->vm.mem[a + 8] = 0x5a;
	if (g->vm.hi_mem) {
		madvise(g->vm.hi_mem, g->vm.hi_size, MADV_NOHUGEPAGE);
		for (a = 0; a < g->vm.hi_size; a += PG)
			g->vm.hi_mem[a + 8] = 0xa5;
	}
}

static int hg_register(struct hg *g, uint64_t iota)
{
	uint32_t id;
	int ret;

	ret = zdev_hwpt_alloc_attach(&g->d, g->vm.vm_fd, FH, 0, iota, g->pba, g->pal, &id);
	if (ret)
		return ret;
	if (g->have_hwpt)
		zdev_destroy_obj(&g->d, g->hwpt);
	g->hwpt = id;
	g->have_hwpt = true;
	g->attached = true;
	return 0;
}

/* host physical address of the page behind a host virtual address, 0 if none */
static uint64_t hva_to_hpa(int pm_fd, const void *hva)
{
	uint64_t e;

	if (pread(pm_fd, &e, sizeof(e), ((uintptr_t)hva / PG) * sizeof(e)) != sizeof(e))
		return 0;
	if (!(e & (1ULL << 63)))
		return 0;
	return (e & ((1ULL << 55) - 1)) * PG;
}

struct rpcit_res {
	struct zrpcit r;
	bool regs_same;		/* r1, r2, r2 + 1 and the PSW cc as before KVM_RUN */
	int busy;		/* cc 2 answers before the last one */
	long max_ms;		/* slowest KVM_RUN */
};

/*
 * One RPCIT 1,2 through KVM_RUN: r1 = fh << 32, r2 = iova, r3 = len, PSW cc
 * preset to 3 (an answer sets it, a hand-over to the VMM leaves it)
 */
static int rpcit_once(struct hg *g, uint64_t iova, uint64_t len, struct rpcit_res *o)
{
	struct kvm_regs regs;
	int ret;

	if (ioctl(g->vm.vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	regs.gprs[1] = (uint64_t)FH << 32;
	regs.gprs[2] = iova;
	regs.gprs[3] = len;
	if (ioctl(g->vm.vcpu_fd, KVM_SET_REGS, &regs))
		return -errno;
	ret = zvm_run_intercept(&g->vm, ZPCI_ICPT_INST, ZPCI_IPA_RPCIT, ZPCI_RPCIT_IPB(1, 2),
				ZPCI_PSW_EA_BA | PSW_CC3, &o->r);
	if (ret)
		return ret;
	if (ioctl(g->vm.vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	o->r.status = (regs.gprs[1] >> 24) & 0xff;
	o->regs_same = regs.gprs[1] == (uint64_t)FH << 32 && regs.gprs[2] == iova &&
		       regs.gprs[3] == len && (o->r.psw_mask & PSW_CC3) == PSW_CC3;
	return 0;
}

/* the RPCIT again while it answers cc 2, as the guest does */
static int rpcit(struct hg *g, uint64_t iova, uint64_t len, struct rpcit_res *o)
{
	long t;
	int ret;

	memset(o, 0, sizeof(*o));
	for (;;) {
		t = now_ms();
		ret = rpcit_once(g, iova, len, o);
		t = now_ms() - t;
		if (t > o->max_ms)
			o->max_ms = t;
		if (ret)
			return ret;
		if (o->r.exit_reason != KVM_EXIT_INTR || o->r.cc != 2 || o->busy >= BUSY_RETRIES)
			return 0;
		o->busy++;
	}
}

/* the VMM's refresh of a handed-over RPCIT, repeated while cc 2 (counted in *busy) */
static int vmm_refresh(struct hg *g, uint64_t iova, uint64_t len, int *cc, int *st,
		       unsigned long *busy)
{
	int ret, i;

	for (i = 0; i <= BUSY_RETRIES; i++) {
		ret = zdev_refresh(&g->d, g->hwpt, iova, len, cc, st);
		if (ret || *cc != 2)
			return ret;
		(*busy)++;
	}
	return 0;
}

static bool handed_over(const struct rpcit_res *o)
{
	return o->r.exit_reason == KVM_EXIT_S390_SIEIC && o->r.icptcode == ZPCI_ICPT_INST &&
	       o->r.ipa == ZPCI_IPA_RPCIT && o->regs_same;
}

static const char *answer_str(const struct rpcit_res *o, char *buf, size_t len)
{
	if (o->r.exit_reason == KVM_EXIT_INTR)
		snprintf(buf, len, "cc %d status %d in the kernel%s", o->r.cc, o->r.status,
			 o->busy ? " (after cc 2)" : "");
	else if (o->r.exit_reason == KVM_EXIT_S390_SIEIC)
		snprintf(buf, len, "exit to the VMM (icptcode %u ipa 0x%x, regs %s)",
			 o->r.icptcode, o->r.ipa, o->regs_same ? "unchanged" : "CHANGED");
	else
		snprintf(buf, len, "exit %s", zvm_exit_name(o->r.exit_reason));
	return buf;
}

/* ------------------------------------------------------------ reference walk */

enum ref_err {
	REF_OK,
	REF_RANGE,		/* not within [pba, pal] */
	REF_REACH,		/* beyond what the designated table translates */
	REF_UNREADABLE,		/* table not in guest RAM */
	REF_ZERO,		/* zero entry */
	REF_TYPE,		/* wrong table type */
	REF_OFFLEN,		/* segment index outside the region entry's offset/length */
	REF_FC,			/* valid segment entry with the format-control bit */
	REF_FRAME,		/* PTE frame not guest RAM */
};

static const char *const ref_err_name[] = {
	[REF_OK] = "no error",
	[REF_RANGE] = "range not within [pba, pal]",
	[REF_REACH] = "IOVA beyond the designated table's reach",
	[REF_UNREADABLE] = "table outside guest RAM",
	[REF_ZERO] = "zero entry",
	[REF_TYPE] = "wrong table type",
	[REF_OFFLEN] = "index outside the table offset/length",
	[REF_FC] = "segment entry with the format-control bit",
	[REF_FRAME] = "frame outside guest RAM",
};

static const char *const ref_level_name[] = { "IOTA", "region entry", "segment entry", "PTE" };

struct ref_page {
	uint64_t gpa;
	bool valid;
	bool ro;
};

/* the shadow as it must be: one page per 4 KiB of [pba, pal] */
struct ref {
	struct zvm *vm;
	uint64_t pba, pal, npages;
	struct ref_page *pg;
	/* outcome of the last walk */
	enum ref_err err;
	int level;
	uint64_t err_iova;	/* first page the walk did not update */
	uint64_t entry_gpa, entry;
	unsigned long visited;
};

static bool ref_ram(const struct zvm *vm, uint64_t gpa, uint64_t size)
{
	if (gpa < vm->mem_size && size <= vm->mem_size - gpa)
		return true;
	return vm->hi_mem && gpa >= vm->hi_gpa && gpa - vm->hi_gpa < vm->hi_size &&
	       size <= vm->hi_size - (gpa - vm->hi_gpa);
}

static bool ref_load(struct ref *r, uint64_t gpa, uint64_t *val)
{
	if (!ref_ram(r->vm, gpa, 8))
		return false;
	*val = zt_get(zvm_ptr(r->vm, gpa));
	return true;
}

static int ref_fail(struct ref *r, enum ref_err err, int level, uint64_t iova,
		    uint64_t entry_gpa, uint64_t entry)
{
	r->err = err;
	r->level = level;
	r->err_iova = iova;
	r->entry_gpa = entry_gpa;
	r->entry = entry;
	return -1;
}

static struct ref_page *ref_page(struct ref *r, uint64_t iova)
{
	return &r->pg[(iova - r->pba) / PG];
}

/* pages [s, l] (s page aligned) lose their translation */
static void ref_drop(struct ref *r, uint64_t s, uint64_t l)
{
	uint64_t a;

	for (a = s; a <= l; a += PG)
		ref_page(r, a)->valid = false;
}

static int ref_walk_pt(struct ref *r, uint64_t pto, uint64_t s, uint64_t l, bool prot)
{
	uint64_t a, ea, e;
	struct ref_page *p;

	for (a = s; a <= l; a += PG) {
		ea = pto + A_PX(a) * 8;
		r->visited++;
		if (!ref_load(r, ea, &e))
			return ref_fail(r, REF_UNREADABLE, 3, a, ea, 0);
		if (!e)
			return ref_fail(r, REF_ZERO, 3, a, ea, e);
		p = ref_page(r, a);
		if (e & A_PTE_INVALID) {
			p->valid = false;
			continue;
		}
		if (!ref_ram(r->vm, A_FRAME(e), PG)) {
			/* the guest dropped the old frame: it is unmapped too */
			p->valid = false;
			return ref_fail(r, REF_FRAME, 3, a, ea, e);
		}
		p->valid = true;
		p->gpa = A_FRAME(e);
		p->ro = prot || (e & A_PROT);
	}
	return 0;
}

static int ref_walk_st(struct ref *r, uint64_t sto, uint64_t s, uint64_t l, bool prot)
{
	uint64_t a = s, sl, ea, e;

	for (;;) {
		sl = a | (A_SEG_SIZE - 1);
		if (sl > l)
			sl = l;
		ea = sto + A_SX(a) * 8;
		r->visited++;
		if (!ref_load(r, ea, &e))
			return ref_fail(r, REF_UNREADABLE, 2, a, ea, 0);
		if (!e)
			return ref_fail(r, REF_ZERO, 2, a, ea, e);
		if (e & A_TBL_INVALID) {
			ref_drop(r, a, sl);
		} else {
			if ((e & A_TT_MASK) != A_TT_SX)
				return ref_fail(r, REF_TYPE, 2, a, ea, e);
			if (e & A_STE_FC)
				return ref_fail(r, REF_FC, 2, a, ea, e);
			if (ref_walk_pt(r, A_ORG_ST(e), a, sl, prot || (e & A_PROT)))
				return -1;
		}
		if (sl == l)
			return 0;
		a = sl + 1;
	}
}

static int ref_walk_rt(struct ref *r, uint64_t rto, uint64_t s, uint64_t l)
{
	uint64_t a = s, rl, ea, e;

	for (;;) {
		rl = a | (A_REG_SIZE - 1);
		if (rl > l)
			rl = l;
		ea = rto + A_RX(a) * 8;
		r->visited++;
		if (!ref_load(r, ea, &e))
			return ref_fail(r, REF_UNREADABLE, 1, a, ea, 0);
		if (!e)
			return ref_fail(r, REF_ZERO, 1, a, ea, e);
		if (e & A_TBL_INVALID) {
			ref_drop(r, a, rl);
		} else {
			if ((e & A_TT_MASK) != A_TT_RTX)
				return ref_fail(r, REF_TYPE, 1, a, ea, e);
			/* segment table in units of 512 entries: [TF, TL] */
			if ((A_SX(a) >> 9) < A_TF(e) || (A_SX(rl) >> 9) > A_TL(e))
				return ref_fail(r, REF_OFFLEN, 1, a, ea, e);
			if (ref_walk_st(r, A_ORG_RT(e), a, rl, e & A_PROT))
				return -1;
		}
		if (rl == l)
			return 0;
		a = rl + 1;
	}
}

/* one RPCIT over [iova, iova + len): updates the expected shadow, sets r->err */
static enum ref_err ref_refresh(struct ref *r, uint64_t iota, uint64_t iova, uint64_t len)
{
	uint64_t last = iova + len - 1, s = iova & ~(PG - 1);

	r->err = REF_OK;
	r->visited = 0;
	if (!len)
		return REF_OK;
	if (last < iova || iova < r->pba || last > r->pal) {
		ref_fail(r, REF_RANGE, 0, iova, 0, 0);
		return r->err;
	}
	switch (A_DT(iota)) {
	case A_DT_STO:
		if (last >= A_ST_REACH)
			ref_fail(r, REF_REACH, 0, s, 0, iota);
		else
			ref_walk_st(r, A_ORG_RT(iota), s, last, false);
		break;
	case A_DT_RTTO:
		ref_walk_rt(r, A_ORG_RT(iota), s, last);
		break;
	default:
		ref_fail(r, REF_TYPE, 0, s, 0, iota);
		break;
	}
	return r->err;
}

static void ref_reset(struct ref *r)
{
	memset(r->pg, 0, r->npages * sizeof(*r->pg));
}

/* ------------------------------------------------------------ the fuzzer */

enum fz_mm {
	MM_ANSWER,		/* the guest's or the VMM's answer */
	MM_MISSING,		/* no shadow entry where the reference has one */
	MM_EXTRA,		/* a shadow entry the reference does not have */
	MM_WRONG,		/* another host page or protection */
	MM_COUNT,		/* debugfs pinned/entries totals */
	MM_OTHER,
	MM_KINDS
};

static const char *const fz_mm_name[] = {
	[MM_ANSWER] = "answers", [MM_MISSING] = "missing entries",
	[MM_EXTRA] = "extra entries", [MM_WRONG] = "wrong hpa or protection",
	[MM_COUNT] = "pinned/entries totals", [MM_OTHER] = "other",
};

#define FZ_MAX_ST	4
#define FZ_MAX_PT	64
#define FZ_MAX_ACT	32
#define FZ_POOL		512

struct fz {
	struct __test_metadata *md;
	struct hg *g;
	struct ref ref;
	uint64_t iota;
	uint64_t rt, st[FZ_MAX_ST], pt[FZ_MAX_PT];
	int nst, npt;
	uint64_t act[FZ_MAX_ACT];	/* IOVAs of segments made valid */
	int nact;
	uint64_t pool[FZ_POOL];		/* guest frames of this table set */
	unsigned int bad_pm;		/* per mille of generated entries that are errors */
	unsigned int inval_pct;		/* percentage of generated PTEs that are invalid */
	bool dense;			/* many valid segments: global refreshes need cc 2 */
	uint64_t tbl_next;
	/* checking */
	uint64_t *pm0, *pm1;		/* pagemap of slot 0 / slot 1 */
	uint32_t *stamp;		/* distinct-frame count */
	uint32_t stamp_gen;
	struct zshadow_ent *obs;
	long obs_max;
	/* the RPCIT being checked */
	uint64_t iova, len;
	char answer[160];
	bool ctx_shown;
	bool set_broken;
	/* the debugfs summary: at the start, shadow table pages of an empty domain */
	struct ziommu_summary sum0;
	long tables_base;
	/* totals; busy and vmm_busy count every cc 2 answer of KVM_RUN / the VMM */
	unsigned long sets, dense_sets, rpcits, bound_rpcits, mismatches, shown, busy, vmm_busy;
	unsigned long to_vmm;
	unsigned long errs[REF_FRAME + 1];
	unsigned long kinds[MM_KINDS];
	unsigned int shown_in_set;
};

static void fz_context(struct fz *f)
{
	struct ref *r = &f->ref;

	if (f->ctx_shown)
		return;
	f->ctx_shown = true;
	ksft_print_msg("mismatch in set %lu, RPCIT %lu: iova 0x%llx len 0x%llx, IOTA 0x%llx\n",
		       f->sets, f->rpcits, (unsigned long long)f->iova, (unsigned long long)f->len,
		       (unsigned long long)f->iota);
	if (r->err == REF_OK)
		ksft_print_msg("  reference: no error (%lu entries visited); kernel: %s\n",
			       r->visited, f->answer);
	else
		ksft_print_msg("  reference: %s at IOVA 0x%llx (%s 0x%llx at 0x%llx); kernel: %s\n",
			       ref_err_name[r->err], (unsigned long long)r->err_iova,
			       ref_level_name[r->level], (unsigned long long)r->entry,
			       (unsigned long long)r->entry_gpa, f->answer);
}

static __printf(3, 4) void fz_mismatch(struct fz *f, enum fz_mm kind, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	f->mismatches++;
	f->kinds[kind]++;
	f->set_broken = true;
	if (f->shown >= SHOW_MAX || f->shown_in_set >= SHOW_PER_SET)
		return;
	f->shown++;
	f->shown_in_set++;
	fz_context(f);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ksft_print_msg("  %s\n", buf);
}

static uint64_t fz_tbl(struct fz *f, uint64_t size, uint64_t fill)
{
	uint64_t gpa = (f->tbl_next + size - 1) & ~(size - 1), i;

	if (gpa + size > TBL_END)
		return 0;
	f->tbl_next = gpa + size;
	for (i = 0; i < size; i += 8)
		zt_set(zvm_ptr(&f->g->vm, gpa + i), fill);
	return gpa;
}

static uint64_t *fz_entry(struct fz *f, uint64_t gpa)
{
	return zvm_ptr(&f->g->vm, gpa);
}

/* an address no memslot holds, aligned to mask + 1 */
static uint64_t fz_outside(struct fz *f, uint64_t mask)
{
	struct zvm *vm = &f->g->vm;
	uint64_t a;

	switch (rnd(4)) {
	case 0:		/* between the slots */
		a = vm->mem_size + rnd(vm->hi_gpa - vm->mem_size);
		break;
	case 1:		/* above slot 1 */
		a = vm->hi_gpa + vm->hi_size + rnd(1ULL << 36);
		break;
	case 2:
		a = rnd64() >> rnd(40);
		break;
	default:
		a = rnd64();
		break;
	}
	a &= ~mask;
	if (ref_ram(vm, a, mask + 1) || !a)
		a = (vm->mem_size + ZPCI_MIB) & ~mask;
	return a;
}

static bool fz_bad(struct fz *f)
{
	return rnd(1000) < f->bad_pm;
}

static uint64_t fz_frame(struct fz *f)
{
	return f->pool[rnd(FZ_POOL)];
}

static uint64_t fz_pte(struct fz *f, bool bad)
{
	uint64_t v;

	if (bad)
		return rnd(3) ? fz_outside(f, 0xfff) | (rnd(4) ? 0 : A_PROT) : 0;
	if (rnd(100) < f->inval_pct) {
		v = A_PTE_INVALID;
		if (!rnd(3))	/* invalid with leftovers of a frame */
			v |= fz_frame(f) | (rnd(2) ? A_PROT : 0);
		return v;
	}
	return fz_frame(f) | (rnd(100) < 12 ? A_PROT : 0);
}

static uint64_t fz_pt_origin(struct fz *f)
{
	/* now and then a table that is something else too: type confusion */
	if (!rnd(30))
		return (rnd(2) ? f->st[rnd(f->nst)] : f->rt) + rnd(8) * ZT_PT_SIZE;
	return f->pt[rnd(f->npt)];
}

static uint64_t fz_new_pt(struct fz *f)
{
	uint64_t pt;
	int i;

	if (f->npt >= FZ_MAX_PT)
		return f->pt[rnd(f->npt)];
	pt = fz_tbl(f, ZT_PT_SIZE, A_PTE_INVALID);
	if (!pt)
		return f->pt[rnd(f->npt)];
	for (i = 0; i < ZT_PT_ENTRIES; i++)
		zt_set(fz_entry(f, pt + i * 8), fz_pte(f, fz_bad(f)));
	f->pt[f->npt++] = pt;
	return pt;
}

static uint64_t fz_ste(struct fz *f, bool valid, bool bad)
{
	if (bad) {
		switch (rnd(4)) {
		case 0:
			return 0;
		case 1:
			return fz_pt_origin(f) | A_STE_FC | (rnd(2) ? A_PROT : 0);
		case 2:
			return fz_pt_origin(f) | ((1 + rnd(3)) << 2);
		default:
			return fz_outside(f, 0x7ff) | (rnd(4) ? 0 : A_PROT);
		}
	}
	if (!valid) {
		if (rnd(3))
			return A_TBL_INVALID;
		/* invalid: nothing else in it counts */
		return A_TBL_INVALID | fz_pt_origin(f) | (rnd(4) << 2) |
		       (rnd(2) ? A_STE_FC : 0) | (rnd(2) ? A_PROT : 0);
	}
	return fz_pt_origin(f) | (rnd(100) < 10 ? A_PROT : 0);
}

static uint64_t fz_rte(struct fz *f, bool bad)
{
	uint64_t st = !rnd(40) ? f->rt : f->st[rnd(f->nst)];
	uint64_t tf, tl;

	if (bad) {
		switch (rnd(4)) {
		case 0:
			return 0;
		case 1:
			return st | ((uint64_t)(rnd(3) ? 2 + rnd(2) : 0) << 2) | A_TL_FULL;
		case 2:
			do {
				tf = rnd(4);
				tl = rnd(4);
			} while (!tf && tl == 3);
			return st | A_TT_RTX | (tf << 6) | tl;
		default:
			return fz_outside(f, 0x3fff) | A_TT_RTX | A_TL_FULL;
		}
	}
	/* TL 1: only segment entries 0-1023 of the table, which the walk checks */
	return st | A_TT_RTX | (rnd(10) ? A_TL_FULL : 1) | (rnd(100) < 10 ? A_PROT : 0);
}

/* a new table set, registered as a new nested hwpt; false if registration failed */
static bool fz_new_set(struct fz *f)
{
	struct hg *g = f->g;
	struct zvm *vm = &g->vm;
	uint64_t data_pages = (vm->mem_size - DATA_START) / PG, sx, base;
	int i, j, ret, n;
	static const unsigned int bad_pm[] = { 0, 0, 0, 1, 2, 5, 20 };

	f->sets++;
	f->tbl_next = TBL_START;
	f->nst = 1 + rnd(FZ_MAX_ST);
	f->npt = 0;
	f->nact = 0;
	f->bad_pm = bad_pm[rnd(ARRAY_SIZE(bad_pm))];
	f->dense = !rnd(3);
	f->dense_sets += f->dense;
	if (f->dense)	/* errors stop the walk early: only those of mutations */
		f->bad_pm = 0;
	f->inval_pct = f->dense ? 94 : 42;
	for (i = 0; i < FZ_POOL; i++) {
		if (rnd(4))
			f->pool[i] = DATA_START + rnd(data_pages) * PG;
		else
			f->pool[i] = vm->hi_gpa + rnd(vm->hi_size / PG) * PG;
		if (!rnd(50))	/* a table page (or the lowcore) as a data frame */
			f->pool[i] = rnd(TBL_END / PG) * PG;
		if (!f->pool[i])
			f->pool[i] = PG;
	}
	f->rt = fz_tbl(f, ZT_TABLE_SIZE, A_TBL_INVALID);
	for (i = 0; i < f->nst; i++)
		f->st[i] = fz_tbl(f, ZT_TABLE_SIZE, A_TBL_INVALID);
	n = 1 + rnd(16);
	for (i = 0; i < n; i++)
		fz_new_pt(f);
	/*
	 * segment tables: a few valid entries (aliasing page tables), the rest
	 * invalid; a dense set has more valid segments in st[0] than one RPCIT
	 * may walk (MAX_VISIT / 256), their PTEs mostly invalid
	 */
	for (j = 0; j < f->nst; j++) {
		for (i = 0; i < ZT_TABLE_ENTRIES; i++)
			zt_set(fz_entry(f, f->st[j] + i * 8), fz_ste(f, false, fz_bad(f)));
		n = f->dense && !j ? 140 + rnd(200) : 2 + rnd(24);
		for (i = 0; i < n; i++) {
			sx = rnd(1024);		/* the aperture's part of the region */
			zt_set(fz_entry(f, f->st[j] + sx * 8), fz_ste(f, true, fz_bad(f)));
			base = (g->pba & ~(A_REG_SIZE - 1)) + sx * A_SEG_SIZE;
			if (!j && f->nact < FZ_MAX_ACT && base >= g->pba && base <= g->pal)
				f->act[f->nact++] = base;
		}
	}
	/* region table: the aperture's entry on st[0], others aliasing segment tables */
	for (i = 0; i < ZT_TABLE_ENTRIES; i++)
		zt_set(fz_entry(f, f->rt + i * 8), rnd(3) ? A_TBL_INVALID : fz_rte(f, fz_bad(f)));
	zt_set(fz_entry(f, f->rt + A_RX(g->pba) * 8),
	       fz_bad(f) ? fz_rte(f, true) :
	       (f->st[0] | A_TT_RTX | A_TL_FULL | (rnd(100) < 8 ? A_PROT : 0)));

	if (!rnd(11))
		f->iota = f->st[0];	/* designation type 0: segment table (STO) */
	else if (!rnd(30))
		f->iota = fz_outside(f, 0x3fff) | ZT_IOTA_DT_RT;
	else
		f->iota = f->rt | ZT_IOTA_DT_RT;
	__sync_synchronize();

	ref_reset(&f->ref);
	f->set_broken = false;
	f->shown_in_set = 0;
	ret = hg_register(g, f->iota);
	if (!ret && f->sets == 1) {
		struct ziommu_summary sum;

		ret = ziommu_summary_read(&sum);
		if (ret) {
			f->ctx_shown = true;
			fz_mismatch(f, MM_OTHER, "debugfs summary: %s", strerror(-ret));
			return false;
		}
		f->tables_base = sum.tables;
	}
	if (ret) {
		f->iova = 0;
		f->len = 0;
		snprintf(f->answer, sizeof(f->answer), "allocate/attach: %s", strerror(-ret));
		f->ctx_shown = false;
		f->ref.err = REF_OK;
		fz_mismatch(f, MM_OTHER,
			    "nested hwpt for IOTA 0x%llx: %s, want it allocated and attached",
			    (unsigned long long)f->iota, strerror(-ret));
		return false;
	}
	return true;
}

/* change the tables a bit, as a guest does between RPCITs */
static void fz_mutate(struct fz *f)
{
	uint64_t rte = f->rt + A_RX(f->g->pba) * 8, e;
	unsigned int p = rnd(100);
	bool bad = rnd(100) < (f->dense ? 3 : 12);
	int i, st;

	if (p < 55) {
		e = f->pt[rnd(f->npt)] + rnd(ZT_PT_ENTRIES) * 8;
		zt_set(fz_entry(f, e), fz_pte(f, bad));
	} else if (p < 85) {
		st = rnd(f->nst);
		if (f->nact && rnd(3))
			e = f->st[st] + A_SX(f->act[rnd(f->nact)]) * 8;
		else
			e = f->st[st] + rnd(1024) * 8;
		if (!bad && !rnd(5)) {
			zt_set(fz_entry(f, e), fz_new_pt(f) | (rnd(10) ? 0 : A_PROT));
			return;
		}
		zt_set(fz_entry(f, e), fz_ste(f, rnd(4), bad));
	} else if (p < 90) {
		/* the region entry: back to a good one mostly */
		zt_set(fz_entry(f, rte), rnd(3) ? fz_rte(f, false) :
			     rnd(2) ? A_TBL_INVALID : fz_rte(f, true));
	} else if (p < 95) {
		e = f->pt[rnd(f->npt)];
		for (i = 0; i < ZT_PT_ENTRIES; i++)
			zt_set(fz_entry(f, e + i * 8), rnd(2) ? A_PTE_INVALID : fz_pte(f, false));
	} else {
		/* protection flips at some level */
		e = f->st[rnd(f->nst)] + A_SX(f->nact ? f->act[rnd(f->nact)] : 0) * 8;
		if (rnd(2))
			e = rte;
		zt_set(fz_entry(f, e), zt_get(fz_entry(f, e)) ^ A_PROT);
	}
}

static void fz_range(struct fz *f, uint64_t *iova, uint64_t *len)
{
	uint64_t pba = f->g->pba, pal = f->g->pal, a, last, off;
	unsigned int p = rnd(100);

	if (p < 6) {		/* nothing to do, wherever */
		*iova = rnd(3) ? pba + rnd((pal - pba) / PG) * PG : rnd64();
		*len = 0;
		return;
	}
	if (p < (f->dense ? 40 : 20)) {	/* the guest's global refresh */
		*iova = pba;
		*len = pal - pba + 1;
		return;
	}
	if (p < 28) {		/* across or outside [pba, pal] */
		switch (rnd(4)) {
		case 0:
			*iova = pba - (1 + rnd(16)) * PG;
			*len = pba - *iova + (1 + rnd(64)) * PG;
			break;
		case 1:
			*iova = pal + 1 - (1 + rnd(64)) * PG;
			*len = pal + 1 - *iova + (1 + rnd(16)) * PG;
			break;
		case 2:
			*iova = pal + 1 + rnd(1ULL << 30) * PG;
			*len = (1 + rnd(8)) * PG;
			break;
		default:	/* wraps */
			*iova = ~0ULL - rnd(4) * PG - (PG - 1);
			*len = (2 + rnd(4)) * PG;
			break;
		}
		return;
	}
	if (f->nact && rnd(10) < 7)
		a = f->act[rnd(f->nact)] + rnd(ZT_PT_ENTRIES + 32) * PG - 16 * PG;
	else
		a = pba + rnd((pal - pba + 1) / PG) * PG;
	if (a < pba || a > pal)
		a = pba;
	last = a + (1 + rnd(rnd(2) ? 32 : 1024)) * PG - 1;
	if (last > pal)
		last = pal;
	if (!rnd(10)) {		/* not page aligned */
		off = rnd(PG);
		a += off;
		if (a > last)
			a = last;
		last -= rnd(last - a + 1) / 2;
	}
	*iova = a;
	*len = last - a + 1;
}

static void fz_pagemap(struct fz *f)
{
	struct hg *g = f->g;
	size_t n0 = g->vm.mem_size / PG, n1 = g->vm.hi_size / PG;

	if (pread(g->pm_fd, f->pm0, n0 * 8, ((uintptr_t)g->vm.mem / PG) * 8) != (ssize_t)(n0 * 8))
		memset(f->pm0, 0, n0 * 8);
	if (n1 && pread(g->pm_fd, f->pm1, n1 * 8, ((uintptr_t)g->vm.hi_mem / PG) * 8) !=
	    (ssize_t)(n1 * 8))
		memset(f->pm1, 0, n1 * 8);
}

/* index of a guest frame in pm0/pm1 (pm1 after pm0), -1 if not guest RAM */
static long fz_frame_idx(struct fz *f, uint64_t gpa)
{
	struct zvm *vm = &f->g->vm;

	if (gpa < vm->mem_size)
		return gpa / PG;
	if (vm->hi_mem && gpa >= vm->hi_gpa && gpa - vm->hi_gpa < vm->hi_size)
		return vm->mem_size / PG + (gpa - vm->hi_gpa) / PG;
	return -1;
}

static uint64_t fz_hpa(struct fz *f, long idx)
{
	long n0 = f->g->vm.mem_size / PG;
	uint64_t e = idx < n0 ? f->pm0[idx] : f->pm1[idx - n0];

	if (!(e & (1ULL << 63)))
		return 0;
	return (e & ((1ULL << 55) - 1)) * PG;
}

/*
 * The debugfs summary against the reference: this domain alone, its pins,
 * a shadow table for each region and segment with a valid page and nothing
 * else, no pending range and no failed host RPCIT
 */
static void fz_summary(struct fz *f, long pinned, long tables)
{
	struct ziommu_summary s;
	int ret;

	ret = ziommu_summary_read(&s);
	if (ret) {
		fz_mismatch(f, MM_OTHER, "debugfs summary: %s", strerror(-ret));
		return;
	}
	if (s.domains != 1 || s.attached != 1)
		fz_mismatch(f, MM_COUNT, "summary: domains %ld attached %ld, want 1 and 1",
			    s.domains, s.attached);
	if (s.pins != pinned || s.tables != f->tables_base + tables)
		fz_mismatch(f, MM_COUNT, "summary: pins %ld tables %ld, want %ld and %ld (%ld+%ld)",
			    s.pins, s.tables, pinned, f->tables_base + tables, f->tables_base,
			    tables);
	if (s.pending || s.host_rpcit_failures != f->sum0.host_rpcit_failures)
		fz_mismatch(f, MM_COUNT, "summary: pending %ld host_rpcit_failures %+ld, want 0 +0",
			    s.pending, s.host_rpcit_failures - f->sum0.host_rpcit_failures);
}

/* every shadow entry of [pba, pal] against the reference */
static void fz_compare(struct fz *f)
{
	struct ref *r = &f->ref;
	long n, j = 0, pinned, entries, valid = 0, frames = 0, idx, tables = 0;
	uint64_t i, iova, hpa, seg = ~0ULL, reg = ~0ULL;
	struct zshadow_ent *o;
	struct ref_page *p;

	n = zshadow_read(FH, r->pba, r->pal, f->obs, f->obs_max, &pinned, &entries);
	if (n < 0) {
		fz_mismatch(f, MM_OTHER, "debugfs view of the shadow: %s", strerror(-n));
		return;
	}
	if (n > f->obs_max) {
		fz_mismatch(f, MM_EXTRA,
			    "debugfs lists %ld entries, more than the aperture's %ld pages",
			    n, f->obs_max);
		n = f->obs_max;
	}
	fz_pagemap(f);
	f->stamp_gen++;
	for (i = 0; i < r->npages; i++) {
		iova = r->pba + i * PG;
		p = &r->pg[i];
		while (j < n && f->obs[j].iova < iova) {
			o = &f->obs[j++];
			fz_mismatch(f, MM_EXTRA,
				    "unexpected shadow entry: IOVA 0x%llx (hpa 0x%llx %s)",
				    (unsigned long long)o->iova, (unsigned long long)o->hpa,
				    o->ro ? "ro" : "rw");
		}
		o = j < n && f->obs[j].iova == iova ? &f->obs[j++] : NULL;
		if (!p->valid) {
			if (o)
				fz_mismatch(f, MM_EXTRA,
					    "IOVA 0x%llx: shadow maps hpa 0x%llx %s, want no translation",
					    (unsigned long long)iova, (unsigned long long)o->hpa,
					    o->ro ? "ro" : "rw");
			continue;
		}
		valid++;
		if (iova / A_SEG_SIZE != seg) {
			seg = iova / A_SEG_SIZE;
			tables++;
		}
		if (iova / A_REG_SIZE != reg) {
			reg = iova / A_REG_SIZE;
			tables++;
		}
		idx = fz_frame_idx(f, p->gpa);
		if (idx >= 0 && f->stamp[idx] != f->stamp_gen) {
			f->stamp[idx] = f->stamp_gen;
			frames++;
		}
		hpa = idx >= 0 ? fz_hpa(f, idx) : 0;
		if (!o) {
			fz_mismatch(f, MM_MISSING,
				    "IOVA 0x%llx: no shadow entry, want gpa 0x%llx (hpa 0x%llx) %s",
				    (unsigned long long)iova, (unsigned long long)p->gpa,
				    (unsigned long long)hpa, p->ro ? "ro" : "rw");
			continue;
		}
		if (!hpa || o->hpa != hpa || o->ro != p->ro)
			fz_mismatch(f, MM_WRONG,
				    "IOVA 0x%llx: shadow hpa 0x%llx %s, want gpa 0x%llx = hpa 0x%llx %s",
				    (unsigned long long)iova, (unsigned long long)o->hpa,
				    o->ro ? "ro" : "rw", (unsigned long long)p->gpa,
				    (unsigned long long)hpa, p->ro ? "ro" : "rw");
	}
	while (j < n) {
		o = &f->obs[j++];
		fz_mismatch(f, MM_EXTRA, "unexpected shadow entry: IOVA 0x%llx (hpa 0x%llx %s)",
			    (unsigned long long)o->iova, (unsigned long long)o->hpa,
			    o->ro ? "ro" : "rw");
	}
	if (entries != valid || pinned != frames)
		fz_mismatch(f, MM_COUNT,
			    "debugfs: pinned %ld entries %ld, want pinned %ld entries %ld",
			    pinned, entries, frames, valid);
	fz_summary(f, frames, tables);
}

/* one random RPCIT, its answer and the whole shadow checked */
static void fz_step(struct fz *f)
{
	unsigned long visits, lo = 0, hi = BUSY_SLACK, vb = 0;
	struct hg *g = f->g;
	struct rpcit_res o;
	enum ref_err want;
	int ret, cc, st;

	fz_range(f, &f->iova, &f->len);
	f->rpcits++;
	f->ctx_shown = false;
	want = ref_refresh(&f->ref, f->iota, f->iova, f->len);
	f->errs[want]++;
	/*
	 * cc 2 answers the work bound demands: the kernel examines the entries
	 * the reference visits (an unreadable table it does not enter)
	 */
	visits = f->ref.visited - (want == REF_UNREADABLE);
	if (visits) {
		lo = (visits - 1) / MAX_VISIT;
		hi += (visits - 1) / (MAX_VISIT - 2 * (MAX_VISIT / CHUNK_VISIT));
	}
	if (lo)
		f->bound_rpcits++;
	ret = rpcit(g, f->iova, f->len, &o);
	f->busy += o.busy;
	if (!ret && o.r.exit_reason == KVM_EXIT_INTR && o.r.cc == 2)
		f->busy++;
	if (ret) {
		snprintf(f->answer, sizeof(f->answer), "KVM_RUN: %s", strerror(-ret));
		fz_mismatch(f, MM_ANSWER, "KVM_RUN failed: %s", strerror(-ret));
		return;
	}
	answer_str(&o, f->answer, sizeof(f->answer));
	if (o.r.exit_reason == KVM_EXIT_S390_SIEIC)
		f->to_vmm++;
	if ((unsigned long)o.busy < lo || (unsigned long)o.busy > hi)
		fz_mismatch(f, MM_ANSWER, "cc 2 %d times first, want %lu-%lu (%lu entries)",
			    o.busy, lo, hi, visits);
	if (want == REF_OK) {
		if (o.r.exit_reason != KVM_EXIT_INTR || o.r.cc != 0)
			fz_mismatch(f, MM_ANSWER, "answer: %s, want cc 0", f->answer);
	} else if (!handed_over(&o)) {
		fz_mismatch(f, MM_ANSWER, "answer: %s, want a hand-over to the VMM", f->answer);
	} else {
		ret = vmm_refresh(g, f->iova, f->len, &cc, &st, &vb);
		f->vmm_busy += vb;
		if (ret || cc != 1 || st != ZPCI_STATUS_ERROR)
			fz_mismatch(f, MM_ANSWER,
				    "VMM's IOMMU_HWPT_INVALIDATE: %s, cc %d status %d, want cc 1 status 8",
				    ret ? strerror(-ret) : "ok", cc, st);
		else if (vb < lo || vb > hi)
			fz_mismatch(f, MM_ANSWER,
				    "VMM's IOMMU_HWPT_INVALIDATE: %lu cc 2 first, want %lu-%lu",
				    vb, lo, hi);
	}
	fz_compare(f);
}

static void fz_init(struct __test_metadata *_metadata, struct fz *f, struct hg *g)
{
	size_t nf = (g->vm.mem_size + g->vm.hi_size) / PG;

	memset(f, 0, sizeof(*f));
	f->md = _metadata;
	f->g = g;
	f->ref.vm = &g->vm;
	f->ref.pba = g->pba;
	f->ref.pal = g->pal;
	f->ref.npages = (g->pal - g->pba + 1) / PG;
	f->ref.pg = calloc(f->ref.npages, sizeof(*f->ref.pg));
	f->obs_max = f->ref.npages;
	f->obs = calloc(f->obs_max, sizeof(*f->obs));
	f->pm0 = calloc(g->vm.mem_size / PG, 8);
	f->pm1 = calloc(g->vm.hi_size / PG + 1, 8);
	f->stamp = calloc(nf, sizeof(*f->stamp));
	ASSERT_TRUE(f->ref.pg && f->obs && f->pm0 && f->pm1 && f->stamp);
}

static void fz_fini(struct fz *f)
{
	free(f->ref.pg);
	free(f->obs);
	free(f->pm0);
	free(f->pm1);
	free(f->stamp);
}

/* ------------------------------------------------------------ watchdog */

struct watchdog {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int seconds;
	const char *what;
};

static void *watchdog_fn(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += w->seconds;
	pthread_mutex_lock(&w->lock);
	while (!w->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	pthread_mutex_unlock(&w->lock);
	if (!w->done) {
		ksft_print_msg("%s did not return within %d s: failing the test\n", w->what,
			       w->seconds);
		fflush(stdout);
		_exit(KSFT_FAIL);
	}
	return NULL;
}

static void watchdog_start(struct watchdog *w, int seconds, const char *what)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->seconds = seconds;
	w->what = what;
	pthread_create(&w->th, NULL, watchdog_fn, w);
}

static void watchdog_stop(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->th, NULL);
}

/* ------------------------------------------------------------ aliased tables */

/* the aliased cases use the first ALIAS_SIZE of the aperture; false if it is smaller */
static bool alias_aperture(struct hg *g)
{
	if (g->pal - g->pba < ALIAS_SIZE - 1)
		return false;
	g->pal = g->pba + ALIAS_SIZE - 1;
	return true;
}

static uint64_t alias_pages(const struct hg *g)
{
	return (g->pal - g->pba + 1) / PG;
}

/* shadow tables of the fully mapped aperture: segment tables and page tables */
static long alias_tables(const struct hg *g)
{
	return (long)(g->pal / A_REG_SIZE - g->pba / A_REG_SIZE + 1) +
	       (long)(g->pal / A_SEG_SIZE - g->pba / A_SEG_SIZE + 1);
}

/* guest entries a global refresh examines: region entries, segment entries, PTEs */
static unsigned long alias_visits(const struct hg *g)
{
	return alias_tables(g) + alias_pages(g);
}

/*
 * cc 2 answers of a global refresh over the aliased tables: one
 * instruction examines at most MAX_VISIT entries, at least that many less
 * the region and segment entry each chunk examines again where it resumes
 */
static unsigned long alias_min_busy(const struct hg *g)
{
	return (alias_visits(g) - 1) / MAX_VISIT;
}

static unsigned long alias_max_busy(const struct hg *g)
{
	return (alias_visits(g) - 1) / (MAX_VISIT - 2 * (MAX_VISIT / CHUNK_VISIT));
}

/*
 * Every region entry on one segment table, every segment entry on one page
 * table whose PTEs px = 0, step, 2 * step, ... map frames[px], the others
 * invalid (step 1: 256 valid PTEs, each page of [pba, pal] maps
 * frames[px]). 0 or -ENOMEM.
 */
static int alias_build(struct hg *g, uint64_t *iota, uint64_t *pt,
		       uint64_t frames[ZT_PT_ENTRIES], int step)
{
	uint64_t rt, st;
	int i;

	rt = zvm_alloc(&g->vm, ZT_TABLE_SIZE, ZT_TABLE_SIZE);
	st = zvm_alloc(&g->vm, ZT_TABLE_SIZE, ZT_TABLE_SIZE);
	*pt = zvm_alloc(&g->vm, ZT_PT_SIZE, ZT_PT_SIZE);
	if (!rt || !st || !*pt)
		return -ENOMEM;
	for (i = 0; i < ZT_TABLE_ENTRIES; i++) {
		zt_set(zvm_ptr(&g->vm, rt + i * 8), st | A_TT_RTX | A_TL_FULL);
		zt_set(zvm_ptr(&g->vm, st + i * 8), *pt | A_TT_SX);
	}
	for (i = 0; i < ZT_PT_ENTRIES; i++) {
		frames[i] = zvm_alloc_scattered_page(&g->vm);
		if (!frames[i])
			return -ENOMEM;
		zt_set(zvm_ptr(&g->vm, *pt + i * 8), i % step ? A_PTE_INVALID : frames[i]);
	}
	__sync_synchronize();
	*iota = rt | ZT_IOTA_DT_RT;
	return 0;
}

static void alias_set_frames(struct hg *g, uint64_t pt, const uint64_t *frames)
{
	int i;

	for (i = 0; i < ZT_PT_ENTRIES; i++)
		zt_set(zvm_ptr(&g->vm, pt + i * 8), frames ? frames[i] : A_PTE_INVALID);
	__sync_synchronize();
}

static long run_bound_ms = RUN_BOUND_MIN_MS;

/* the time bound of one KVM_RUN from the time one chunk of aliased PTEs took */
static void alias_set_bound(long chunk_ms)
{
	long ms = 3 * chunk_ms * (long)(MAX_VISIT / CHUNK_VISIT);

	run_bound_ms = ms > RUN_BOUND_MIN_MS ? ms : RUN_BOUND_MIN_MS;
}

/* one RPCIT through KVM_RUN under a watchdog: the process fails if it does not return */
static int rpcit_bounded(struct hg *g, uint64_t iova, uint64_t len, struct rpcit_res *o,
			 long *ms)
{
	static char what[128];
	struct watchdog w;
	int ret;

	snprintf(what, sizeof(what), "KVM_RUN of an RPCIT of 0x%llx bytes over aliased tables",
		 (unsigned long long)len);
	watchdog_start(&w, run_bound_ms / 1000, what);
	*ms = now_ms();
	ret = rpcit_once(g, iova, len, o);
	*ms = now_ms() - *ms;
	watchdog_stop(&w);
	return ret;
}

static void sum_get(struct __test_metadata *_metadata, struct ziommu_summary *s)
{
	int ret = ziommu_summary_read(s);

	ASSERT_EQ(0, ret) TH_LOG("debugfs summary: %s", strerror(-ret));
}

/*
 * A global RPCIT through KVM_RUN: each KVM_RUN bounded in time, cc 2 as
 * often as the work bound demands (a few more for transient pin trouble),
 * then cc 0; the summary counts each cc 2 and no hand-over
 */
static void alias_global(struct __test_metadata *_metadata, struct hg *g, const char *what)
{
	unsigned long busy = 0, lo = alias_min_busy(g), hi = alias_max_busy(g) + BUSY_SLACK;
	long t0 = now_ms(), ms, max_ms = 0;
	struct ziommu_summary s0, s1;
	struct rpcit_res o;
	char buf[160];
	int ret;

	sum_get(_metadata, &s0);
	for (;;) {
		ret = rpcit_bounded(g, g->pba, g->pal - g->pba + 1, &o, &ms);
		ASSERT_EQ(0, ret) TH_LOG("%s: KVM_RUN: %s", what, strerror(-ret));
		if (ms > max_ms)
			max_ms = ms;
		if (o.r.exit_reason != KVM_EXIT_INTR || o.r.cc != 2 || busy > hi)
			break;
		busy++;
	}
	TH_LOG("%s: %s after %lu cc 2 answers, %ld ms (slowest KVM_RUN %ld ms)", what,
	       answer_str(&o, buf, sizeof(buf)), busy, now_ms() - t0, max_ms);
	ASSERT_EQ(KVM_EXIT_INTR, o.r.exit_reason) TH_LOG("%s: %s", what, buf);
	ASSERT_EQ(0, o.r.cc) TH_LOG("%s: %s", what, buf);
	ASSERT_LE(lo, busy) TH_LOG("%s: %lu guest entries answered with %lu cc 2, want %lu-%lu",
				   what, alias_visits(g), busy, lo, hi);
	ASSERT_GE(hi, busy);
	sum_get(_metadata, &s1);
	ASSERT_EQ((long)busy, s1.busy - s0.busy) TH_LOG("%s: summary busy", what);
	ASSERT_EQ(0, s1.to_vmm - s0.to_vmm) TH_LOG("%s: summary to_vmm", what);
}

/*
 * RPCIT of ALIAS_CAL_SEGS segments (one chunk of PTEs) first: its time sets
 * the bound of one KVM_RUN; returns it (ms)
 */
static long alias_calibrate(struct __test_metadata *_metadata, struct hg *g)
{
	uint64_t len = ALIAS_CAL_SEGS * A_SEG_SIZE;
	struct rpcit_res o;
	long ms;
	int busy = 0;

	do {
		ASSERT_EQ(0, rpcit_bounded(g, g->pba, len, &o, &ms));
		ASSERT_EQ(KVM_EXIT_INTR, o.r.exit_reason);
	} while (o.r.cc == 2 && ++busy <= BUSY_SLACK);
	ASSERT_EQ(0, o.r.cc) TH_LOG("RPCIT of %lu aliased segments: cc %d", ALIAS_CAL_SEGS,
				    o.r.cc);
	alias_set_bound(ms);
	TH_LOG("RPCIT of %lu aliased segments (%lu pages): %ld ms, %ld us per page",
	       ALIAS_CAL_SEGS, CHUNK_VISIT, ms, ms * 1000 / (long)CHUNK_VISIT);
	TH_LOG("time bound of one KVM_RUN: %ld s", run_bound_ms / 1000);
	return ms;
}

/*
 * Sampled IOVAs map frames[px] rw (with frames, else nothing); debugfs and
 * the summary: every page or none mapped, 256 frames or none pinned, and
 * shadow tables only for what is mapped
 */
static void alias_check(struct __test_metadata *_metadata, struct hg *g, const uint64_t *frames,
			long tables_base)
{
	uint64_t npages = alias_pages(g), iova, hpa;
	long n, pinned, entries;
	struct ziommu_summary s;
	struct zshadow_ent e;
	int i;

	n = zshadow_read(FH, g->pba, g->pba, &e, 1, &pinned, &entries);
	ASSERT_LE(0, n) TH_LOG("debugfs: %s", strerror(-n));
	ASSERT_EQ(frames ? (long)npages : 0, entries);
	ASSERT_EQ(frames ? ZT_PT_ENTRIES : 0, pinned);
	sum_get(_metadata, &s);
	ASSERT_EQ(1, s.domains);
	ASSERT_EQ(pinned, s.pins);
	ASSERT_EQ(tables_base + (frames ? alias_tables(g) : 0), s.tables)
		TH_LOG("shadow table pages: %ld, want %ld + %ld", s.tables, tables_base,
		       frames ? alias_tables(g) : 0);
	ASSERT_EQ(0, s.pending);
	for (i = 0; i < 66; i++) {
		iova = i == 0 ? g->pba : i == 1 ? g->pal & ~(PG - 1) : g->pba + rnd(npages) * PG;
		n = zshadow_read(FH, iova, iova + PG - 1, &e, 1, NULL, NULL);
		ASSERT_EQ(frames ? 1 : 0, n) TH_LOG("IOVA 0x%llx: %ld shadow entries",
						    (unsigned long long)iova, n);
		if (!frames)
			continue;
		hpa = hva_to_hpa(g->pm_fd, zvm_ptr(&g->vm, frames[A_PX(iova)]));
		ASSERT_NE(0, hpa);
		ASSERT_EQ(iova, e.iova);
		ASSERT_EQ(hpa, e.hpa) TH_LOG("IOVA 0x%llx: hpa 0x%llx, want 0x%llx",
					     (unsigned long long)iova, (unsigned long long)e.hpa,
					     (unsigned long long)hpa);
		ASSERT_FALSE(e.ro);
	}
}

/* VM, device, aliased tables registered; *tables_base: table pages of the empty shadow */
static void alias_up(struct __test_metadata *_metadata, struct hg *g, uint64_t *pt,
		     uint64_t frames[ZT_PT_ENTRIES], long *tables_base)
{
	struct ziommu_summary s;
	uint64_t iota;
	int ret;

	hg_up(_metadata, g, false);
	ASSERT_TRUE(alias_aperture(g)) TH_LOG("DMA aperture 0x%llx-0x%llx below %llu MiB",
					      (unsigned long long)g->pba,
					      (unsigned long long)g->pal, ALIAS_SIZE / ZPCI_MIB);
	hg_prefault(g);
	ASSERT_EQ(0, alias_build(g, &iota, pt, frames, 1));
	ret = hg_register(g, iota);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt: %s", strerror(-ret));
	sum_get(_metadata, &s);
	ASSERT_EQ(1, s.domains);
	ASSERT_EQ(0, s.pins);
	*tables_base = s.tables;
}

/* after hg_down(): no domain, no shadow table left (polled up to 2 s) */
static void summary_back(struct __test_metadata *_metadata, const struct ziommu_summary *s0)
{
	struct ziommu_summary s;
	long t0 = now_ms();

	for (;;) {
		sum_get(_metadata, &s);
		if ((s.domains == s0->domains && s.tables == s0->tables && s.pins == s0->pins) ||
		    now_ms() - t0 > 2000)
			break;
		usleep(20000);
	}
	ASSERT_EQ(s0->domains, s.domains);
	ASSERT_EQ(s0->tables, s.tables);
	ASSERT_EQ(s0->pins, s.pins);
	ASSERT_EQ(0, s.pending);
}

/* ------------------------------------------------------------ VMM children */

/* what a VMM child tells the test once its aliased tables are registered */
struct child_ready {
	long chunk_ms;		/* the time one chunk of aliased PTEs took */
	unsigned long busy;	/* cc 2 answers it got for that */
};

/*
 * The child's VM and aliased tables (alias_build() with step) on the small
 * aperture, registered, one chunk of PTEs refreshed through
 * IOMMU_HWPT_INVALIDATE and timed; 0 or an exit code
 */
static int child_up(struct hg *g, uint64_t *pt, uint64_t frames[ZT_PT_ENTRIES], int step,
		    struct child_ready *rdy)
{
	uint64_t iota;
	int cc, st;
	long t;

	hg_clear(g);
	memset(rdy, 0, sizeof(*rdy));
	if (zdev_open(&g->d, ZPCI_VFIO_DEV) || zvm_create(&g->vm, ZSETUP_MEM))
		return 2;
	zdev_aperture(&g->d, &g->pba, &g->pal);
	if (!alias_aperture(g))
		return 3;
	hg_prefault(g);
	if (alias_build(g, &iota, pt, frames, step))
		return 4;
	if (hg_register(g, iota))
		return 5;
	t = now_ms();
	if (vmm_refresh(g, g->pba, ALIAS_CAL_SEGS * A_SEG_SIZE, &cc, &st, &rdy->busy) || cc)
		return 6;
	rdy->chunk_ms = now_ms() - t;
	return 0;
}

/* fork a VMM child running fn, wait for its child_ready; the pid or -1 */
static pid_t child_start(struct __test_metadata *_metadata, const char *how,
			 void (*fn)(int wfd, void *arg), void *arg, struct child_ready *rdy)
{
	struct pollfd pfd;
	int pipefd[2], status = 0, ret;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		close(pipefd[0]);
		fn(pipefd[1], arg);
		_exit(1);
	}
	close(pipefd[1]);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	ret = poll(&pfd, 1, READY_MS);
	if (ret != 1 || read(pipefd[0], rdy, sizeof(*rdy)) != sizeof(*rdy)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(pipefd[0]);
		TH_LOG("%s child: not ready (exit status 0x%x)", how, status);
		return -1;
	}
	close(pipefd[0]);
	TH_LOG("%s child: the first %lu aliased PTEs refreshed in %ld ms (%lu cc 2)", how,
	       CHUNK_VISIT, rdy->chunk_ms, rdy->busy);
	return pid;
}

/* SIGKILL the child; it must be reaped within REAP_MS + REAP_CHUNKS chunks of work */
static void child_kill(struct __test_metadata *_metadata, const char *how, pid_t pid,
		       const struct child_ready *rdy)
{
	long t0, bound = opt_reap_ms + REAP_CHUNKS * rdy->chunk_ms;
	int status = 0;
	pid_t w;

	t0 = now_ms();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	do {
		w = waitpid(pid, &status, WNOHANG);
		if (!w)
			usleep(20000);
	} while (!w && now_ms() - t0 < bound);
	if (!w) {
		TH_LOG("%s child not reaped %ld ms after SIGKILL", how, bound);
		waitpid(pid, &status, 0);
		ASSERT_TRUE(false) TH_LOG("reaped after %ld ms", now_ms() - t0);
	}
	ASSERT_EQ(pid, w);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("%s child status 0x%x", how, status);
	TH_LOG("%s child reaped %ld ms after SIGKILL (bound %ld ms)", how, now_ms() - t0, bound);
}

/* ------------------------------------------------------------ device */

static void recover_function(struct __test_metadata *_metadata, int kmsg)
{
	char err[256];
	int ret;

	ret = zv_recover(ZPCI_VFIO_DEV, kmsg, err, sizeof(err));
	ASSERT_EQ(0, ret) TH_LOG("recover the function: %s", err);
	ret = zv_healthy(ZPCI_VFIO_DEV, err, sizeof(err));
	ASSERT_EQ(0, ret) TH_LOG("function not usable after recover: %s", err);
}

/* ------------------------------------------------------------ fixture */

FIXTURE(hostile) {
	struct hg g;
	long t0;
};

FIXTURE_SETUP(hostile)
{
	char err[256];

	hg_clear(&self->g);
	self->t0 = now_ms();
	rnd_state = opt_seed;
	ASSERT_EQ(0, access(ZPCI_VFIO_DEV, R_OK | W_OK))
		TH_LOG("%s: %s", ZPCI_VFIO_DEV, strerror(errno));
	if (zv_healthy(ZPCI_VFIO_DEV, err, sizeof(err))) {
		TH_LOG("function left unusable by an earlier test (%s): recovering", err);
		recover_function(_metadata, -1);
	}
}

FIXTURE_TEARDOWN(hostile)
{
	struct hg *g = &self->g;
	bool broken = g->faulted;

	if (!broken && g->v.common.present && g->d.devfd >= 0 && zv_status(&g->v) == 0xff) {
		TH_LOG("the function does not answer: unexpected DMA fault");
		broken = true;
	}
	hg_down(g);
	if (broken) {
		recover_function(_metadata, g->kmsg);
		TH_LOG("function recovered after the fault");
	}
	if (g->kmsg >= 0)
		close(g->kmsg);
	TH_LOG("%s: %ld ms", _metadata->name, now_ms() - self->t0);
}

/* ------------------------------------------------------------ 1: the fuzzer */

TEST_F_TIMEOUT(hostile, hostile_guest, 400)
{
	struct hg *g = &self->g;
	unsigned long i, k, per_set = 0;
	struct ziommu_summary sum;
	long t0, kb0, foll0;
	struct fz f;
	int ret;

	ksft_print_msg("hostile guest: seed %llu (-s %llu repeats it), up to %lu RPCITs in %d s\n",
		       (unsigned long long)opt_seed, (unsigned long long)opt_seed, opt_iters,
		       FUZZ_BUDGET_MS / 1000);
	hg_up(_metadata, g, true);
	kb0 = g->kb0;
	foll0 = g->foll0;
	hg_prefault(g);
	fz_init(_metadata, &f, g);
	ret = ziommu_summary_read(&f.sum0);
	ASSERT_EQ(0, ret) TH_LOG("debugfs summary: %s", strerror(-ret));
	t0 = now_ms();
	for (i = 0; i < opt_iters && now_ms() - t0 < FUZZ_BUDGET_MS; i++) {
		if (!per_set || f.set_broken) {
			if (!fz_new_set(&f))
				continue;
			fz_compare(&f);
			per_set = 8 + rnd(40);
		}
		for (k = 1 + rnd(6); k; k--)
			fz_mutate(&f);
		fz_step(&f);
		per_set--;
	}
	/* every hand-over and every cc 2 answer counted once in the summary */
	ret = ziommu_summary_read(&sum);
	f.ctx_shown = true;
	f.shown = 0;
	f.shown_in_set = 0;
	if (ret)
		fz_mismatch(&f, MM_OTHER, "debugfs summary: %s", strerror(-ret));
	else if (sum.to_vmm - f.sum0.to_vmm != (long)f.to_vmm ||
		 sum.busy - f.sum0.busy != (long)(f.busy + f.vmm_busy))
		fz_mismatch(&f, MM_COUNT,
			    "summary: to_vmm %+ld busy %+ld, want %+ld and %+ld",
			    sum.to_vmm - f.sum0.to_vmm, sum.busy - f.sum0.busy, (long)f.to_vmm,
			    (long)(f.busy + f.vmm_busy));
	ksft_print_msg("hostile guest: %lu dense sets, %lu RPCITs beyond the work bound\n",
		       f.dense_sets, f.bound_rpcits);
	ksft_print_msg("hostile guest: cc 2 %lu (VMM %lu), handed to the VMM %lu; reference:",
		       f.busy, f.vmm_busy, f.to_vmm);
	for (k = REF_RANGE; k <= REF_FRAME; k++)
		printf(" %s %lu,", ref_err_name[k], f.errs[k]);
	printf(" none %lu\n", f.errs[REF_OK]);
	if (f.mismatches) {
		ksft_print_msg("hostile guest: mismatches:");
		for (k = 0; k < MM_KINDS; k++)
			printf(" %s %lu%s", fz_mm_name[k], f.kinds[k],
			       k + 1 < MM_KINDS ? "," : "\n");
	}
	printf(SUMMARY_FMT, f.sets, f.rpcits, f.mismatches);
	fflush(stdout);
	fz_fini(&f);
	hg_down(g);
	EXPECT_TRUE(pins_back(_metadata, kb0, foll0, 5000));
	ASSERT_EQ(0, f.mismatches);
	ASSERT_LT(0, f.rpcits);
}

/* ------------------------------------------------------------ 2: aliased tables */

/*
 * 32768 IOVAs through one page table: one global RPCIT is bounded work per
 * KVM_RUN, needs as many cc 2 answers as the work bound demands, and the
 * shadow then maps every IOVA; invalidating the 256 PTEs and refreshing
 * again drops all of it, every pin and every shadow table below the root.
 */
TEST_F_TIMEOUT(hostile, aliased_tables_bounded, 600)
{
	uint64_t frames[ZT_PT_ENTRIES], pt;
	struct hg *g = &self->g;
	struct ziommu_summary s0;
	long tables_base;

	sum_get(_metadata, &s0);
	alias_up(_metadata, g, &pt, frames, &tables_base);
	alias_calibrate(_metadata, g);
	alias_global(_metadata, g, "aliased global refresh");
	alias_check(_metadata, g, frames, tables_base);
	ASSERT_TRUE(pins_back(_metadata, g->kb0 + ZT_PT_ENTRIES * 4, g->foll0 + ZT_PT_ENTRIES,
			      2000));
	alias_set_frames(g, pt, NULL);
	alias_global(_metadata, g, "global refresh of the invalidated page table");
	alias_check(_metadata, g, NULL, tables_base);
	ASSERT_TRUE(pins_back(_metadata, g->kb0, g->foll0, 2000));
	hg_down(g);
	ASSERT_TRUE(pins_back(_metadata, g->kb0, g->foll0, 5000));
	summary_back(_metadata, &s0);
}

/* the VMM child of invalidate_entries_bounded: one IOMMU_HWPT_INVALIDATE of e[] */
static void huge_child(int wfd, void *arg)
{
	struct iommu_hwpt_s390_kvm_invalidate *e = arg;
	uint64_t frames[ZT_PT_ENTRIES], pt;
	struct iommu_hwpt_invalidate cmd;
	struct child_ready rdy;
	struct hg g;
	unsigned int i;
	int ret;

	ret = child_up(&g, &pt, frames, HUGE_PT_STEP, &rdy);
	if (ret)
		_exit(ret);
	for (i = 0; i < HUGE_ENTRIES; i++) {
		e[i].iova = g.pba;
		e[i].len = g.pal - g.pba + 1;
	}
	__sync_synchronize();
	if (write(wfd, &rdy, sizeof(rdy)) != sizeof(rdy))
		_exit(7);
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.hwpt_id = g.hwpt;
	cmd.data_uptr = (uintptr_t)e;
	cmd.data_type = IOMMU_HWPT_INVALIDATE_DATA_S390_KVM;
	cmd.entry_len = sizeof(*e);
	cmd.entry_num = HUGE_ENTRIES;
	ret = ioctl(g.d.iommufd, IOMMU_HWPT_INVALIDATE, &cmd) ? errno : 0;
	/* the test reads e[] only after the kill: tell it how the call ended */
	e[HUGE_ENTRIES].cc = ret;
	e[HUGE_ENTRIES].status = cmd.entry_num;
	__sync_synchronize();
	e[HUGE_ENTRIES].flags = 1;
	for (;;)
		pause();
}

/* an entry's cc as the kernel writes it in the child (0xff: not answered yet) */
static uint32_t entry_cc(const struct iommu_hwpt_s390_kvm_invalidate *e)
{
	return __atomic_load_n(&e->cc, __ATOMIC_ACQUIRE);
}

/*
 * The entries a killed VMM's IOMMU_HWPT_INVALIDATE answered: cc 0 or cc 2
 * with status 0, cc 2 as often as the work bound demands before each cc 0
 * (a few more before the first one, which pins), nothing written after the
 * last one answered
 */
static void huge_check(struct __test_metadata *_metadata, const struct hg *g,
		       const struct iommu_hwpt_s390_kvm_invalidate *e, unsigned int done,
		       unsigned long *busy)
{
	unsigned long lo = alias_min_busy(g), hi = alias_max_busy(g), run = 0;
	unsigned int i, refreshes = 0;

	*busy = 0;
	for (i = 0; i < done; i++) {
		ASSERT_TRUE((e[i].cc == 0 || e[i].cc == 2) && !e[i].status)
			TH_LOG("entry %u: cc %u status %u, want cc 0 or 2 status 0", i, e[i].cc,
			       e[i].status);
		if (e[i].cc == 2) {
			(*busy)++;
			run++;
			ASSERT_GE(hi + (refreshes ? 0 : BUSY_SLACK), run)
				TH_LOG("entry %u: cc 2 number %lu of one global refresh", i, run);
			continue;
		}
		ASSERT_LE(lo, run) TH_LOG("entry %u: cc 0 after %lu cc 2, want %lu-%lu", i, run,
					  lo, hi);
		refreshes++;
		run = 0;
	}
	for (; i < HUGE_ENTRIES; i++)
		ASSERT_TRUE(e[i].cc == 0xff && e[i].status == 0xff)
			TH_LOG("entry %u written after the last one answered (%u)", i, done);
}

/*
 * IOMMU_HWPT_INVALIDATE with 2^19 global entries over the aliased tables:
 * each entry is bounded by the work bound of one RPCIT (cc 2, the next
 * entry resumes, cc 0) and answered in bounded time, the call goes on
 * entry by entry, and a SIGKILL stops it: the VMM is reaped promptly, the
 * entries answered are all in the array, every pin and table is released.
 */
TEST_F_TIMEOUT(hostile, invalidate_entries_bounded, 600)
{
	struct iommu_hwpt_s390_kvm_invalidate *e;
	size_t size = (HUGE_ENTRIES + 1) * sizeof(*e);
	unsigned int i, done = 0, first_cc0 = ~0U;
	long t0, tlast, tcc0 = 0, ms, max_ms = 0;
	struct ziommu_summary s0, s1;
	unsigned long busy = 0;
	struct child_ready rdy;
	struct hg *g = &self->g;
	bool returned = false;
	pid_t pid;
	int ret;

	zpin_settle(300, 10000);
	g->kb0 = zpin_vmpin_kb();
	g->foll0 = zpin_foll_pinned();
	/* the child's aperture, for the bounds */
	ret = zdev_open(&g->d, ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", ZPCI_VFIO_DEV, strerror(-ret));
	zdev_aperture(&g->d, &g->pba, &g->pal);
	zdev_close(&g->d);
	ASSERT_TRUE(alias_aperture(g));
	e = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, e);
	for (i = 0; i < HUGE_ENTRIES; i++) {
		e[i].cc = 0xff;
		e[i].status = 0xff;
	}
	sum_get(_metadata, &s0);
	pid = child_start(_metadata, "IOMMU_HWPT_INVALIDATE", huge_child, e, &rdy);
	ASSERT_LT(0, pid);
	alias_set_bound(rdy.chunk_ms);
	t0 = now_ms();
	tlast = t0;
	for (;;) {
		while (done < HUGE_ENTRIES && entry_cc(&e[done]) != 0xff) {
			ms = now_ms() - tlast;
			tlast += ms;
			if (ms > max_ms)
				max_ms = ms;
			if (first_cc0 == ~0U && !e[done].cc) {
				first_cc0 = done;
				tcc0 = tlast;
			}
			done++;
		}
		if (__atomic_load_n(&e[HUGE_ENTRIES].flags, __ATOMIC_ACQUIRE)) {
			returned = true;
			break;
		}
		if (first_cc0 != ~0U && done >= first_cc0 + 4 && now_ms() - tcc0 >= HUGE_WATCH_MS)
			break;
		if (now_ms() - tlast > run_bound_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ASSERT_TRUE(false) TH_LOG("entry %u not answered within %ld s", done,
						  run_bound_ms / 1000);
		}
		usleep(HUGE_POLL_US);
	}
	child_kill(_metadata, "IOMMU_HWPT_INVALIDATE", pid, &rdy);
	/* the array as the dead child left it */
	for (done = 0; done < HUGE_ENTRIES && e[done].cc != 0xff; done++)
		;
	TH_LOG("IOMMU_HWPT_INVALIDATE of %u global entries: %u answered in %ld ms%s",
	       HUGE_ENTRIES, done, tlast - t0, returned ? ", the call returned" : "");
	TH_LOG("first cc 0 at entry %u, slowest entry %ld ms", first_cc0, max_ms);
	if (returned)
		ASSERT_TRUE(!e[HUGE_ENTRIES].cc && e[HUGE_ENTRIES].status == HUGE_ENTRIES)
			TH_LOG("IOMMU_HWPT_INVALIDATE: %s, %u entries done",
			       strerror(e[HUGE_ENTRIES].cc), e[HUGE_ENTRIES].status);
	huge_check(_metadata, g, e, done, &busy);
	sum_get(_metadata, &s1);
	ASSERT_EQ((long)(busy + rdy.busy), s1.busy - s0.busy)
		TH_LOG("summary: busy %+ld, the entries say %lu", s1.busy - s0.busy, busy);
	munmap(e, size);
	ASSERT_TRUE(pins_back(_metadata, g->kb0, g->foll0, 5000));
	summary_back(_metadata, &s0);
}

/* the VMM child of killed_vmm_exits: global refreshes flipping all frames, forever */
static void killed_child(int wfd, void *arg)
{
	struct iommu_hwpt_s390_kvm_invalidate e[64];
	uint64_t frames[2][ZT_PT_ENTRIES], pt;
	struct iommu_hwpt_invalidate cmd;
	bool use_run = arg;
	struct child_ready rdy;
	struct rpcit_res o;
	struct hg g;
	int i, n = 0;

	i = child_up(&g, &pt, frames[0], 1, &rdy);
	if (i)
		_exit(i);
	for (i = 0; i < ZT_PT_ENTRIES; i++)
		frames[1][i] = zvm_alloc_scattered_page(&g.vm);
	if (write(wfd, &rdy, sizeof(rdy)) != sizeof(rdy))
		_exit(7);
	for (i = 0; i < 64; i++) {
		e[i].iova = g.pba;
		e[i].len = g.pal - g.pba + 1;
		e[i].flags = 0;
		e[i].__reserved = 0;
	}
	for (;;) {
		if (n++)
			alias_set_frames(&g, pt, frames[n & 1]);
		if (use_run) {
			rpcit(&g, g.pba, g.pal - g.pba + 1, &o);
			continue;
		}
		memset(&cmd, 0, sizeof(cmd));
		cmd.size = sizeof(cmd);
		cmd.hwpt_id = g.hwpt;
		cmd.data_uptr = (uintptr_t)e;
		cmd.data_type = IOMMU_HWPT_INVALIDATE_DATA_S390_KVM;
		cmd.entry_len = sizeof(e[0]);
		cmd.entry_num = 64;
		ioctl(g.d.iommufd, IOMMU_HWPT_INVALIDATE, &cmd);
	}
}

static void killed_round(struct __test_metadata *_metadata, bool use_run)
{
	const char *how = use_run ? "KVM_RUN" : "IOMMU_HWPT_INVALIDATE";
	struct ziommu_summary s0;
	struct child_ready rdy;
	long kb0, foll0;
	char err[256];
	pid_t pid;
	int ret;

	zpin_settle(300, 10000);
	kb0 = zpin_vmpin_kb();
	foll0 = zpin_foll_pinned();
	sum_get(_metadata, &s0);
	pid = child_start(_metadata, how, killed_child, use_run ? (void *)1 : NULL, &rdy);
	ASSERT_LT(0, pid);
	/* let it get deep into a refresh */
	usleep(1500 * 1000);
	child_kill(_metadata, how, pid, &rdy);
	ASSERT_TRUE(pins_back(_metadata, kb0, foll0, 5000)) TH_LOG("after the %s child", how);
	summary_back(_metadata, &s0);
	ret = zv_healthy(ZPCI_VFIO_DEV, err, sizeof(err));
	ASSERT_EQ(0, ret) TH_LOG("function after the killed %s child: %s", how, err);
}

/*
 * A VMM killed during a global refresh loop over the aliased tables that
 * remaps every page each time (through IOMMU_HWPT_INVALIDATE, then through
 * KVM_RUN) is reaped within a few chunks of work, and every pin and shadow
 * table it held is released.
 */
TEST_F_TIMEOUT(hostile, killed_vmm_exits, 400)
{
	killed_round(_metadata, false);
	killed_round(_metadata, true);
}

/* ------------------------------------------------------------ 3: device writes */

/* read 4 KiB of disk at disk_off into iova; true if the device completed it */
static bool dma_read(struct hg *g, uint64_t iova, uint64_t disk_off, uint8_t *bs)
{
	struct zv_seg s = { .iova = iova, .len = PG };

	return zv_request(&g->v, VIRTIO_BLK_T_IN, disk_off / ZV_SECTOR, &s, 1,
			  g->faulted ? DENY_TIMEOUT_MS : REQ_TIMEOUT_MS, bs) == ZV_DONE &&
	       *bs == VIRTIO_BLK_S_OK;
}

/*
 * The device writing (virtio-blk READ: disk data into guest memory) into
 * an IOVA whose guest PTE is protected is refused, and the page keeps its
 * canary; the same request into an unprotected mapping succeeds.
 */
TEST_F_TIMEOUT(hostile, device_write_protected_refused, 180)
{
	struct hg *g = &self->g;
	uint64_t gpa, gpa_rw, gpa_ro, iova_rw, iova_ro, hpa;
	struct zshadow_ent e;
	struct rpcit_res o;
	struct ztables t;
	uint8_t *p, bs;
	unsigned int i;
	long n;
	int ret;

	hg_up(_metadata, g, false);
	g->kmsg = zv_kmsg_open();
	ASSERT_EQ(0, zt_init(&t, &g->vm));
	for (i = 0; i < ZV_RING_PAGES; i++) {
		gpa = zvm_alloc(&g->vm, PG, PG);
		ASSERT_NE(0, gpa);
		g->ring[i].iova = g->pba + i * PG;
		g->ring[i].host = zvm_ptr(&g->vm, gpa);
		ASSERT_EQ(0, zt_map(&t, g->ring[i].iova, gpa, false));
	}
	gpa_rw = zvm_alloc_scattered_page(&g->vm);
	gpa_ro = zvm_alloc_scattered_page(&g->vm);
	ASSERT_TRUE(gpa_rw && gpa_ro);
	iova_rw = g->pba + ZPCI_MIB;
	iova_ro = g->pba + 2 * ZPCI_MIB;
	ASSERT_EQ(0, zt_map(&t, iova_rw, gpa_rw, false));
	ASSERT_EQ(0, zt_map(&t, iova_ro, gpa_ro, true));
	ret = hg_register(g, zt_iota(&t));
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt: %s", strerror(-ret));
	ASSERT_EQ(0, rpcit(g, g->pba, ZV_RING_PAGES * PG, &o));
	ASSERT_EQ(0, o.r.cc);
	ASSERT_EQ(0, rpcit(g, iova_rw, PG, &o));
	ASSERT_EQ(0, o.r.cc);
	ASSERT_EQ(0, rpcit(g, iova_ro, PG, &o));
	ASSERT_EQ(KVM_EXIT_INTR, o.r.exit_reason);
	ASSERT_EQ(0, o.r.cc);
	/* the shadow: rw and ro */
	n = zshadow_read(FH, iova_ro, iova_ro, &e, 1, NULL, NULL);
	ASSERT_EQ(1, n);
	hpa = hva_to_hpa(g->pm_fd, zvm_ptr(&g->vm, gpa_ro));
	ASSERT_EQ(hpa, e.hpa);
	ASSERT_TRUE(e.ro) TH_LOG("the protected PTE's IOVA is writable in the shadow");
	n = zshadow_read(FH, iova_rw, iova_rw, &e, 1, NULL, NULL);
	ASSERT_EQ(1, n);
	ASSERT_FALSE(e.ro);

	ret = zv_probe(&g->v, g->d.devfd);
	ASSERT_EQ(0, ret) TH_LOG("%s", g->v.err);
	ret = zv_start(&g->v, g->ring);
	ASSERT_EQ(0, ret) TH_LOG("%s", g->v.err);

	/* unprotected: the disk data arrives */
	p = zvm_ptr(&g->vm, gpa_rw);
	memset(p, 0x5a, PG);
	ASSERT_TRUE(dma_read(g, iova_rw, 0x300000, &bs))
		TH_LOG("read into IOVA 0x%llx: blk status %u (%s)",
		       (unsigned long long)iova_rw, bs, g->v.err);
	for (i = 0; i < PG; i++)
		ASSERT_EQ(zdisk_pattern_byte(0x300000 + i), p[i]) TH_LOG("byte %u", i);

	/* protected: refused, canary intact */
	p = zvm_ptr(&g->vm, gpa_ro);
	for (i = 0; i < PG; i++)
		p[i] = (uint8_t)(0xc3 ^ i);
	g->faulted = true;
	ASSERT_FALSE(dma_read(g, iova_ro, 0x301000, &bs))
		TH_LOG("the device wrote into the protected IOVA 0x%llx",
		       (unsigned long long)iova_ro);
	for (i = 0; i < PG; i++)
		ASSERT_EQ((uint8_t)(0xc3 ^ i), p[i])
			TH_LOG("protected page byte %u = 0x%02x: the device wrote it", i, p[i]);
	TH_LOG("read into the protected IOVA: blk status %u, device status 0x%x; canary intact",
	       bs, zv_status(&g->v));
}

/* -s SEED and -n ITERATIONS are ours, the rest goes to the harness */
int main(int argc, char **argv)
{
	char **args = calloc(argc + 1, sizeof(*args));
	int i, n = 0;

	if (!args)
		return KSFT_FAIL;
	args[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "-n") ||
		     !strcmp(argv[i], "-r")) && i + 1 < argc) {
			if (argv[i][1] == 's') {
				opt_seed = strtoull(argv[i + 1], NULL, 0);
				opt_seed_set = true;
			} else if (argv[i][1] == 'r') {
				opt_reap_ms = strtol(argv[i + 1], NULL, 0);
			} else {
				opt_iters = strtoul(argv[i + 1], NULL, 0);
			}
			i++;
			continue;
		}
		args[n++] = argv[i];
	}
	if (!opt_seed_set)
		opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return test_harness_run(n, args);
}
