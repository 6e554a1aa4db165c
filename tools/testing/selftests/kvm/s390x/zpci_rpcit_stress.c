// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_stress - the in-kernel RPCIT path under concurrency.
 *
 * Usage: zpci_rpcit_stress [-r ROUNDS] [-s SECONDS] [kselftest_harness options]
 * -r: rounds to run (default 48, about 2 minutes under TCG); -s: no round is
 * started after that many seconds (default 120), which bounds slow kernels
 * (KASAN) too. -q: the vCPUs pause while an IOAT is deregistered (detach,
 * replace, device close), which keeps RPCITs off that window and checks
 * everything else.
 *
 * stress.rounds: every round builds a VM with NVCPU vCPUs, each driven by
 * its own thread, and one or two zPCI functions (vfio0, vfio1 on the same
 * iommufd, each with its own nest parent and nested hwpt of the VM). The
 * guest tables of each function map a slice of IOVAs per vCPU, which that
 * vCPU keeps remapping (invalid, one of two frames, read-only) before it
 * refreshes them, and a victim range of IOVAs into a memslot of its own.
 * The vCPUs issue RPCITs (KVM_S390_TEST_INTERCEPT + KVM_RUN) on their slice,
 * on the victim range, on all slices and globally, while the VMM thread
 * refreshes with IOMMU_HWPT_INVALIDATE, detaches and re-attaches, replaces
 * the IOAT (a nested hwpt on the other table set attached over the old one,
 * which is then destroyed), deletes and re-adds the victim memslot and, in
 * pinned-parent mode, unmaps the victim range from the parents' IOAS and
 * maps it again. At the end of a round it closes the device fds, destroys
 * the hwpts, closes the iommufd and the VM fd in one of the 24 orders while
 * the vCPUs keep going. Rounds alternate one and two functions, on-demand
 * and pinned-parent mode, and on-demand rounds with a low RLIMIT_MEMLOCK
 * (hwpts allocated without CAP_IPC_LOCK).
 *
 * Every answer is checked against what is allowed at that moment, from
 * windows the VMM opens before and closes after each state change: cc 0;
 * cc 1 status 16 only in a low-memlock round; cc 2 is retried; an exit to
 * the VMM (KVM_EXIT_S390_SIEIC, icptcode 4, ipa 0xb9d3, registers and cc
 * untouched) only while the fh is or gets detached or the range covers the
 * victim while its memory is or gets removed, and then a must; after an
 * exit the vCPU thread does what the VMM does, IOMMU_HWPT_INVALIDATE of the
 * same range: cc 0 or, by the same rule, cc 1 status 8 (ENODEV while
 * detached); KVM_RUN errors only after the VM fd close. The VMM's own
 * refreshes are checked against its exact state. Anything else is a wrong
 * answer. No host RPCIT may fail (host_rpcit_failures of the debugfs
 * summary, checked after every VMM operation) and no function may go to the
 * error state (kernel log); such a function is recovered for the next
 * round. After all rounds the pins are back to baseline (foll pins, VmPin)
 * and the summary file of the test-only debugfs says pins 0 tables 0.
 * Prints
 *   stress: V vCPUs, F functions, N rpcit, W wrong answers, pins back to baseline
 *
 * stress.recover_races_detach: a thread writes 1 to the function's sysfs
 * "recover" (the function is removed, disabled, re-enabled with its IOAT
 * registered again, rescanned) while the test thread replaces, detaches,
 * re-attaches and destroys the nested hwpt and closes its fds in varying
 * orders. Afterwards the function must work with a fresh nested hwpt: the
 * device reads a disk block by DMA into a guest page mapped through it.
 */
#define _GNU_SOURCE	/* pthread_rwlockattr_setkind_np, pthread_timedjoin_np */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"
#include "zpci_virtio.h"

#define NVCPU		4
#define MAX_FUNCS	2
#define VFIO_DEV1	"/dev/vfio/devices/vfio1"
#define SUMMARY		"/sys/kernel/debug/s390-kvm-iommu/summary"
#define VM_MEM		(32 * ZPCI_MIB)
#define SLICE_PAGES	32		/* IOVAs each vCPU remaps, per function */
#define VICTIM_PAGES	16		/* IOVAs into the victim memslot */
#define VICTIM_SLOT	2
#define DATA_SLOT_SIZE	(4 * ZPCI_MIB)	/* slot 1 at the host's start_dma */
#define VICTIM_OFF	(8 * ZPCI_MIB)	/* victim slot: start_dma + this */
#define VICTIM_SIZE	ZPCI_MIB
#define VICTIM_IOVA	ZPCI_MIB	/* victim IOVAs: pba + this */
#define MEMLOCK_PAGES	48
#define BUSY_RETRIES	1000
#define NORDERS		24
#define PASSES		2		/* VMM operation sequences per round */
#define DEFAULT_ROUNDS	48
#define DEFAULT_SECONDS	120
#define MAX_REPORTS	30		/* VMM errors printed */
#define KIND_REPORTS	3		/* wrong answers printed per kind */
#define PSW_CC_SHIFT	44
#define PSW_CC3		(3ULL << PSW_CC_SHIFT)
#define RECOVER_ITERS	8
#define REQ_TIMEOUT_MS	10000

static int opt_rounds = DEFAULT_ROUNDS;
static int opt_seconds = DEFAULT_SECONDS;
static bool opt_quiesce;

/* ------------------------------------------------------------ small helpers */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/*
 * A window around a state change, opened and closed by the VMM thread only:
 * seq is odd while it is open. An ioctl that ran between two reads v0 and v1
 * overlapped the window iff v0 is odd or the window moved; it ran entirely
 * inside iff v0 is odd and nothing moved.
 */
struct win {
	unsigned long seq;
};

static unsigned long win_get(struct win *w)
{
	return __atomic_load_n(&w->seq, __ATOMIC_SEQ_CST);
}

static void win_open(struct win *w)
{
	if (!(win_get(w) & 1))
		__atomic_add_fetch(&w->seq, 1, __ATOMIC_SEQ_CST);
}

static void win_close(struct win *w)
{
	if (win_get(w) & 1)
		__atomic_add_fetch(&w->seq, 1, __ATOMIC_SEQ_CST);
}

static bool overlapped(unsigned long v0, unsigned long v1)
{
	return (v0 & 1) || v0 != v1;
}

static bool throughout(unsigned long v0, unsigned long v1)
{
	return (v0 & 1) && v0 == v1;
}

/* CAP_IPC_LOCK in this thread's effective set: without it pins are charged */
static int ipc_lock_effective(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	if (on)
		data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective |= CAP_TO_MASK(CAP_IPC_LOCK);
	else
		data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

static int set_slot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/* IOMMU_HWPT_INVALIDATE with n entries; 0 when all were done, or -errno */
static int invalidate(int iommufd, uint32_t hwpt_id, struct iommu_hwpt_s390_kvm_invalidate *e,
		      int n)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt_id,
		.data_uptr = (uintptr_t)e,
		.data_type = IOMMU_HWPT_INVALIDATE_DATA_S390_KVM,
		.entry_len = sizeof(*e),
		.entry_num = n,
	};

	if (ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &cmd))
		return -errno;
	return cmd.entry_num == (uint32_t)n ? 0 : -EIO;
}

static void inv_entry(struct iommu_hwpt_s390_kvm_invalidate *e, uint64_t iova, uint64_t len)
{
	memset(e, 0, sizeof(*e));
	e->iova = iova;
	e->len = len;
	e->cc = 0xff;
	e->status = 0xff;
}

struct summary {
	long domains, attached, pins, tables, failures, pending, to_vmm, busy;
};

/* the one line of the test-only debugfs summary */
static int read_summary(struct summary *m, char *line, size_t len)
{
	FILE *f = fopen(SUMMARY, "r");
	int ret = 0;

	line[0] = 0;
	if (!f)
		return -errno;
	if (!fgets(line, len, f))
		ret = -EIO;
	else if (sscanf(line,
			"domains %ld attached %ld pins %ld tables %ld host_rpcit_failures %ld pending %ld to_vmm %ld busy %ld",
			&m->domains, &m->attached, &m->pins, &m->tables, &m->failures,
			&m->pending, &m->to_vmm, &m->busy) != 8)
		ret = -EINVAL;
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	return ret;
}

/* host RPCITs that failed since boot, -1 without the summary */
static long host_failures(void)
{
	struct summary m;
	char line[256];

	return read_summary(&m, line, sizeof(line)) ? -1 : m.failures;
}

/* ------------------------------------------------------------ the rounds */

enum kind {
	W_KERNEL_ST8,
	W_CC0_REMOVED,
	W_SERVED_DETACHED,
	W_ST16,
	W_EXIT,
	W_EXIT_FORM,
	W_RUN_ERR,
	W_OTHER,
	W_BUSY,
	W_INV_ENODEV,
	W_INV_CC0_REMOVED,
	W_INV_ST8,
	W_INV_DETACHED,
	W_INV_OTHER,
	NKINDS
};

static const char *const kind_name[NKINDS] = {
	[W_KERNEL_ST8] = "RPCIT answered cc 1 status 8 in the kernel (errors go to the VMM)",
	[W_CC0_REMOVED] = "RPCIT cc 0 for a range whose memory was removed",
	[W_SERVED_DETACHED] = "RPCIT answered in the kernel for a detached fh",
	[W_ST16] = "cc 1 status 16 without a low memlock limit",
	[W_EXIT] = "RPCIT exit to the VMM while attached with the memory present",
	[W_EXIT_FORM] = "RPCIT exit with another icptcode/ipa, changed registers or cc",
	[W_RUN_ERR] = "KVM_RUN failed before the VM fd was closed",
	[W_OTHER] = "RPCIT with another cc, status or exit reason",
	[W_BUSY] = "cc 2 without end",
	[W_INV_ENODEV] = "IOMMU_HWPT_INVALIDATE ENODEV while attached",
	[W_INV_CC0_REMOVED] = "IOMMU_HWPT_INVALIDATE cc 0 for a range whose memory was removed",
	[W_INV_ST8] = "IOMMU_HWPT_INVALIDATE cc 1 status 8 with the memory present",
	[W_INV_DETACHED] = "IOMMU_HWPT_INVALIDATE answered for a detached hwpt",
	[W_INV_OTHER] = "IOMMU_HWPT_INVALIDATE with another errno, cc or status",
};

static const char *const step_name[4] = { "device", "hwpt", "iommufd", "vm" };
enum { STEP_DEVICE, STEP_HWPT, STEP_IOMMUFD, STEP_VM };

struct stats {
	pthread_mutex_t lock;
	long rpcit, wrong, errors, err_reports;
	long kinds[NKINDS];
	long kind_reports[NKINDS];
	long exits, busy, res16, runerr, inv;
	int max_funcs, min_vcpus;
	bool orders[NORDERS];
};

static struct stats st = { .lock = PTHREAD_MUTEX_INITIALIZER, .min_vcpus = NVCPU };

struct sfn {
	struct zdev d;
	struct ztables t[2];			/* two table sets, alike */
	uint64_t *pte[2][NVCPU * SLICE_PAGES];	/* the slice PTEs in both */
	int cur;				/* set of the current hwpt */
	uint32_t hwpt;				/* current nested hwpt */
	bool hwpt_gone;				/* destroyed (under the lock) */
	bool dev_closed;
	struct win det_allow;	/* a detach may be in effect */
	struct win det_strict;	/* the fh is detached */
	uint64_t pba, pal;
	uint32_t fh;
};

struct round;

struct svcpu {
	struct round *rd;
	int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	bool own;		/* vCPU 1..: ours to close; vCPU 0 is the zvm's */
	bool thread;
	pthread_t th;
	uint64_t rng;
	long n, exits, busy, res16, runerr, inv;
};

struct round {
	int idx, nf, order;
	bool pinned, memlock;
	uint64_t rng;
	struct zvm vm;
	uint64_t data_gpa;
	uint64_t victim_gpa;
	uint8_t *victim;
	void *victim_map;
	size_t victim_map_len;
	bool victim_hard;	/* VMM's view: victim gone, errors are a must */
	bool victim_soft;	/* VMM's view: victim slot gone, pinned parent maps it */
	struct sfn fn[MAX_FUNCS];
	struct svcpu cpu[NVCPU];
	int ncpu;
	pthread_rwlock_t lock;	/* hwpt ids and the iommufd for vCPU threads */
	bool have_lock;
	struct win mem_allow;	/* victim memory may be removed */
	struct win mem_strict;	/* victim memory is removed (hard) */
	struct win vm_closed;
	int stop;
	bool iommufd_closed;
	long host_fail;		/* host RPCIT failures so far, -1: no summary */
	bool host_failed;	/* reported for this round */
	int pause, paused;	/* -q: vCPUs held, vCPUs holding */
};

static const char *round_desc(struct round *rd, char *buf, size_t len)
{
	snprintf(buf, len, "%d fn, %s%s", rd->nf, rd->pinned ? "pinned-parent" : "on-demand",
		 rd->memlock ? ", low memlock" : "");
	return buf;
}

static void vmm_err(struct round *rd, const char *fmt, ...)
{
	char d[64];
	va_list ap;

	pthread_mutex_lock(&st.lock);
	st.errors++;
	if (st.err_reports++ < MAX_REPORTS) {
		printf("# round %d (%s): ERROR: ", rd->idx, round_desc(rd, d, sizeof(d)));
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		fflush(stdout);
	}
	pthread_mutex_unlock(&st.lock);
}

static void wrong(struct round *rd, int cpu, int f, enum kind k, uint64_t iova, uint64_t len,
		  const char *fmt, ...)
{
	char d[64];
	va_list ap;

	pthread_mutex_lock(&st.lock);
	st.wrong++;
	st.kinds[k]++;
	if (st.kind_reports[k]++ < KIND_REPORTS) {
		printf("# round %d (%s) %s%d fn %d [0x%llx, +0x%llx): %s: ", rd->idx,
		       round_desc(rd, d, sizeof(d)), cpu < 0 ? "VMM" : "vCPU ", cpu < 0 ? 0 : cpu,
		       f, (unsigned long long)iova, (unsigned long long)len, kind_name[k]);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		fflush(stdout);
	}
	pthread_mutex_unlock(&st.lock);
}

static bool touches_victim(struct sfn *fn, uint64_t iova, uint64_t len)
{
	uint64_t lo = fn->pba + VICTIM_IOVA, hi = lo + VICTIM_PAGES * ZPCI_PAGE_SIZE;

	return iova < hi && iova + len > lo;
}

static uint64_t frame_gpa(struct round *rd, int f, int cpu, int i, int alt)
{
	uint64_t idx = (((uint64_t)f * NVCPU + cpu) * SLICE_PAGES + i) * 2 + alt;

	return rd->data_gpa + idx * ZPCI_PAGE_SIZE;
}

/* ---------------------------------------------------------- vCPU side */

struct snap {
	unsigned long det_a, det_s, mem_a, mem_s, vm;
};

struct verdict {
	bool det_ok, det_must, mem_ok, mem_must, vm_ok;
};

static void snap_take(struct round *rd, struct sfn *fn, struct snap *s)
{
	s->det_a = win_get(&fn->det_allow);
	s->det_s = win_get(&fn->det_strict);
	s->mem_a = win_get(&rd->mem_allow);
	s->mem_s = win_get(&rd->mem_strict);
	s->vm = win_get(&rd->vm_closed);
}

static void judge(struct verdict *v, const struct snap *s0, const struct snap *s1, bool touches)
{
	v->det_ok = overlapped(s0->det_a, s1->det_a);
	v->det_must = throughout(s0->det_s, s1->det_s);
	v->mem_ok = touches && overlapped(s0->mem_a, s1->mem_a);
	v->mem_must = touches && throughout(s0->mem_s, s1->mem_s);
	v->vm_ok = overlapped(s0->vm, s1->vm);
}

struct ans {
	int ret;		/* 0 or -errno of the intercept or KVM_RUN */
	uint32_t exit_reason;
	int cc, status;
	uint8_t icptcode;
	uint16_t ipa;
	bool regs_kept;
};

/*
 * RPCIT r1,r2 on this vCPU in supervisor state, with cc 3 in the PSW before
 * (an answer writes its cc, an exit leaves it). The s390 gprs live in the
 * vCPU's kvm_run (KVM_SYNC_GPRS): no KVM_SET_REGS/KVM_GET_REGS needed.
 */
static void vcpu_rpcit(struct svcpu *c, int r1, int r2, uint32_t fh, uint64_t iova,
		       uint64_t len, struct ans *a)
{
	struct kvm_s390_test_intercept icpt = {
		.icptcode = ZPCI_ICPT_INST,
		.ipa = ZPCI_IPA_RPCIT,
		.ipb = ZPCI_RPCIT_IPB(r1, r2),
	};
	struct kvm_run *run = c->run;
	__u64 *g = run->s.regs.gprs;

	memset(a, 0, sizeof(*a));
	a->cc = -1;
	a->status = -1;
	g[r1] = (uint64_t)fh << 32;
	g[r2] = iova;
	g[r2 + 1] = len;
	run->psw_mask = ZPCI_PSW_EA_BA | PSW_CC3;
	run->psw_addr = 0x10000;
	run->immediate_exit = 0;
	if (ioctl(c->fd, KVM_S390_TEST_INTERCEPT, &icpt) || ioctl(c->fd, KVM_RUN, 0)) {
		a->ret = -errno;
		return;
	}
	a->exit_reason = run->exit_reason;
	a->cc = (run->psw_mask >> PSW_CC_SHIFT) & 3;
	a->status = (g[r1] >> 24) & 0xff;
	a->regs_kept = g[r1] == (uint64_t)fh << 32 && g[r2] == iova && g[r2 + 1] == len;
	if (a->exit_reason == KVM_EXIT_S390_SIEIC) {
		a->icptcode = run->s390_sieic.icptcode;
		a->ipa = run->s390_sieic.ipa;
	}
}

/* what the VMM does with the exit: IOMMU_HWPT_INVALIDATE of the same range */
static void vcpu_exit_refresh(struct svcpu *c, int f, uint64_t iova, uint64_t len, bool touches)
{
	struct round *rd = c->rd;
	struct sfn *fn = &rd->fn[f];
	struct iommu_hwpt_s390_kvm_invalidate e;
	struct snap s0, s1;
	struct verdict v;
	int tries, ret;
	uint32_t id;

	pthread_rwlock_rdlock(&rd->lock);
	for (tries = 0; !rd->iommufd_closed && !fn->hwpt_gone; tries++) {
		inv_entry(&e, iova, len);
		snap_take(rd, fn, &s0);
		id = __atomic_load_n(&fn->hwpt, __ATOMIC_SEQ_CST);
		ret = invalidate(fn->d.iommufd, id, &e, 1);
		snap_take(rd, fn, &s1);
		judge(&v, &s0, &s1, touches);
		c->inv++;
		if (ret == -ENODEV) {
			if (!v.det_ok)
				wrong(rd, c->id, f, W_INV_ENODEV, iova, len, "hwpt %u", id);
			break;
		}
		if (ret) {
			wrong(rd, c->id, f, W_INV_OTHER, iova, len, "%s", strerror(-ret));
			break;
		}
		if (v.det_must) {
			wrong(rd, c->id, f, W_INV_DETACHED, iova, len, "cc %u", e.cc);
			break;
		}
		if (e.cc == 2 && tries < BUSY_RETRIES)
			continue;
		if (e.cc == 0) {
			if (v.mem_must)
				wrong(rd, c->id, f, W_INV_CC0_REMOVED, iova, len, "after an exit");
		} else if (e.cc == 1 && e.status == ZPCI_STATUS_ERROR) {
			if (!v.mem_ok)
				wrong(rd, c->id, f, W_INV_ST8, iova, len, "after an exit");
		} else if (e.cc == 1 && e.status == ZPCI_STATUS_RESOURCES) {
			if (!rd->memlock)
				wrong(rd, c->id, f, W_ST16, iova, len, "IOMMU_HWPT_INVALIDATE");
		} else {
			wrong(rd, c->id, f, e.cc == 2 ? W_BUSY : W_INV_OTHER, iova, len,
			      "cc %u status %u", e.cc, e.status);
		}
		break;
	}
	pthread_rwlock_unlock(&rd->lock);
}

static void vcpu_do(struct svcpu *c, int f, uint64_t iova, uint64_t len)
{
	struct round *rd = c->rd;
	struct sfn *fn = &rd->fn[f];
	bool touches = touches_victim(fn, iova, len);
	int r1 = 1 + 2 * (rnd(&c->rng) % 4), r2 = 8 + 2 * (rnd(&c->rng) % 3);
	struct snap s0, s1;
	struct verdict v;
	struct ans a;
	int tries;

	for (tries = 0;; tries++) {
		snap_take(rd, fn, &s0);
		vcpu_rpcit(c, r1, r2, fn->fh, iova, len, &a);
		snap_take(rd, fn, &s1);
		judge(&v, &s0, &s1, touches);
		c->n++;
		if (a.ret) {
			c->runerr++;
			if (!v.vm_ok)
				wrong(rd, c->id, f, W_RUN_ERR, iova, len, "%s", strerror(-a.ret));
			else
				sleep_ms(1);
			return;
		}
		if (a.exit_reason == KVM_EXIT_S390_SIEIC) {
			c->exits++;
			if (a.icptcode != ZPCI_ICPT_INST || a.ipa != ZPCI_IPA_RPCIT ||
			    !a.regs_kept || a.cc != 3)
				wrong(rd, c->id, f, W_EXIT_FORM, iova, len,
				      "icptcode %u ipa 0x%x cc %d registers %s", a.icptcode, a.ipa,
				      a.cc, a.regs_kept ? "kept" : "changed");
			else if (!v.det_ok && !v.mem_ok)
				wrong(rd, c->id, f, W_EXIT, iova, len, "r%d,r%d", r1, r2);
			else
				vcpu_exit_refresh(c, f, iova, len, touches);
			return;
		}
		if (a.exit_reason != KVM_EXIT_INTR) {
			wrong(rd, c->id, f, W_OTHER, iova, len, "exit %s (%u)",
			      zvm_exit_name(a.exit_reason), a.exit_reason);
			return;
		}
		if (v.det_must) {
			wrong(rd, c->id, f, W_SERVED_DETACHED, iova, len, "cc %d status %d", a.cc,
			      a.status);
			return;
		}
		if (a.cc == 2) {
			c->busy++;
			if (tries < BUSY_RETRIES)
				continue;
			wrong(rd, c->id, f, W_BUSY, iova, len, "%d retries", tries);
			return;
		}
		if (a.cc == 0) {
			if (v.mem_must)
				wrong(rd, c->id, f, W_CC0_REMOVED, iova, len, "r%d,r%d", r1, r2);
		} else if (a.cc == 1 && a.status == ZPCI_STATUS_RESOURCES) {
			c->res16++;
			if (!rd->memlock)
				wrong(rd, c->id, f, W_ST16, iova, len, "RPCIT");
		} else if (a.cc == 1 && a.status == ZPCI_STATUS_ERROR) {
			wrong(rd, c->id, f, W_KERNEL_ST8, iova, len, "%s",
			      v.mem_ok ? "memory removed" : "memory present");
		} else {
			wrong(rd, c->id, f, W_OTHER, iova, len, "cc %d status %d", a.cc, a.status);
		}
		return;
	}
}

/* remap PTE i of this vCPU's slice in both table sets */
static void vcpu_remap(struct svcpu *c, int f, int i)
{
	struct round *rd = c->rd;
	struct sfn *fn = &rd->fn[f];
	int idx = c->id * SLICE_PAGES + i;
	uint64_t how = rnd(&c->rng) & 3, val;

	if (how == 0)
		val = zt_get(fn->pte[0][idx]) | ZT_PTE_INVALID;
	else
		val = frame_gpa(rd, f, c->id, i, how == 2) | (how == 3 ? ZT_PROTECTED : 0);
	zt_set(fn->pte[0][idx], val);
	zt_set(fn->pte[1][idx], val);
}

/* -q: wait while the VMM holds the vCPUs; true if it did */
static bool vcpu_held(struct round *rd)
{
	if (!__atomic_load_n(&rd->pause, __ATOMIC_ACQUIRE))
		return false;
	__atomic_add_fetch(&rd->paused, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&rd->pause, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&rd->stop, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	__atomic_sub_fetch(&rd->paused, 1, __ATOMIC_SEQ_CST);
	return true;
}

static void *vcpu_main(void *arg)
{
	struct svcpu *c = arg;
	struct round *rd = c->rd;

	while (!__atomic_load_n(&rd->stop, __ATOMIC_ACQUIRE)) {
		int f = rd->nf > 1 ? rnd(&c->rng) & 1 : 0;
		struct sfn *fn = &rd->fn[f];
		uint64_t p = rnd(&c->rng) % 100, iova, len;
		uint64_t slice = fn->pba + (uint64_t)c->id * SLICE_PAGES * ZPCI_PAGE_SIZE;
		int i, n, lo = SLICE_PAGES, hi = -1;

		if (vcpu_held(rd))
			continue;
		if (p < 60) {		/* remap a few, refresh them */
			for (n = 1 + rnd(&c->rng) % 4; n; n--) {
				i = rnd(&c->rng) % SLICE_PAGES;
				vcpu_remap(c, f, i);
				lo = i < lo ? i : lo;
				hi = i > hi ? i : hi;
			}
			iova = slice + lo * ZPCI_PAGE_SIZE;
			len = (hi - lo + 1) * ZPCI_PAGE_SIZE;
		} else if (p < 75) {	/* part of the victim range */
			i = rnd(&c->rng) % VICTIM_PAGES;
			n = 1 + rnd(&c->rng) % (VICTIM_PAGES - i);
			iova = fn->pba + VICTIM_IOVA + i * ZPCI_PAGE_SIZE;
			len = n * ZPCI_PAGE_SIZE;
		} else if (p < 85) {	/* global refresh */
			iova = fn->pba;
			len = fn->pal - fn->pba + 1;
		} else if (p < 95) {	/* every slice */
			iova = fn->pba;
			len = NVCPU * SLICE_PAGES * ZPCI_PAGE_SIZE;
		} else {		/* slices and victim */
			iova = fn->pba;
			len = VICTIM_IOVA + VICTIM_PAGES * ZPCI_PAGE_SIZE;
		}
		vcpu_do(c, f, iova, len);
	}
	return NULL;
}

/* ---------------------------------------------------------- VMM side */

/* -q: hold the vCPUs (each finishes its RPCIT) around an IOAT deregistration */
static void quiesce(struct round *rd, bool on)
{
	long t0 = now_ms();

	if (!opt_quiesce)
		return;
	__atomic_store_n(&rd->pause, on, __ATOMIC_SEQ_CST);
	while (on && __atomic_load_n(&rd->paused, __ATOMIC_SEQ_CST) < rd->ncpu) {
		if (now_ms() - t0 > 10000) {
			vmm_err(rd, "vCPUs did not pause within 10 s");
			return;
		}
		sleep_ms(1);
	}
}

static int fn_hwpt_alloc(struct round *rd, struct sfn *fn, int set, uint32_t *id)
{
	uint32_t flags = rd->pinned ? IOMMU_HWPT_S390_KVM_PINNED_PARENT : 0;
	int ret, ret2 = 0;

	/* low-memlock rounds: the domain charges pins to RLIMIT_MEMLOCK */
	if (rd->memlock) {
		ret = ipc_lock_effective(false);
		if (ret)
			return ret;
	}
	ret = zdev_hwpt_alloc_flags(&fn->d, rd->vm.vm_fd, fn->fh, flags, zt_iota(&fn->t[set]),
				    fn->pba, fn->pal, id);
	if (rd->memlock)
		ret2 = ipc_lock_effective(true);
	return ret ? ret : ret2;
}

/* what the VMM, which knows its state, must get for an entry */
static bool vmm_expected(struct round *rd, bool touches, uint32_t cc, uint32_t status)
{
	if (cc == 1 && status == ZPCI_STATUS_RESOURCES)
		return rd->memlock;
	if (touches && rd->victim_hard)
		return cc == 1 && status == ZPCI_STATUS_ERROR;
	if (touches && rd->victim_soft)
		return cc == 0 || (cc == 1 && status == ZPCI_STATUS_ERROR);
	return cc == 0;
}

static void vmm_check(struct round *rd, int f, struct iommu_hwpt_s390_kvm_invalidate *e)
{
	struct sfn *fn = &rd->fn[f];
	bool touches = touches_victim(fn, e->iova, e->len);
	int tries, ret;

	for (tries = 0; e->cc == 2 && tries < BUSY_RETRIES; tries++) {
		inv_entry(e, e->iova, e->len);
		ret = invalidate(fn->d.iommufd, fn->hwpt, e, 1);
		if (ret) {
			vmm_err(rd, "IOMMU_HWPT_INVALIDATE retry: %s", strerror(-ret));
			return;
		}
	}
	if (!vmm_expected(rd, touches, e->cc, e->status))
		wrong(rd, -1, f, e->cc == 0 ? W_INV_CC0_REMOVED : e->cc == 2 ? W_BUSY :
		      e->cc == 1 && e->status == ZPCI_STATUS_ERROR ? W_INV_ST8 :
		      e->cc == 1 && e->status == ZPCI_STATUS_RESOURCES ? W_ST16 : W_INV_OTHER,
		      e->iova, e->len, "cc %u status %u, victim %s", e->cc, e->status,
		      rd->victim_hard ? "removed" : rd->victim_soft ? "slot deleted" : "present");
}

static void vmm_refresh_range(struct round *rd, int f, uint64_t iova, uint64_t len)
{
	struct iommu_hwpt_s390_kvm_invalidate e;
	int ret;

	inv_entry(&e, iova, len);
	ret = invalidate(rd->fn[f].d.iommufd, rd->fn[f].hwpt, &e, 1);
	if (ret)
		vmm_err(rd, "IOMMU_HWPT_INVALIDATE fn %d: %s", f, strerror(-ret));
	else
		vmm_check(rd, f, &e);
}

static void vmm_refresh_victim(struct round *rd)
{
	int f;

	for (f = 0; f < rd->nf; f++)
		vmm_refresh_range(rd, f, rd->fn[f].pba + VICTIM_IOVA,
				  VICTIM_PAGES * ZPCI_PAGE_SIZE);
}

/* one IOMMU_HWPT_INVALIDATE of 1-3 entries of the kinds the vCPUs use */
static void vmm_refresh(struct round *rd)
{
	int f = rd->nf > 1 ? rnd(&rd->rng) & 1 : 0, n = 1 + rnd(&rd->rng) % 3, i, ret;
	struct iommu_hwpt_s390_kvm_invalidate e[3];
	struct sfn *fn = &rd->fn[f];

	for (i = 0; i < n; i++) {
		uint64_t p = rnd(&rd->rng) % 4, k = rnd(&rd->rng) % (NVCPU * SLICE_PAGES);

		if (p == 0)
			inv_entry(&e[i], fn->pba, fn->pal - fn->pba + 1);
		else if (p == 1)
			inv_entry(&e[i], fn->pba + VICTIM_IOVA, VICTIM_PAGES * ZPCI_PAGE_SIZE);
		else if (p == 2)
			inv_entry(&e[i], fn->pba, NVCPU * SLICE_PAGES * ZPCI_PAGE_SIZE);
		else
			inv_entry(&e[i], fn->pba + k * ZPCI_PAGE_SIZE, ZPCI_PAGE_SIZE);
	}
	ret = invalidate(fn->d.iommufd, fn->hwpt, e, n);
	if (ret) {
		vmm_err(rd, "IOMMU_HWPT_INVALIDATE fn %d, %d entries: %s", f, n, strerror(-ret));
		return;
	}
	for (i = 0; i < n; i++)
		vmm_check(rd, f, &e[i]);
}

/* guest IOAT deregistration and registration of the same tables */
static void vmm_detach(struct round *rd)
{
	int f = rd->nf > 1 ? rnd(&rd->rng) & 1 : 0, ret;
	struct iommu_hwpt_s390_kvm_invalidate e;
	struct sfn *fn = &rd->fn[f];

	win_open(&fn->det_allow);
	quiesce(rd, true);
	ret = zdev_detach(&fn->d);
	quiesce(rd, false);
	if (ret)
		vmm_err(rd, "detach fn %d: %s", f, strerror(-ret));
	win_open(&fn->det_strict);
	inv_entry(&e, fn->pba, fn->pal - fn->pba + 1);
	ret = invalidate(fn->d.iommufd, fn->hwpt, &e, 1);
	if (ret != -ENODEV)
		wrong(rd, -1, f, W_INV_DETACHED, e.iova, e.len, "%s, cc %u",
		      ret ? strerror(-ret) : "done", e.cc);
	sleep_ms(5);
	win_close(&fn->det_strict);
	ret = zdev_attach(&fn->d, fn->hwpt);
	if (ret)
		vmm_err(rd, "attach fn %d again: %s", f, strerror(-ret));
	win_close(&fn->det_allow);
}

/* guest IOAT re-registration: a new nested hwpt on the other table set */
static void vmm_replace(struct round *rd)
{
	int f = rd->nf > 1 ? rnd(&rd->rng) & 1 : 0, ret;
	struct sfn *fn = &rd->fn[f];
	uint32_t old = fn->hwpt, id;

	pthread_rwlock_wrlock(&rd->lock);
	ret = fn_hwpt_alloc(rd, fn, !fn->cur, &id);
	pthread_rwlock_unlock(&rd->lock);
	if (ret) {
		vmm_err(rd, "nested hwpt for the replace of fn %d: %s", f, strerror(-ret));
		return;
	}
	win_open(&fn->det_allow);
	__atomic_store_n(&fn->hwpt, id, __ATOMIC_SEQ_CST);
	quiesce(rd, true);
	ret = zdev_attach(&fn->d, id);
	quiesce(rd, false);
	if (ret) {
		vmm_err(rd, "replace fn %d: %s", f, strerror(-ret));
		__atomic_store_n(&fn->hwpt, old, __ATOMIC_SEQ_CST);
		old = id;
	} else {
		fn->cur = !fn->cur;
	}
	win_close(&fn->det_allow);
	pthread_rwlock_wrlock(&rd->lock);
	ret = zdev_destroy_obj(&fn->d, old);
	pthread_rwlock_unlock(&rd->lock);
	if (ret)
		vmm_err(rd, "destroy the replaced hwpt of fn %d: %s", f, strerror(-ret));
}

/* the victim memslot goes and comes back */
static void vmm_memslot(struct round *rd)
{
	int ret;

	win_open(&rd->mem_allow);
	ret = set_slot(rd->vm.vm_fd, VICTIM_SLOT, rd->victim_gpa, 0, rd->victim);
	if (ret) {
		vmm_err(rd, "delete the victim memslot: %s", strerror(-ret));
		win_close(&rd->mem_allow);
		return;
	}
	if (rd->pinned) {
		rd->victim_soft = true;
	} else {
		rd->victim_hard = true;
		win_open(&rd->mem_strict);
	}
	vmm_refresh_victim(rd);
	sleep_ms(10);
	win_close(&rd->mem_strict);
	ret = set_slot(rd->vm.vm_fd, VICTIM_SLOT, rd->victim_gpa, VICTIM_SIZE, rd->victim);
	if (ret)
		vmm_err(rd, "re-add the victim memslot: %s", strerror(-ret));
	win_close(&rd->mem_allow);
	rd->victim_hard = false;
	rd->victim_soft = false;
	if (!ret)
		vmm_refresh_victim(rd);
}

/* pinned parent: the victim range leaves the parents' IOAS and comes back */
static void vmm_parent_unmap(struct round *rd)
{
	int f, ret, bad = 0;

	win_open(&rd->mem_allow);
	for (f = 0; f < rd->nf; f++) {
		ret = zdev_parent_unmap(&rd->fn[f].d, rd->victim_gpa, VICTIM_SIZE);
		if (ret) {
			vmm_err(rd, "IOMMU_IOAS_UNMAP of the victim, fn %d: %s", f,
				strerror(-ret));
			bad++;
		}
	}
	if (!bad) {
		rd->victim_hard = true;
		win_open(&rd->mem_strict);
		vmm_refresh_victim(rd);
		sleep_ms(10);
		win_close(&rd->mem_strict);
	}
	for (f = 0; f < rd->nf; f++) {
		ret = zdev_parent_map(&rd->fn[f].d, rd->victim, rd->victim_gpa, VICTIM_SIZE);
		if (ret) {
			vmm_err(rd, "IOMMU_IOAS_MAP of the victim, fn %d: %s", f, strerror(-ret));
			bad++;
		}
	}
	win_close(&rd->mem_allow);
	rd->victim_hard = false;
	if (!bad)
		vmm_refresh_victim(rd);
}

static void step(struct round *rd, int s)
{
	int f, ret, want;

	for (f = 0; f < rd->nf; f++) {
		struct sfn *fn = &rd->fn[f];

		switch (s) {
		case STEP_DEVICE:
			win_open(&fn->det_allow);
			quiesce(rd, true);
			ret = close(fn->d.devfd) ? -errno : 0;
			quiesce(rd, false);
			fn->d.devfd = -1;
			fn->dev_closed = true;
			win_open(&fn->det_strict);
			if (ret)
				vmm_err(rd, "close the device fd of fn %d: %s", f, strerror(-ret));
			break;
		case STEP_HWPT:
			/* without an iommufd there is nothing to destroy it with */
			if (rd->iommufd_closed)
				break;
			want = fn->dev_closed ? 0 : -EBUSY;
			pthread_rwlock_wrlock(&rd->lock);
			ret = zdev_destroy_obj(&fn->d, fn->hwpt);
			if (!ret)
				fn->hwpt_gone = true;
			pthread_rwlock_unlock(&rd->lock);
			if (ret != want)
				vmm_err(rd, "IOMMU_DESTROY of the hwpt of fn %d (device %s): %s",
					f, fn->dev_closed ? "closed" : "open",
					ret ? strerror(-ret) : "done");
			break;
		case STEP_IOMMUFD:
			pthread_rwlock_wrlock(&rd->lock);
			ret = close(fn->d.iommufd) ? -errno : 0;
			fn->d.iommufd = -1;
			rd->iommufd_closed = true;
			pthread_rwlock_unlock(&rd->lock);
			if (ret)
				vmm_err(rd, "close the iommufd of fn %d: %s", f, strerror(-ret));
			break;
		case STEP_VM:
			if (f)
				break;
			win_open(&rd->vm_closed);
			ret = close(rd->vm.vm_fd) ? -errno : 0;
			rd->vm.vm_fd = -1;
			if (ret)
				vmm_err(rd, "close the VM fd: %s", strerror(-ret));
			break;
		}
	}
}

static const struct {
	void (*fn)(struct round *rd);
	const char *name;
} ops[] = {
	{ vmm_refresh, "refresh" },
	{ vmm_detach, "detach and attach again" },
	{ vmm_refresh, "refresh" },
	{ vmm_replace, "IOAT replace" },
	{ vmm_refresh, "refresh" },
	{ vmm_memslot, "memslot delete and re-add" },
	{ vmm_parent_unmap, "parent unmap and map again" },
	{ vmm_refresh, "refresh" },
};

/* host RPCITs must not fail here: no fault injection, IOATs registered */
static void host_failed(struct round *rd, const char *during)
{
	long n;

	if (rd->host_fail < 0)
		return;
	n = host_failures();
	if (n > rd->host_fail && !rd->host_failed)
		vmm_err(rd, "host RPCITs fail from: %s (%ld)", during, n - rd->host_fail);
	rd->host_failed |= n > rd->host_fail;
	rd->host_fail = n;
}

static void order_of(int k, int out[4])
{
	int items[4] = { 0, 1, 2, 3 }, fact[4] = { 6, 2, 1, 1 }, i, j, n;

	for (i = 0; i < 4; i++) {
		j = k / fact[i];
		k %= fact[i];
		out[i] = items[j];
		for (n = j; n < 3 - i; n++)
			items[n] = items[n + 1];
	}
}

/* until every vCPU issued `more` RPCITs beyond now, at most timeout_ms */
static bool vcpus_progress(struct round *rd, long more, int timeout_ms)
{
	long base[NVCPU], t0 = now_ms();
	int i;

	for (i = 0; i < rd->ncpu; i++)
		base[i] = __atomic_load_n(&rd->cpu[i].n, __ATOMIC_RELAXED);
	for (i = 0; i < rd->ncpu;) {
		if (__atomic_load_n(&rd->cpu[i].n, __ATOMIC_RELAXED) >= base[i] + more) {
			i++;
			continue;
		}
		if (now_ms() - t0 > timeout_ms)
			return false;
		sleep_ms(1);
	}
	return true;
}

static void round_fini(struct round *rd)
{
	int i;

	__atomic_store_n(&rd->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < rd->ncpu; i++) {
		struct svcpu *c = &rd->cpu[i];

		if (c->thread)
			pthread_join(c->th, NULL);
		c->thread = false;
	}
	for (i = 0; i < MAX_FUNCS; i++)
		zdev_close(&rd->fn[i].d);
	for (i = 0; i < rd->ncpu; i++) {
		struct svcpu *c = &rd->cpu[i];

		if (!c->own)
			continue;
		munmap(c->run, c->run_size);
		close(c->fd);
	}
	rd->ncpu = 0;
	zvm_destroy(&rd->vm);
	if (rd->victim_map)
		munmap(rd->victim_map, rd->victim_map_len);
	rd->victim_map = NULL;
	if (rd->have_lock)
		pthread_rwlock_destroy(&rd->lock);
	rd->have_lock = false;
}

static int round_tables(struct round *rd, struct sfn *fn, int f)
{
	int s, c, i, ret;

	for (s = 0; s < 2; s++) {
		ret = zt_init(&fn->t[s], &rd->vm);
		if (ret)
			return ret;
		for (c = 0; c < NVCPU; c++) {
			for (i = 0; i < SLICE_PAGES; i++) {
				uint64_t iova = fn->pba + (c * SLICE_PAGES + i) * ZPCI_PAGE_SIZE;

				ret = zt_map(&fn->t[s], iova, frame_gpa(rd, f, c, i, 0), false);
				if (ret)
					return ret;
				fn->pte[s][c * SLICE_PAGES + i] = zt_pte(&fn->t[s], iova);
			}
		}
		for (i = 0; i < VICTIM_PAGES; i++) {
			ret = zt_map(&fn->t[s], fn->pba + VICTIM_IOVA + i * ZPCI_PAGE_SIZE,
				     rd->victim_gpa + i * ZPCI_PAGE_SIZE, false);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int round_vcpu(struct round *rd, int id)
{
	struct svcpu *c = &rd->cpu[id];
	int sz;

	c->rd = rd;
	c->id = id;
	c->rng = rd->rng ^ (0x9E3779B97F4A7C15ULL * (id + 1));
	if (!id) {
		c->fd = rd->vm.vcpu_fd;
		c->run = rd->vm.run;
		return 0;
	}
	c->fd = ioctl(rd->vm.vm_fd, KVM_CREATE_VCPU, id);
	if (c->fd < 0)
		return -errno;
	sz = ioctl(rd->vm.kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0) {
		close(c->fd);
		return -EIO;
	}
	c->run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		close(c->fd);
		return -errno;
	}
	c->run_size = sz;
	c->own = true;
	return 0;
}

static bool failed(struct round *rd, int ret, const char *what)
{
	if (ret)
		vmm_err(rd, "%s: %s", what, strerror(ret < 0 ? -ret : ret));
	return ret;
}

static bool round_setup(struct round *rd)
{
	struct sfn *fn;
	uint8_t *p;
	int f, i, ret;

	ret = zdev_open(&rd->fn[0].d, ZPCI_VFIO_DEV);
	if (failed(rd, ret, "open " ZPCI_VFIO_DEV))
		return false;
	if (rd->nf > 1) {
		ret = zdev_open_ext(&rd->fn[1].d, VFIO_DEV1, rd->fn[0].d.iommufd, -1);
		if (failed(rd, ret, "open " VFIO_DEV1 " on the same iommufd"))
			return false;
	}
	rd->data_gpa = rd->fn[0].d.start_dma;
	rd->victim_gpa = rd->data_gpa + VICTIM_OFF;
	for (f = 0; f < rd->nf; f++) {
		fn = &rd->fn[f];
		if (!fn->d.have_zpci_info || fn->d.start_dma > rd->data_gpa ||
		    fn->d.end_dma < rd->victim_gpa + VICTIM_SIZE - 1) {
			vmm_err(rd, "fn %d: no zPCI info or DMA aperture [0x%llx, 0x%llx] too small",
				f, (unsigned long long)fn->d.start_dma,
				(unsigned long long)fn->d.end_dma);
			return false;
		}
		zdev_aperture(&fn->d, &fn->pba, &fn->pal);
		fn->fh = ZPCI_GUEST_FH + f;
	}
	if (failed(rd, zvm_create(&rd->vm, VM_MEM), "VM"))
		return false;
	ret = zvm_add_data_slot(&rd->vm, rd->data_gpa, DATA_SLOT_SIZE);
	if (failed(rd, ret, "data memslot"))
		return false;
	/* the victim slot: its own 1 MiB aligned mapping */
	rd->victim_map_len = VICTIM_SIZE + ZPCI_MIB;
	rd->victim_map = mmap(NULL, rd->victim_map_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rd->victim_map == MAP_FAILED) {
		rd->victim_map = NULL;
		failed(rd, -errno, "victim mapping");
		return false;
	}
	p = rd->victim_map;
	rd->victim = (uint8_t *)(((uintptr_t)p + ZPCI_MIB - 1) & ~(uintptr_t)(ZPCI_MIB - 1));
	ret = set_slot(rd->vm.vm_fd, VICTIM_SLOT, rd->victim_gpa, VICTIM_SIZE, rd->victim);
	if (failed(rd, ret, "victim memslot"))
		return false;
	for (i = 0; i < NVCPU; i++) {
		if (failed(rd, round_vcpu(rd, i), "KVM_CREATE_VCPU"))
			return false;
		rd->ncpu++;
	}
	for (f = 0; f < rd->nf; f++) {
		fn = &rd->fn[f];
		if (failed(rd, round_tables(rd, fn, f), "guest tables"))
			return false;
		if (failed(rd, fn_hwpt_alloc(rd, fn, 0, &fn->hwpt), "nested hwpt"))
			return false;
		if (failed(rd, zdev_attach(&fn->d, fn->hwpt), "attach"))
			return false;
		if (!rd->pinned)
			continue;
		ret = zdev_parent_map(&fn->d, rd->vm.hi_mem, rd->data_gpa, DATA_SLOT_SIZE);
		if (failed(rd, ret, "parent map of the data memslot"))
			return false;
		ret = zdev_parent_map(&fn->d, rd->victim, rd->victim_gpa, VICTIM_SIZE);
		if (failed(rd, ret, "parent map of the victim memslot"))
			return false;
	}
	return true;
}

static bool run_round(struct __test_metadata *_metadata, int r, long *round_ms)
{
	pthread_rwlockattr_t attr;
	struct rlimit rl0, rl;
	struct round *rd;
	long t0 = now_ms();
	int order[4], i, pass, f, ret;
	bool ok = false;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return false;
	rd->idx = r;
	rd->nf = (r & 1) ? 2 : 1;
	rd->pinned = (r >> 1) & 1;
	rd->memlock = !rd->pinned && ((r >> 2) & 1);
	rd->order = (r + r / NORDERS) % NORDERS;
	rd->rng = 0x9E3779B97F4A7C15ULL * (r + 1);
	rd->vm.kvm_fd = -1;
	rd->vm.vm_fd = -1;
	rd->vm.vcpu_fd = -1;
	for (f = 0; f < MAX_FUNCS; f++) {
		rd->fn[f].d.iommufd = -1;
		rd->fn[f].d.devfd = -1;
	}
	order_of(rd->order, order);
	getrlimit(RLIMIT_MEMLOCK, &rl0);
	if (rd->memlock) {
		rl = rl0;
		rl.rlim_cur = MEMLOCK_PAGES * ZPCI_PAGE_SIZE;
		if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
			vmm_err(rd, "RLIMIT_MEMLOCK: %s", strerror(errno));
			goto out;
		}
	}
	/* the VMM must get the lock while the vCPUs keep handling exits */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = pthread_rwlock_init(&rd->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (ret) {
		vmm_err(rd, "rwlock: %s", strerror(ret));
		goto out;
	}
	rd->have_lock = true;
	if (!round_setup(rd))
		goto out;

	for (i = 0; i < NVCPU; i++) {
		if (pthread_create(&rd->cpu[i].th, NULL, vcpu_main, &rd->cpu[i])) {
			vmm_err(rd, "vCPU thread %d", i);
			goto out;
		}
		rd->cpu[i].thread = true;
	}
	if (!vcpus_progress(rd, 1, 20000)) {
		vmm_err(rd, "not every vCPU issued an RPCIT within 20 s");
		goto out;
	}

	rd->host_fail = host_failures();
	for (pass = 0; pass < PASSES; pass++) {
		for (i = 0; i < (int)ARRAY_SIZE(ops); i++) {
			if (ops[i].fn == vmm_parent_unmap && !rd->pinned)
				continue;
			ops[i].fn(rd);
			host_failed(rd, ops[i].name);
		}
	}

	/* the closes, racing with the vCPUs, then answers after the last one */
	for (i = 0; i < 4; i++) {
		step(rd, order[i]);
		host_failed(rd, step_name[order[i]]);
		sleep_ms(2);
	}
	if (!vcpus_progress(rd, 2, 20000))
		vmm_err(rd, "vCPUs made no progress after the closes");
	ok = true;
out:
	round_fini(rd);
	if (rd->memlock)
		setrlimit(RLIMIT_MEMLOCK, &rl0);
	pthread_mutex_lock(&st.lock);
	for (i = 0; i < NVCPU; i++) {
		struct svcpu *c = &rd->cpu[i];

		st.rpcit += c->n;
		st.exits += c->exits;
		st.busy += c->busy;
		st.res16 += c->res16;
		st.runerr += c->runerr;
		st.inv += c->inv;
	}
	if (ok) {
		int measured = 0;

		for (i = 0; i < NVCPU; i++)
			measured += rd->cpu[i].n > 0;
		if (measured < st.min_vcpus)
			st.min_vcpus = measured;
		if (rd->nf > st.max_funcs)
			st.max_funcs = rd->nf;
		st.orders[rd->order] = true;
	}
	pthread_mutex_unlock(&st.lock);
	*round_ms = now_ms() - t0;
	TH_LOG("round %d: %d fn, %s%s, closes %s,%s,%s,%s: %ld ms", r, rd->nf,
	       rd->pinned ? "pinned-parent" : "on-demand", rd->memlock ? ", low memlock" : "",
	       step_name[order[0]], step_name[order[1]], step_name[order[2]],
	       step_name[order[3]], *round_ms);
	free(rd);
	return ok;
}

/* bring a function the host put in the error state back for the next round */
static int recover_if_broken(struct __test_metadata *_metadata, const char *cdev)
{
	char why[512];
	int ret;

	if (!zv_healthy(cdev, why, sizeof(why)))
		return 0;
	TH_LOG("%s unusable (%s): recovering it", cdev, why);
	ret = zv_recover(cdev, -1, why, sizeof(why));
	if (ret)
		TH_LOG("recover %s: %s", cdev, why);
	return ret;
}

FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK)) TH_LOG("needs /dev/kvm");
	ASSERT_EQ(0, access("/dev/iommu", R_OK | W_OK)) TH_LOG("needs /dev/iommu");
	ASSERT_EQ(0, access(ZPCI_VFIO_DEV, R_OK | W_OK)) TH_LOG("needs " ZPCI_VFIO_DEV);
}

FIXTURE_TEARDOWN(stress)
{
}

#define PCI_ERROR_EVENT	"reports an error for PCI function"

TEST_F_TIMEOUT(stress, rounds, 600)
{
	long kb0, foll0, t0, ms = 0, max_ms = 0, t;
	struct summary m0 = { 0 }, m = { 0 };
	char line[256] = "";
	bool base_ok, sum_ok = false;
	int r, done = 0, orders = 0, setup_failures = 0, i, kmsg, ret;

	ASSERT_EQ(0, access(VFIO_DEV1, R_OK | W_OK))
		TH_LOG("needs a second function " VFIO_DEV1 " (ZPCI_FUNCS=2)");
	kmsg = zv_kmsg_open();
	ASSERT_LE(0, kmsg) TH_LOG("/dev/kmsg: %s", strerror(-kmsg));
	ret = read_summary(&m0, line, sizeof(line));
	if (ret)
		TH_LOG("%s before the rounds: %s", SUMMARY, strerror(-ret));
	zpin_settle(400, 10000);
	kb0 = zpin_vmpin_kb();
	foll0 = zpin_foll_pinned();
	t0 = now_ms();
	for (r = 0; r < opt_rounds; r++) {
		long errors = st.errors;
		bool ok;

		if (now_ms() - t0 > opt_seconds * 1000L) {
			TH_LOG("time bound of %d s reached: %d of %d rounds run", opt_seconds, r,
			       opt_rounds);
			break;
		}
		ok = run_round(_metadata, r, &ms);
		done += ok;
		max_ms = ms > max_ms ? ms : max_ms;
		if (!zpin_wait(kb0, foll0, 5000)) {
			pthread_mutex_lock(&st.lock);
			st.errors++;
			pthread_mutex_unlock(&st.lock);
			TH_LOG("round %d: pins not back: VmPin %+ld kB, foll pins %+ld", r,
			       zpin_vmpin_kb() - kb0, zpin_foll_pinned() - foll0);
		}
		/*
		 * A function in the error state: the host did something wrong
		 * (a host RPCIT failed); bring it back for the next round
		 */
		ret = zv_kmsg_wait(kmsg, PCI_ERROR_EVENT, st.errors > errors ? 1000 : 0, 0, line,
				   sizeof(line));
		if (!ret) {
			pthread_mutex_lock(&st.lock);
			st.errors++;
			pthread_mutex_unlock(&st.lock);
			TH_LOG("round %d: the host put a function in the error state: %s", r, line);
		}
		if (!ret || !ok) {
			ASSERT_EQ(0, recover_if_broken(_metadata, ZPCI_VFIO_DEV));
			ASSERT_EQ(0, recover_if_broken(_metadata, VFIO_DEV1));
		}
		if (!ok && ++setup_failures >= 3)
			break;
	}
	close(kmsg);
	for (i = 0; i < NORDERS; i++)
		orders += st.orders[i];
	TH_LOG("%d rounds in %ld ms (longest %ld ms), %d of %d close orders", done,
	       now_ms() - t0, max_ms, orders, NORDERS);
	TH_LOG("vCPUs: %ld rpcit, %ld exits, %ld IOMMU_HWPT_INVALIDATE after exits",
	       st.rpcit, st.exits, st.inv);
	TH_LOG("vCPUs: %ld cc 2, %ld cc 1 status 16, %ld KVM_RUN errors", st.busy, st.res16,
	       st.runerr);
	for (i = 0; i < NKINDS; i++)
		if (st.kinds[i])
			TH_LOG("wrong answers: %ld x %s", st.kinds[i], kind_name[i]);

	base_ok = zpin_wait(kb0, foll0, 10000);
	TH_LOG("pins: VmPin %ld kB (baseline %ld), foll pins %ld (baseline %ld)",
	       zpin_vmpin_kb(), kb0, zpin_foll_pinned(), foll0);
	for (t = now_ms(); now_ms() - t < 5000; sleep_ms(50)) {
		ret = read_summary(&m, line, sizeof(line));
		sum_ok = !ret && !m.pins && !m.tables;
		if (sum_ok || ret == -ENOENT)
			break;
	}
	if (ret) {
		TH_LOG("%s: %s", SUMMARY, strerror(-ret));
	} else {
		TH_LOG("%s: %s", SUMMARY, line);
		TH_LOG("during the rounds: %ld host RPCITs failed, %ld RPCITs to the VMM, %ld cc 2",
		       m.failures - m0.failures, m.to_vmm - m0.to_vmm, m.busy - m0.busy);
	}

	printf("stress: %d vCPUs, %d functions, %ld rpcit, %ld wrong answers, %s\n",
	       st.min_vcpus, st.max_funcs, st.rpcit, st.wrong,
	       base_ok && sum_ok ? "pins back to baseline" : "pins NOT back to baseline");
	fflush(stdout);

	ASSERT_LT(0, done) TH_LOG("no round completed");
	ASSERT_EQ(0, st.errors) TH_LOG("%ld VMM operations or checks failed", st.errors);
	ASSERT_EQ(0, st.wrong);
	ASSERT_LE(4, st.min_vcpus);
	if (done >= NORDERS)
		ASSERT_EQ(NORDERS, orders);
	ASSERT_TRUE(base_ok);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", SUMMARY, strerror(-ret));
	ASSERT_EQ(0, m.pins) TH_LOG("%s", line);
	ASSERT_EQ(0, m.tables) TH_LOG("%s", line);
}

/* ------------------------------------------------------- recover races */

/*
 * A fresh nested hwpt on vfio0, the virtio rings and one data page mapped
 * through it: the device reads the disk block at disk_off into the page.
 */
static int dma_proof(uint64_t disk_off, char *why, size_t len)
{
	struct zv_page ring[ZV_RING_PAGES];
	struct zv_seg seg;
	struct ztables t;
	struct zv_blk v;
	struct zrpcit r;
	struct zdev d;
	struct zvm vm;
	uint64_t pba, pal, gpa;
	uint32_t hwpt = 0;
	enum zv_req req;
	uint8_t *page, bs;
	int i, ret;

	v.devfd = -1;
	ret = zdev_open(&d, ZPCI_VFIO_DEV);
	if (ret) {
		snprintf(why, len, "open %s: %s", ZPCI_VFIO_DEV, strerror(-ret));
		return ret;
	}
	ret = zvm_create(&vm, VM_MEM);
	if (ret) {
		snprintf(why, len, "VM: %s", strerror(-ret));
		zdev_close(&d);
		return ret;
	}
	zdev_aperture(&d, &pba, &pal);
	ret = zt_init(&t, &vm);
	if (!ret)
		ret = zdev_hwpt_alloc(&d, vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&t), pba, pal, &hwpt);
	if (!ret)
		ret = zdev_attach(&d, hwpt);
	if (ret) {
		snprintf(why, len, "fresh nested hwpt: %s", strerror(-ret));
		goto out;
	}
	for (i = 0; i < ZV_RING_PAGES && !ret; i++) {
		gpa = zvm_alloc(&vm, ZPCI_PAGE_SIZE, ZPCI_PAGE_SIZE);
		ring[i].iova = pba + i * ZPCI_PAGE_SIZE;
		ring[i].host = zvm_ptr(&vm, gpa);
		ret = gpa ? zt_map(&t, ring[i].iova, gpa, false) : -ENOMEM;
	}
	gpa = zvm_alloc_scattered_page(&vm);
	if (!ret)
		ret = gpa ? zt_map(&t, pba + ZPCI_MIB, gpa, false) : -ENOMEM;
	if (ret) {
		snprintf(why, len, "guest tables: %s", strerror(-ret));
		goto out;
	}
	page = zvm_ptr(&vm, gpa);
	ret = zvm_rpcit(&vm, ZPCI_GUEST_FH, pba, ZPCI_MIB + ZPCI_PAGE_SIZE, &r);
	if (ret || r.exit_reason != KVM_EXIT_INTR || r.cc) {
		snprintf(why, len, "RPCIT: %s, exit %s, cc %d status %d",
			 strerror(ret < 0 ? -ret : 0), zvm_exit_name(r.exit_reason), r.cc,
			 r.status);
		ret = -EIO;
		goto out;
	}
	ret = zv_probe(&v, d.devfd);
	if (!ret)
		ret = zv_start(&v, ring);
	if (ret) {
		snprintf(why, len, "virtio: %s", v.err);
		goto out;
	}
	memset(page, 0x5a, ZPCI_PAGE_SIZE);
	seg.iova = pba + ZPCI_MIB;
	seg.len = ZPCI_PAGE_SIZE;
	req = zv_request(&v, VIRTIO_BLK_T_IN, disk_off / ZV_SECTOR, &seg, 1, REQ_TIMEOUT_MS, &bs);
	if (req != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
		snprintf(why, len, "read disk 0x%llx by DMA: %s, blk status %u (%s)",
			 (unsigned long long)disk_off, zv_req_name(req), bs, v.err);
		ret = -EIO;
		goto out;
	}
	for (i = 0; i < (int)ZPCI_PAGE_SIZE; i++) {
		if (page[i] != zdisk_pattern_byte(disk_off + i)) {
			snprintf(why, len, "DMA page byte %d: 0x%02x, want 0x%02x", i, page[i],
				 zdisk_pattern_byte(disk_off + i));
			ret = -EIO;
			goto out;
		}
	}
	ret = 0;
out:
	if (v.devfd >= 0 && !ret)
		zv_reset(&v);
	if (hwpt) {
		zdev_detach(&d);
		zdev_destroy_obj(&d, hwpt);
	}
	zdev_close(&d);
	zvm_destroy(&vm);
	return ret;
}

struct recover_arg {
	int ret;
	char err[256];
};

static void *recover_main(void *arg)
{
	struct recover_arg *a = arg;

	a->ret = zv_recover(ZPCI_VFIO_DEV, -1, a->err, sizeof(a->err));
	return NULL;
}

/* the cdev goes at the start of the vfio removal, which then waits for our fds */
static bool removal_started(int timeout_ms)
{
	struct stat sb;
	long t0 = now_ms();

	while (!stat(ZPCI_VFIO_DEV, &sb)) {
		if (now_ms() - t0 > timeout_ms)
			return false;
		sleep_ms(1);
	}
	return true;
}

TEST_F_TIMEOUT(stress, recover_races_detach, 300)
{
	struct recover_arg arg;
	struct ztables t[2];
	struct timespec ts;
	struct zrpcit res;
	struct zdev d;
	struct zvm vm;
	uint32_t h[2];
	uint64_t pba, pal, gpa;
	long kb0, foll0;
	char why[512];
	pthread_t th;
	int it, k, i, how, ret;

	ASSERT_EQ(0, recover_if_broken(_metadata, ZPCI_VFIO_DEV));
	zpin_settle(200, 5000);
	kb0 = zpin_vmpin_kb();
	foll0 = zpin_foll_pinned();

	for (it = 0; it < RECOVER_ITERS; it++) {
		how = it % 4;
		ASSERT_EQ(0, zdev_open(&d, ZPCI_VFIO_DEV));
		ASSERT_EQ(0, zvm_create(&vm, VM_MEM));
		zdev_aperture(&d, &pba, &pal);
		for (i = 0; i < 2; i++) {
			ASSERT_EQ(0, zt_init(&t[i], &vm));
			for (k = 0; k < 8; k++) {
				gpa = zvm_alloc_scattered_page(&vm);
				ASSERT_NE(0, gpa);
				ASSERT_EQ(0, zt_map(&t[i], pba + k * ZPCI_PAGE_SIZE, gpa, false));
			}
			ASSERT_EQ(0, zdev_hwpt_alloc(&d, vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&t[i]),
						     pba, pal, &h[i]));
		}
		ASSERT_EQ(0, zdev_attach(&d, h[0]));
		ASSERT_EQ(0, zvm_rpcit(&vm, ZPCI_GUEST_FH, pba, 8 * ZPCI_PAGE_SIZE, &res));
		ASSERT_EQ(KVM_EXIT_INTR, res.exit_reason);
		ASSERT_EQ(0, res.cc);

		memset(&arg, 0, sizeof(arg));
		ASSERT_EQ(0, pthread_create(&th, NULL, recover_main, &arg));
		/* the later half: only once the removal waits for our device fd */
		if (it >= RECOVER_ITERS / 2)
			ASSERT_TRUE(removal_started(10000))
				TH_LOG("%s still there 10 s after the recover write",
				       ZPCI_VFIO_DEV);
		for (k = 0; k < 1 + it % 3; k++) {
			ASSERT_EQ(0, zdev_attach(&d, h[1]));		/* replace */
			ASSERT_EQ(0, zvm_rpcit(&vm, ZPCI_GUEST_FH, pba, 8 * ZPCI_PAGE_SIZE,
					       &res));
			ASSERT_EQ(KVM_EXIT_INTR, res.exit_reason);
			ASSERT_EQ(0, res.cc) TH_LOG("status %d", res.status);
			ASSERT_EQ(0, zdev_attach(&d, h[0]));		/* and back */
			ASSERT_EQ(0, zdev_detach(&d));
			ASSERT_EQ(0, zdev_attach(&d, h[0]));
		}
		switch (how) {
		case 0:		/* detach, destroy both, close */
			ASSERT_EQ(0, zdev_detach(&d));
			ASSERT_EQ(0, zdev_destroy_obj(&d, h[0]));
			ASSERT_EQ(0, zdev_destroy_obj(&d, h[1]));
			zdev_close(&d);
			break;
		case 1:		/* replace, destroy the old, close, destroy the new */
			ASSERT_EQ(0, zdev_attach(&d, h[1]));
			ASSERT_EQ(0, zdev_destroy_obj(&d, h[0]));
			ASSERT_EQ(0, close(d.devfd));
			d.devfd = -1;
			ASSERT_EQ(0, zdev_destroy_obj(&d, h[1]));
			zdev_close(&d);
			break;
		case 2:		/* close while attached, destroy both */
			ASSERT_EQ(0, close(d.devfd));
			d.devfd = -1;
			ASSERT_EQ(0, zdev_destroy_obj(&d, h[0]));
			ASSERT_EQ(0, zdev_destroy_obj(&d, h[1]));
			zdev_close(&d);
			break;
		default:	/* the iommufd first, the device frees the rest */
			ASSERT_EQ(0, close(d.iommufd));
			d.iommufd = -1;
			zdev_close(&d);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 60;
		ret = pthread_timedjoin_np(th, NULL, &ts);
		ASSERT_EQ(0, ret) TH_LOG("recover still running after 60 s: %s", strerror(ret));
		ASSERT_EQ(0, arg.ret) TH_LOG("iteration %d: recover: %s", it, arg.err);
		zvm_destroy(&vm);

		ret = dma_proof(0x300000 + it * 0x11000, why, sizeof(why));
		ASSERT_EQ(0, ret) TH_LOG("iteration %d (variant %d): %s", it, how, why);
		ASSERT_TRUE(zpin_wait(kb0, foll0, 5000))
			TH_LOG("pins: VmPin %+ld kB, foll pins %+ld", zpin_vmpin_kb() - kb0,
			       zpin_foll_pinned() - foll0);
		TH_LOG("iteration %d (variant %d): recovered, DMA through a fresh hwpt", it,
		       how);
	}
}

/*
 * -r ROUNDS, -s SECONDS and -q are this program's; everything else goes to
 * the kselftest harness.
 */
int main(int argc, char **argv)
{
	int i = 1;

	for (;;) {
		int v;

		if (i < argc && !strcmp(argv[i], "-q")) {
			opt_quiesce = true;
			i++;
			continue;
		}
		if (i + 1 >= argc || (strcmp(argv[i], "-r") && strcmp(argv[i], "-s")))
			break;
		v = atoi(argv[i + 1]);

		if (v <= 0) {
			fprintf(stderr, "%s: %s needs a positive number\n", argv[0], argv[i]);
			return 2;
		}
		if (argv[i][1] == 'r')
			opt_rounds = v;
		else
			opt_seconds = v;
		i += 2;
	}
	argv[i - 1] = argv[0];
	return test_harness_run(argc - i + 1, argv + i - 1);
}
