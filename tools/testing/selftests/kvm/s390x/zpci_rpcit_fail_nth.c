// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_fail_nth - the s390 KVM nested IOMMU domain survives every
 * allocation, pin and host RPCIT failure on its paths.
 *
 * As tools/testing/selftests/iommu/iommufd_fail_nth.c does, the per-task
 * fail-nth file makes the nth fault-injection point this task reaches fail:
 * slab and page allocations (FAILSLAB, FAIL_PAGE_ALLOC, order 0 included,
 * sleeping allocations included), a pin (fail_s390_kvm_pin) and a host
 * RPCIT (fail_s390_kvm_host_rpcit, as status 16 or as status 8). Each
 * operation is attempted with n = 1, 2, ... until it completes without
 * reaching the nth point. After every attempt:
 *  - the operation returned 0 or ENOMEM, EFAULT (a failed copy) or EINTR;
 *    a guest RPCIT (KVM_RUN of its intercept) got an architected answer:
 *    cc 0, cc 1 status 16, cc 2, or it went to the VMM (registers kept),
 *    whose IOMMU_HWPT_INVALIDATE of the same range got one;
 *  - completing the operation without injection (bounded retries, as a
 *    guest or VMM does) works and the shadow is what the guest tables say;
 *  - the kernel logged no splat;
 *  - once the objects of the attempt are gone, the foll pins
 *    (nr_foll_pin_acquired - nr_foll_pin_released), VmPin and the debugfs
 *    summary (domains, attached, pins, tables) are back at the baseline.
 * The last test prints
 *   fault injection: N failure points walked, N recovered, 0 leaked pins, 0 leaked tables
 * N walked counts the attempts whose nth point was reached and failed, N
 * recovered those of them after which everything was back at the baseline.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"

#define FH		ZPCI_GUEST_FH
#define NPAGES		6		/* 3 + 3 around a 1 MiB page-table boundary */
#define RANGE		(NPAGES * ZPCI_PAGE_SIZE)
#define VM_MEM		(32 * ZPCI_MIB)
#define SLOT_SIZE	ZPCI_MIB	/* memslot 1: the guest's DMA data */
#define SLOT_MOVE	(64 * ZPCI_MIB)
#define PINNED		IOMMU_HWPT_S390_KVM_PINNED_PARENT
#define WALK_LIMIT	300		/* fault points per operation */
#define BUDGET_S	225		/* all walks together, seconds */
#define WALKS_TOTAL	20
#define RETRIES		16
#define SETTLE_MS	3000
#define DBGFS		"/sys/kernel/debug"
#define KIOMMU		DBGFS "/s390-kvm-iommu"
#define HOST_STATUS	KIOMMU "/host_rpcit_fail_status"
#define KSUM_FMT	"domains %ld attached %ld pins %ld tables %ld " \
			"host_rpcit_failures %ld pending %ld to_vmm %ld busy %ld"
#define SUMMARY_FMT \
"fault injection: %ld failure points walked, %ld recovered, %ld leaked pins, %ld leaked tables\n"
#define WALK_FMT \
	"%s: %ld points, %ld recovered; cc0 %ld cc1/16 %ld cc2 %ld vmm %ld errno %ld; %.1f s%s\n"

/* shared by the test processes the harness forks */
struct totals {
	long walked;
	long recovered;
	long leaked_pins;
	long leaked_tables;
	int walks_done;
	int limits_hit;
	double t0;
};

static struct totals *tot;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void __attribute__((constructor)) totals_init(void)
{
	void *p = mmap(NULL, sizeof(*tot), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	tot = p;
	memset(tot, 0, sizeof(*tot));
	tot->t0 = now_s();
}

/* ------------------------------------------------------------ fail-nth */

struct fnth {
	int fd;
	unsigned int nth;	/* 0: no injection */
	bool injected;		/* the nth point was reached (and failed) */
};

static int fnth_enable(struct fnth *f)
{
	char buf[16];
	int len;

	f->injected = false;
	if (!f->nth)
		return 0;
	len = snprintf(buf, sizeof(buf), "%u", f->nth);
	return pwrite(f->fd, buf, len, 0) == len ? 0 : -errno;
}

/* stop injecting; the count left is 0 when the nth point was reached */
static int fnth_disable(struct fnth *f)
{
	char buf[16] = "";
	ssize_t n;

	if (!f->nth)
		return 0;
	n = pread(f->fd, buf, sizeof(buf) - 1, 0);
	/* the read itself was the nth point: the operation did not reach it */
	if (n < 0 && errno == EFAULT) {
		memcpy(buf, "1\n", 3);
		n = 2;
	}
	if (pwrite(f->fd, "0", 1, 0) != 1) {
		if (errno != EFAULT || pwrite(f->fd, "0", 1, 0) != 1)
			return -errno;
		memcpy(buf, "1\n", 3);
		n = 2;
	}
	if (n < 2)
		return -EIO;
	f->injected = buf[0] == '0' && buf[1] == '\n';
	return 0;
}

static const struct fnth no_fnth = { .fd = -1 };

/* ------------------------------------------------------ debugfs, config */

struct ksum {
	long domains, attached, pins, tables, failures, pending, to_vmm, busy;
};

static int ksum_read(struct ksum *k)
{
	FILE *f = fopen(KIOMMU "/summary", "r");
	int n;

	memset(k, 0, sizeof(*k));
	if (!f)
		return -errno;
	n = fscanf(f, KSUM_FMT, &k->domains, &k->attached, &k->pins, &k->tables, &k->failures,
		   &k->pending, &k->to_vmm, &k->busy);
	fclose(f);
	return n == 8 ? 0 : -EIO;
}

struct needed {
	const char *path;
	const char *what;
};

static const struct needed needed[] = {
	{ DBGFS "/failslab", "CONFIG_FAILSLAB with CONFIG_FAULT_INJECTION_DEBUG_FS" },
	{ DBGFS "/fail_page_alloc", "CONFIG_FAIL_PAGE_ALLOC" },
	{ DBGFS "/fail_s390_kvm_pin", "the s390 KVM IOMMU pin fault point" },
	{ DBGFS "/fail_s390_kvm_host_rpcit", "the s390 KVM IOMMU host RPCIT fault point" },
	{ HOST_STATUS, "the host RPCIT failure status control" },
	{ KIOMMU "/summary", "the s390 KVM IOMMU debugfs summary" },
	{ "/dev/kvm", "KVM" },
	{ "/dev/iommu", "iommufd" },
	{ ZPCI_VFIO_DEV, "a zPCI function bound to vfio-pci" },
};

/* every fault point fails when its turn comes, quietly */
static bool fi_configure(struct __test_metadata *_metadata)
{
	static const char * const knobs[] = {
		DBGFS "/failslab/ignore-gfp-wait",
		DBGFS "/fail_page_alloc/ignore-gfp-wait",
		DBGFS "/fail_page_alloc/ignore-gfp-highmem",
	};
	DIR *dir = opendir(DBGFS);
	struct dirent *de;
	char path[300];
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ret = zfile_write_str(knobs[i], "N");
		if (ret) {
			TH_LOG("%s: %s", knobs[i], strerror(-ret));
			return false;
		}
	}
	/* order-0 pages too: the shadow's page tables are single pages */
	ret = zfile_write_str(DBGFS "/fail_page_alloc/min-order", "0");
	if (ret) {
		TH_LOG("%s/fail_page_alloc/min-order: %s", DBGFS, strerror(-ret));
		return false;
	}
	if (!dir) {
		TH_LOG("%s: %s", DBGFS, strerror(errno));
		return false;
	}
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "fail", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s/verbose", DBGFS, de->d_name);
		zfile_write_str(path, "0");
	}
	closedir(dir);
	return true;
}

/* fault the stack in: no page fault of ours lands in an injection window */
static void stack_prefault(void)
{
	char buf[128 * 1024];

	memset(buf, 0, sizeof(buf));
	__asm__ __volatile__("" : : "r" (buf) : "memory");
}

/* ------------------------------------------------------------ kmsg */

static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static const char * const splats[] = {
	"WARNING:", "BUG:", "lockdep", "KASAN", "Oops", "Kernel panic", "kernel BUG at",
	"self-detected stall", "detected stalls", "RCU Stall", "blocked for more than",
	"hung_task", "general protection", "UBSAN:", "refcount_t:", "list_add corruption",
	"list_del corruption",
};

/* the records logged since the last call: false if one is a splat */
static bool kmsg_clean(struct __test_metadata *_metadata, int fd)
{
	char rec[1024], *text;
	bool clean = true;
	unsigned int i;
	int shown = 0;
	ssize_t n;

	if (fd < 0)
		return true;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		text[strcspn(text, "\n")] = 0;
		if (strstr(text, "RCU lockdep checking is enabled"))
			continue;
		for (i = 0; i < ARRAY_SIZE(splats); i++) {
			if (!strstr(text, splats[i]))
				continue;
			if (shown++ < 8)
				TH_LOG("kernel: %s", text);
			clean = false;
			break;
		}
	}
	return clean;
}

/* ---------------------------------------------------------- baseline */

struct base {
	long kb, foll;
};

static void base_take(struct base *b)
{
	zpin_settle(100, 2000);
	b->kb = zpin_vmpin_kb();
	b->foll = zpin_foll_pinned();
}

static long max3(long a, long b, long c)
{
	long m = a > b ? a : b;

	return m > c ? m : c;
}

/*
 * Everything released: no domain, no attachment, no pin, no table, pins at
 * the baseline (polled: releases may be deferred). Otherwise the leak.
 */
static bool base_back(struct __test_metadata *_metadata, struct base *b, long *pins,
		      long *tables)
{
	struct ksum k;
	long kb, foll;
	int waited;
	int ret;

	for (waited = 0;; waited += 20) {
		ret = ksum_read(&k);
		kb = zpin_vmpin_kb();
		foll = zpin_foll_pinned();
		if (!ret && !k.domains && !k.attached && !k.pins && !k.tables &&
		    kb <= b->kb && foll <= b->foll) {
			/* released something from before: measure from here */
			b->kb = kb;
			b->foll = foll;
			*pins = 0;
			*tables = 0;
			return true;
		}
		if (waited >= SETTLE_MS)
			break;
		sleep_ms(20);
	}
	*pins = max3(foll - b->foll, (kb - b->kb) / 4, k.pins);
	*tables = k.tables;
	TH_LOG("left: domains %ld attached %ld pins %ld tables %ld, VmPin %+ld kB, foll %+ld%s",
	       k.domains, k.attached, k.pins, k.tables, kb - b->kb, foll - b->foll,
	       ret ? " (summary unreadable)" : "");
	b->kb = kb;
	b->foll = foll;
	if (*pins <= 0 && *tables <= 0)
		*pins = 1;	/* a domain or an attachment is left: count it */
	return false;
}

/* ---------------------------------------------------------- the rig */

struct stats {
	long done, resources, busy, vmm, errs;
};

struct rig {
	struct zvm vm;
	struct zdev d;
	struct ztables t, t2;
	uint32_t flags;		/* IOMMU_HWPT_S390_KVM_* of the nested hwpts */
	uint32_t hwpt, hwpt2;
	bool have_hwpt, have_hwpt2, attached;
	bool view_unsure;	/* the debugfs view was created under injection */
	uint64_t pba, pal, iova, slot_gpa;
	uint64_t tbl_next, data_idx;	/* guest allocator after the base */
	struct fnth f;
	int kmsg;
	bool host_status8;
	struct stats st;
	long tables_left;	/* attempts after which an empty table was left */
};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->vm.kvm_fd = -1;
	r->vm.vm_fd = -1;
	r->vm.vcpu_fd = -1;
	r->d.iommufd = -1;
	r->d.devfd = -1;
	r->f.fd = -1;
	r->kmsg = -1;
}

static bool errno_ok(int ret)
{
	return ret == -ENOMEM || ret == -EFAULT || ret == -EINTR;
}

/* VM with the data memslot, device, nest parent (mapping the slot if pinned) */
static int rig_base_up(struct __test_metadata *_metadata, struct rig *r, uint32_t flags)
{
	int ret;

	r->flags = flags;
	ret = zdev_open(&r->d, ZPCI_VFIO_DEV);
	if (ret) {
		TH_LOG("open %s: %s", ZPCI_VFIO_DEV, strerror(-ret));
		return ret;
	}
	if (!r->d.have_zpci_info) {
		TH_LOG("%s: no VFIO_DEVICE_INFO_CAP_ZPCI_BASE", ZPCI_VFIO_DEV);
		return -ENODEV;
	}
	zdev_aperture(&r->d, &r->pba, &r->pal);
	ret = zvm_create(&r->vm, VM_MEM);
	if (ret) {
		TH_LOG("VM: %s", strerror(-ret));
		return ret;
	}
	ret = zvm_add_data_slot(&r->vm, r->d.start_dma, SLOT_SIZE);
	if (ret) {
		TH_LOG("data memslot: %s", strerror(-ret));
		return ret;
	}
	r->slot_gpa = r->vm.hi_gpa;
	if (flags & PINNED) {
		ret = zdev_parent_map(&r->d, r->vm.hi_mem, r->vm.hi_gpa, r->vm.hi_size);
		if (ret) {
			TH_LOG("parent map: %s", strerror(-ret));
			return ret;
		}
	}
	r->tbl_next = r->vm.tbl_next;
	r->data_idx = r->vm.data_idx;
	r->iova = r->pba + ZPCI_MIB - NPAGES / 2 * ZPCI_PAGE_SIZE;
	return 0;
}

/* detach and destroy what an attempt left */
static int rig_attempt_down(struct __test_metadata *_metadata, struct rig *r)
{
	int ret = 0, i;

	for (i = 0; r->attached && i < RETRIES; i++) {
		ret = zdev_detach(&r->d);
		if (!ret)
			r->attached = false;
	}
	for (i = 0; r->have_hwpt2 && i < RETRIES; i++) {
		ret = zdev_destroy_obj(&r->d, r->hwpt2);
		if (!ret)
			r->have_hwpt2 = false;
	}
	for (i = 0; r->have_hwpt && i < RETRIES; i++) {
		ret = zdev_destroy_obj(&r->d, r->hwpt);
		if (!ret)
			r->have_hwpt = false;
	}
	if (r->attached || r->have_hwpt || r->have_hwpt2) {
		TH_LOG("teardown of the attempt: %s", strerror(-ret));
		return -1;
	}
	return 0;
}

static void rig_base_down(struct rig *r)
{
	zdev_close(&r->d);
	zvm_destroy(&r->vm);
	r->attached = false;
	r->have_hwpt = false;
	r->have_hwpt2 = false;
}

/* fresh guest tables and the same data frames for every attempt */
static int guest_reset(struct rig *r)
{
	r->vm.tbl_next = r->tbl_next;
	r->vm.data_idx = r->data_idx;
	r->view_unsure = false;
	return zt_init(&r->t, &r->vm);
}

static int guest_map(struct rig *r, struct ztables *t, uint64_t iova, int n)
{
	uint64_t gpa;
	int i, ret;

	for (i = 0; i < n; i++) {
		gpa = zvm_alloc_scattered_page(&r->vm);
		if (!gpa)
			return -ENOMEM;
		ret = zt_map(t, iova + i * ZPCI_PAGE_SIZE, gpa, false);
		if (ret)
			return ret;
	}
	return 0;
}

static int guest_unmap(struct rig *r, uint64_t iova, int n)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = zt_unmap(&r->t, iova + i * ZPCI_PAGE_SIZE);
		if (ret)
			return ret;
	}
	return 0;
}

static int hwpt_new(struct __test_metadata *_metadata, struct rig *r, struct ztables *t,
		    uint32_t *id)
{
	int ret = -EIO, i;

	for (i = 0; i < RETRIES; i++) {
		ret = zdev_hwpt_alloc_flags(&r->d, r->vm.vm_fd, FH, r->flags, zt_iota(t),
					    r->pba, r->pal, id);
		if (!errno_ok(ret))
			break;
	}
	if (ret)
		TH_LOG("IOMMU_HWPT_ALLOC (flags 0x%x): %s", r->flags, strerror(-ret));
	return ret;
}

static int attach_retry(struct __test_metadata *_metadata, struct rig *r, uint32_t id)
{
	int ret = -EIO, i;

	for (i = 0; i < RETRIES; i++) {
		ret = zdev_attach(&r->d, id);
		if (!errno_ok(ret))
			break;
	}
	if (ret)
		TH_LOG("attach hwpt %u: %s", id, strerror(-ret));
	else
		r->attached = true;
	return ret;
}

/* ------------------------------------------------------ guest RPCIT */

enum ans { ANS_DONE, ANS_RESOURCES, ANS_BUSY, ANS_VMM, ANS_EINTR, ANS_BAD };

struct answer {
	int ret;		/* KVM_RUN: 0 or -errno */
	uint32_t exit_reason;
	uint8_t icptcode;
	uint16_t ipa;
	int cc, status;
	bool regs_kept;
};

/* RPCIT 1,2 of [iova, iova + len) in supervisor state, injecting in KVM_RUN */
static int guest_rpcit(struct rig *r, uint64_t iova, uint64_t len, struct fnth *f,
		       struct answer *a)
{
	struct kvm_s390_test_intercept icpt = {
		.icptcode = ZPCI_ICPT_INST,
		.ipa = ZPCI_IPA_RPCIT,
		.ipb = ZPCI_RPCIT_IPB(1, 2),
	};
	struct kvm_regs regs;
	int ret;

	memset(a, 0, sizeof(*a));
	memset(&regs, 0, sizeof(regs));
	if (ioctl(r->vm.vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	regs.gprs[1] = (uint64_t)FH << 32;
	regs.gprs[2] = iova;
	regs.gprs[3] = len;
	if (ioctl(r->vm.vcpu_fd, KVM_SET_REGS, &regs))
		return -errno;
	r->vm.run->psw_mask = ZPCI_PSW_EA_BA;
	r->vm.run->psw_addr = 0x10000;
	r->vm.run->immediate_exit = 0;
	if (ioctl(r->vm.vcpu_fd, KVM_S390_TEST_INTERCEPT, &icpt))
		return -errno;
	ret = fnth_enable(f);
	if (ret)
		return ret;
	a->ret = ioctl(r->vm.vcpu_fd, KVM_RUN, 0) ? -errno : 0;
	ret = fnth_disable(f);
	if (ret)
		return ret;
	a->exit_reason = r->vm.run->exit_reason;
	a->cc = (r->vm.run->psw_mask >> 44) & 3;
	if (a->exit_reason == KVM_EXIT_S390_SIEIC) {
		a->icptcode = r->vm.run->s390_sieic.icptcode;
		a->ipa = r->vm.run->s390_sieic.ipa;
	}
	if (ioctl(r->vm.vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	a->status = (regs.gprs[1] >> 24) & 0xff;
	a->regs_kept = regs.gprs[1] == (uint64_t)FH << 32 && regs.gprs[2] == iova &&
		       regs.gprs[3] == len;
	return 0;
}

static enum ans answer_class(const struct answer *a)
{
	if (a->ret == -EINTR)
		return ANS_EINTR;
	if (a->ret)
		return ANS_BAD;
	if (a->exit_reason == KVM_EXIT_S390_SIEIC)
		return a->icptcode == ZPCI_ICPT_INST && a->ipa == ZPCI_IPA_RPCIT &&
		       a->regs_kept ? ANS_VMM : ANS_BAD;
	if (a->exit_reason != KVM_EXIT_INTR)
		return ANS_BAD;
	if (a->cc == 0)
		return ANS_DONE;
	if (a->cc == 1 && a->status == ZPCI_STATUS_RESOURCES)
		return ANS_RESOURCES;
	if (a->cc == 2)
		return ANS_BUSY;
	return ANS_BAD;
}

static void answer_log(struct __test_metadata *_metadata, const char *what,
		       const struct answer *a)
{
	TH_LOG("%s: KVM_RUN %s, exit %s (icpt %u ipa 0x%x), cc %d status %d, regs %s",
	       what, a->ret ? strerror(-a->ret) : "0", zvm_exit_name(a->exit_reason),
	       a->icptcode, a->ipa, a->cc, a->status, a->regs_kept ? "kept" : "changed");
}

/* an IOMMU_HWPT_INVALIDATE entry answer the VMM can pass on to the guest */
static bool vmm_answer_ok(struct rig *r, int cc, int status)
{
	if (cc == 0 || cc == 2)
		return true;
	return cc == 1 && (status == ZPCI_STATUS_RESOURCES ||
			   (r->host_status8 && status == ZPCI_STATUS_ERROR));
}

static void count_answer(struct rig *r, enum ans c)
{
	switch (c) {
	case ANS_DONE:
		r->st.done++;
		break;
	case ANS_RESOURCES:
		r->st.resources++;
		break;
	case ANS_BUSY:
	case ANS_EINTR:
		r->st.busy++;
		break;
	case ANS_VMM:
		r->st.vmm++;
		break;
	default:
		break;
	}
}

/* an injected attempt's guest answer, with the VMM's refresh when it got it */
static bool rpcit_answer_ok(struct __test_metadata *_metadata, struct rig *r,
			    const struct answer *a, uint64_t iova, uint64_t len)
{
	enum ans c = answer_class(a);
	int ret, cc, st;

	count_answer(r, c);
	if (c == ANS_BAD) {
		answer_log(_metadata, "not an architected answer", a);
		return false;
	}
	if (c != ANS_VMM)
		return true;
	ret = zdev_refresh(&r->d, r->hwpt, iova, len, &cc, &st);
	if (!ret && vmm_answer_ok(r, cc, st))
		return true;
	TH_LOG("to the VMM; its IOMMU_HWPT_INVALIDATE: %s, cc %d status %d",
	       ret ? strerror(-ret) : "0", cc, st);
	return false;
}

/*
 * As a guest does: RPCIT until cc 0, cc 2 retried, cc 1 status 16 answered
 * with a global refresh, one the VMM gets handled by its refresh
 */
static int guest_refresh(struct __test_metadata *_metadata, struct rig *r, uint64_t iova,
			 uint64_t len)
{
	struct fnth none = no_fnth;
	struct answer a;
	int i, ret, cc, st;

	for (i = 0; i < RETRIES; i++) {
		ret = guest_rpcit(r, iova, len, &none, &a);
		if (ret) {
			TH_LOG("RPCIT setup: %s", strerror(-ret));
			return -1;
		}
		switch (answer_class(&a)) {
		case ANS_DONE:
			return 0;
		case ANS_BUSY:
		case ANS_EINTR:
			continue;
		case ANS_RESOURCES:
			iova = r->pba;
			len = r->pal - r->pba + 1;
			continue;
		case ANS_VMM:
			ret = zdev_refresh(&r->d, r->hwpt, iova, len, &cc, &st);
			if (!ret && cc == 0)
				return 0;
			if (!ret && vmm_answer_ok(r, cc, st))
				continue;
			TH_LOG("refresh by the VMM: %s, cc %d status %d",
			       ret ? strerror(-ret) : "0", cc, st);
			return -1;
		default:
			answer_log(_metadata, "refresh without injection", &a);
			return -1;
		}
	}
	answer_log(_metadata, "no cc 0 within the retries", &a);
	return -1;
}

/* as a VMM does: IOMMU_HWPT_INVALIDATE until cc 0 */
static int vmm_refresh(struct __test_metadata *_metadata, struct rig *r, uint64_t iova,
		       uint64_t len)
{
	int i, ret = 0, cc = -1, st = -1;

	for (i = 0; i < RETRIES; i++) {
		ret = zdev_refresh(&r->d, r->hwpt, iova, len, &cc, &st);
		if (errno_ok(ret))
			continue;
		if (ret || !vmm_answer_ok(r, cc, st))
			break;
		if (cc == 0)
			return 0;
		if (cc == 1) {
			iova = r->pba;
			len = r->pal - r->pba + 1;
		}
	}
	TH_LOG("IOMMU_HWPT_INVALIDATE: %s, cc %d status %d", ret ? strerror(-ret) : "0", cc, st);
	return -1;
}

/* valid shadow PTEs in [iova, iova + n pages) are want */
static bool shadow_is(struct __test_metadata *_metadata, struct rig *r, uint64_t iova,
		      int n, long want)
{
	long got = zshadow_read(FH, iova, iova + n * ZPCI_PAGE_SIZE - 1, NULL, 0, NULL, NULL);

	if (got == -ENOENT && r->view_unsure && r->attached)
		return true;	/* its debugfs file failed to be created */
	if (got == want)
		return true;
	TH_LOG("shadow of IOVA 0x%llx +%d pages: %ld entries, want %ld",
	       (unsigned long long)iova, n, got, want);
	return false;
}

/* summary pins and pending ranges (pending < 0: any) */
static bool ksum_is(struct __test_metadata *_metadata, long pins, long pending)
{
	struct ksum k;
	int waited;

	for (waited = 0;; waited += 20) {
		if (!ksum_read(&k) && k.pins == pins && (pending < 0 || k.pending == pending))
			return true;
		if (waited >= 1000)
			break;
		sleep_ms(20);
	}
	TH_LOG("summary: pins %ld pending %ld, want pins %ld pending %ld",
	       k.pins, k.pending, pins, pending);
	return false;
}

static long pins_of(struct rig *r, long pages)
{
	return r->flags & PINNED ? 0 : pages;
}

/* refreshed by the guest, the range is shadowed as mapped, nothing pending */
static int check_served(struct __test_metadata *_metadata, struct rig *r, uint64_t iova,
			long pins)
{
	if (guest_refresh(_metadata, r, iova, RANGE))
		return -1;
	if (!shadow_is(_metadata, r, iova, NPAGES, NPAGES))
		return -1;
	return ksum_is(_metadata, pins, 0) ? 0 : -1;
}

/* cond, or false with the reason logged */
static __printf(3, 4) bool check(struct __test_metadata *_metadata, bool cond,
				 const char *fmt, ...)
{
	va_list ap;

	if (cond)
		return true;
	fprintf(stderr, "# %s: ", _metadata->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

/* ------------------------------------------------------------ attempts */

typedef int (*attempt_fn)(struct __test_metadata *_metadata, struct rig *r, int arg);

enum up { UP_TABLES, UP_HWPT, UP_ATTACHED, UP_REFRESHED };

/* guest tables mapping NPAGES at r->iova; a nested hwpt, attached, refreshed */
static int rig_up(struct __test_metadata *_metadata, struct rig *r, enum up level)
{
	if (guest_reset(r) || guest_map(r, &r->t, r->iova, NPAGES)) {
		TH_LOG("guest tables: out of guest memory");
		return -1;
	}
	if (level >= UP_HWPT) {
		if (hwpt_new(_metadata, r, &r->t, &r->hwpt))
			return -1;
		r->have_hwpt = true;
	}
	if (level >= UP_ATTACHED && attach_retry(_metadata, r, r->hwpt))
		return -1;
	if (level >= UP_REFRESHED && guest_refresh(_metadata, r, r->iova, RANGE))
		return -1;
	return 0;
}

static bool inject_on(struct __test_metadata *_metadata, struct rig *r)
{
	int ret = fnth_enable(&r->f);

	if (ret)
		TH_LOG("fail-nth %u: %s", r->f.nth, strerror(-ret));
	return !ret;
}

static bool inject_off(struct __test_metadata *_metadata, struct rig *r)
{
	int ret = fnth_disable(&r->f);

	if (ret)
		TH_LOG("fail-nth: %s", strerror(-ret));
	return !ret;
}

/* the injected step returned 0 or a clean errno; the count of errnos */
static bool step_ok(struct __test_metadata *_metadata, struct rig *r, const char *what,
		    int ret)
{
	if (!ret)
		return true;
	r->st.errs++;
	if (errno_ok(ret) && r->f.injected)
		return true;
	TH_LOG("%s: %s%s", what, strerror(-ret), r->f.injected ? "" : " without injection");
	return false;
}

/* IOMMU_HWPT_ALLOC of the nested hwpt */
static int attempt_alloc(struct __test_metadata *_metadata, struct rig *r, int arg)
{
	uint32_t id = 0;
	int ret;

	if (rig_up(_metadata, r, UP_TABLES) || !inject_on(_metadata, r))
		return -1;
	ret = zdev_hwpt_alloc_flags(&r->d, r->vm.vm_fd, FH, r->flags, zt_iota(&r->t),
				    r->pba, r->pal, &id);
	if (!inject_off(_metadata, r) || !step_ok(_metadata, r, "IOMMU_HWPT_ALLOC", ret))
		return -1;
	if (ret && hwpt_new(_metadata, r, &r->t, &id))
		return -1;
	r->hwpt = id;
	r->have_hwpt = true;
	if (attach_retry(_metadata, r, r->hwpt))
		return -1;
	return check_served(_metadata, r, r->iova, pins_of(r, NPAGES));
}

/* not attached: the kernel does not serve the fh, its RPCIT goes to the VMM */
static int check_not_served(struct __test_metadata *_metadata, struct rig *r)
{
	struct fnth none = no_fnth;
	struct answer a;
	struct ksum k;

	if (ksum_read(&k) || k.attached) {
		TH_LOG("after a failed attach: summary attached %ld", k.attached);
		return -1;
	}
	if (guest_rpcit(r, r->iova, RANGE, &none, &a) || answer_class(&a) != ANS_VMM) {
		answer_log(_metadata, "RPCIT after a failed attach", &a);
		return -1;
	}
	return 0;
}

/* attach of a new hwpt (arg 0) or of a detached one with a kept shadow (1) */
static int attempt_attach(struct __test_metadata *_metadata, struct rig *r, int kept)
{
	int ret;

	if (rig_up(_metadata, r, kept ? UP_REFRESHED : UP_HWPT))
		return -1;
	if (kept) {
		ret = zdev_detach(&r->d);
		if (!check(_metadata, !ret, "detach: %s", strerror(-ret)))
			return -1;
		r->attached = false;
	}
	if (!inject_on(_metadata, r))
		return -1;
	ret = zdev_attach(&r->d, r->hwpt);
	if (!inject_off(_metadata, r) || !step_ok(_metadata, r, "attach", ret))
		return -1;
	if (ret) {
		if (check_not_served(_metadata, r) || attach_retry(_metadata, r, r->hwpt))
			return -1;
	} else {
		r->attached = true;
		r->view_unsure = r->f.injected;
	}
	/* the kept shadow, announced; a failed host RPCIT leaves that pending */
	if (kept && (!shadow_is(_metadata, r, r->iova, NPAGES, NPAGES) ||
		     !ksum_is(_metadata, pins_of(r, NPAGES), r->f.injected ? -1 : 0)))
		return -1;
	return check_served(_metadata, r, r->iova, pins_of(r, NPAGES));
}

/* guest IOAT re-registration: hwpt 2 attached in place of hwpt 1, which is destroyed */
static int attempt_replace(struct __test_metadata *_metadata, struct rig *r, int arg)
{
	uint64_t iova2 = r->iova + 2 * ZPCI_MIB;
	int ret, ret2 = 0, i;

	if (rig_up(_metadata, r, UP_REFRESHED))
		return -1;
	if (zt_init(&r->t2, &r->vm) || guest_map(r, &r->t2, iova2, NPAGES)) {
		TH_LOG("second guest tables: out of guest memory");
		return -1;
	}
	if (hwpt_new(_metadata, r, &r->t2, &r->hwpt2))
		return -1;
	r->have_hwpt2 = true;

	if (!inject_on(_metadata, r))
		return -1;
	ret = zdev_attach(&r->d, r->hwpt2);
	if (!ret)
		ret2 = zdev_destroy_obj(&r->d, r->hwpt);
	if (!inject_off(_metadata, r) || !step_ok(_metadata, r, "replace", ret) ||
	    !step_ok(_metadata, r, "destroy of the replaced hwpt", ret2))
		return -1;
	if (ret) {
		/* the old one stays attached and served */
		if (guest_refresh(_metadata, r, r->iova, RANGE) ||
		    !shadow_is(_metadata, r, r->iova, NPAGES, NPAGES) ||
		    attach_retry(_metadata, r, r->hwpt2))
			return -1;
		ret2 = -EAGAIN;
	}
	r->view_unsure = r->f.injected;
	for (i = 0; ret2 && i < RETRIES; i++)
		ret2 = zdev_destroy_obj(&r->d, r->hwpt);
	if (!check(_metadata, !ret2, "destroy of the replaced hwpt: %s", strerror(-ret2)))
		return -1;
	r->hwpt = r->hwpt2;
	r->have_hwpt2 = false;
	if (!shadow_is(_metadata, r, r->iova, NPAGES, 0))
		return -1;
	return check_served(_metadata, r, iova2, pins_of(r, NPAGES));
}

/* a guest RPCIT of NPAGES new mappings (arg 0) or of their invalidation (1) */
static int attempt_rpcit(struct __test_metadata *_metadata, struct rig *r, int unmap)
{
	long want = unmap ? 0 : NPAGES, tables0;
	struct answer a;
	struct ksum k;
	enum ans c;

	if (rig_up(_metadata, r, UP_ATTACHED))
		return -1;
	if (!check(_metadata, !ksum_read(&k), "summary unreadable"))
		return -1;
	tables0 = k.tables;
	if (unmap && (guest_refresh(_metadata, r, r->iova, RANGE) ||
		      guest_unmap(r, r->iova, NPAGES)))
		return -1;
	if (!check(_metadata, !guest_rpcit(r, r->iova, RANGE, &r->f, &a), "RPCIT setup"))
		return -1;
	c = answer_class(&a);
	if (!r->f.injected && c != ANS_DONE) {
		count_answer(r, c);
		answer_log(_metadata, "RPCIT without injection", &a);
		return -1;
	}
	if (!rpcit_answer_ok(_metadata, r, &a, r->iova, RANGE))
		return -1;
	/* done, or short of resources: the guest's invalidations are applied */
	if ((c == ANS_DONE || (unmap && c == ANS_RESOURCES)) &&
	    !shadow_is(_metadata, r, r->iova, NPAGES, want))
		return -1;
	if (guest_refresh(_metadata, r, r->iova, RANGE) ||
	    !shadow_is(_metadata, r, r->iova, NPAGES, want) ||
	    !ksum_is(_metadata, pins_of(r, want), 0))
		return -1;
	if (!unmap)
		return 0;
	/* no shadow table outlives its last valid entry; the walk goes on */
	if (ksum_read(&k) || k.tables != tables0) {
		if (!r->tables_left++)
			TH_LOG("tables after the unmap: %ld, before the map %ld", k.tables,
			       tables0);
	}
	return 0;
}

/* the VMM's refresh of NPAGES new mappings (IOMMU_HWPT_INVALIDATE) */
static int attempt_vmm(struct __test_metadata *_metadata, struct rig *r, int arg)
{
	int ret, cc = -1, st = -1;

	if (rig_up(_metadata, r, UP_ATTACHED) || !inject_on(_metadata, r))
		return -1;
	ret = zdev_refresh(&r->d, r->hwpt, r->iova, RANGE, &cc, &st);
	if (!inject_off(_metadata, r) || !step_ok(_metadata, r, "IOMMU_HWPT_INVALIDATE", ret))
		return -1;
	if (!ret) {
		if (!vmm_answer_ok(r, cc, st) || (!r->f.injected && cc)) {
			TH_LOG("IOMMU_HWPT_INVALIDATE entry: cc %d status %d", cc, st);
			return -1;
		}
		if (cc == 0)
			r->st.done++;
		else if (cc == 2)
			r->st.busy++;
		else
			r->st.resources++;
		if (cc == 0 && !shadow_is(_metadata, r, r->iova, NPAGES, NPAGES))
			return -1;
	}
	if (vmm_refresh(_metadata, r, r->iova, RANGE) ||
	    !shadow_is(_metadata, r, r->iova, NPAGES, NPAGES))
		return -1;
	return ksum_is(_metadata, pins_of(r, NPAGES), 0) ? 0 : -1;
}

static int set_slot1(struct rig *r, uint64_t gpa, uint64_t size)
{
	struct kvm_userspace_memory_region region = {
		.slot = 1,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)r->vm.hi_mem,
	};

	return ioctl(r->vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/* delete (arg 0) or move (1) the memslot of NPAGES shadowed guest frames */
static int attempt_memslot(struct __test_metadata *_metadata, struct rig *r, int move)
{
	uint64_t gpa = move ? r->slot_gpa + SLOT_MOVE : 0, size = move ? SLOT_SIZE : 0;
	const char *what = move ? "memslot move" : "memslot delete";
	struct ksum k;
	int ret, i;

	if (rig_up(_metadata, r, UP_REFRESHED) || !inject_on(_metadata, r))
		return -1;
	ret = set_slot1(r, gpa, size);
	if (!inject_off(_metadata, r) || !step_ok(_metadata, r, what, ret))
		return -1;
	if (!ret) {
		/* the device reaches no frame of the old slot; unpins may be pending */
		if (!shadow_is(_metadata, r, r->iova, NPAGES, 0))
			return -1;
		if (ksum_read(&k) || (k.pins && !k.pending)) {
			TH_LOG("%s: pins %ld, pending %ld", what, k.pins, k.pending);
			return -1;
		}
	}
	for (i = 0; ret && i < RETRIES; i++)
		ret = set_slot1(r, gpa, size);
	if (!check(_metadata, !ret, "%s: %s", what, strerror(-ret)) ||
	    !shadow_is(_metadata, r, r->iova, NPAGES, 0))
		return -1;
	/* back as it was, the guest's mappings are served again */
	ret = -EAGAIN;
	for (i = 0; ret && i < RETRIES; i++)
		ret = set_slot1(r, r->slot_gpa, SLOT_SIZE);
	if (!check(_metadata, !ret, "memslot restore: %s", strerror(-ret)))
		return -1;
	return check_served(_metadata, r, r->iova, pins_of(r, NPAGES));
}

/* IOMMU_IOAS_UNMAP of the parent's map of the guest RAM, pinned-parent */
static int attempt_parent_unmap(struct __test_metadata *_metadata, struct rig *r, int arg)
{
	int ret, i;

	if (rig_up(_metadata, r, UP_REFRESHED) || !inject_on(_metadata, r))
		return -1;
	ret = zdev_parent_unmap(&r->d, r->slot_gpa, SLOT_SIZE);
	if (!inject_off(_metadata, r) || !step_ok(_metadata, r, "IOMMU_IOAS_UNMAP", ret))
		return -1;
	if (!ret && !shadow_is(_metadata, r, r->iova, NPAGES, 0))
		return -1;
	/* after a partial unmap nothing may be left to unmap */
	for (i = 0; ret && i < RETRIES; i++) {
		ret = zdev_parent_unmap(&r->d, r->slot_gpa, SLOT_SIZE);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (!check(_metadata, !ret, "IOMMU_IOAS_UNMAP: %s", strerror(-ret)) ||
	    !shadow_is(_metadata, r, r->iova, NPAGES, 0))
		return -1;
	ret = -EAGAIN;
	for (i = 0; ret && i < RETRIES; i++)
		ret = zdev_parent_map(&r->d, r->vm.hi_mem, r->slot_gpa, SLOT_SIZE);
	if (!check(_metadata, !ret, "parent map again: %s", strerror(-ret)))
		return -1;
	return check_served(_metadata, r, r->iova, 0);
}

enum order { DESTROY_FIRST, DETACH_FIRST, DEVICE_FIRST, IOMMUFD_FIRST, VM_FIRST };

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* the ioctl step until it gives want; *first: its first other result */
static bool teardown_step(struct rig *r, int (*fn)(struct rig *r), int want, int *first)
{
	int ret = fn(r), i;

	if (ret != want && !*first)
		*first = ret;
	for (i = 0; ret != want && i < RETRIES; i++)
		ret = fn(r);
	return ret == want;
}

static int do_detach(struct rig *r)
{
	int ret = zdev_detach(&r->d);

	if (!ret)
		r->attached = false;
	return ret;
}

static int do_destroy(struct rig *r)
{
	int ret = zdev_destroy_obj(&r->d, r->hwpt);

	if (!ret)
		r->have_hwpt = false;
	return ret;
}

/* everything of a VM with NPAGES pinned torn down in one order */
static int attempt_teardown(struct __test_metadata *_metadata, struct rig *r, int order)
{
	int busy = -EBUSY, first = 0;
	bool ok = true;

	if (rig_base_up(_metadata, r, 0) || rig_up(_metadata, r, UP_REFRESHED) ||
	    !inject_on(_metadata, r))
		return -1;
	/* iommufd refuses to destroy an attached hwpt */
	if (order == DESTROY_FIRST)
		busy = do_destroy(r);
	if (order == DESTROY_FIRST || order == DETACH_FIRST)
		ok = teardown_step(r, do_detach, 0, &first) &&
		     teardown_step(r, do_destroy, 0, &first);
	if (order == VM_FIRST)
		zvm_destroy(&r->vm);
	if (order == IOMMUFD_FIRST)
		close_fd(&r->d.iommufd);
	close_fd(&r->d.devfd);
	close_fd(&r->d.iommufd);
	zvm_destroy(&r->vm);
	if (!inject_off(_metadata, r))
		return -1;
	r->attached = false;
	r->have_hwpt = false;
	if (!check(_metadata, busy, "destroy of the attached hwpt: 0, want EBUSY") ||
	    (busy != -EBUSY && !step_ok(_metadata, r, "destroy of the attached hwpt", busy)) ||
	    (first && !step_ok(_metadata, r, "detach or destroy", first)))
		return -1;
	return check(_metadata, ok, "detach or destroy: no success within the retries") ? 0 : -1;
}

/* ---------------------------------------------------------------- walks */

struct walk_def {
	const char *name;
	attempt_fn fn;
	int arg;
	uint32_t flags;
	bool full;		/* the attempt sets up and closes everything itself */
	bool status8;		/* a failed host RPCIT fails with status 8 (-EIO) */
};

static bool env_ready(struct __test_metadata *_metadata, struct rig *r)
{
	char path[64];
	bool ok = true;
	unsigned int i;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
	if (access(path, R_OK | W_OK)) {
		TH_LOG("missing %s (needs CONFIG_FAULT_INJECTION)", path);
		ok = false;
	}
	for (i = 0; i < ARRAY_SIZE(needed); i++) {
		if (access(needed[i].path, F_OK)) {
			TH_LOG("missing %s (needs %s)", needed[i].path, needed[i].what);
			ok = false;
		}
	}
	if (!tot) {
		TH_LOG("no shared counters");
		ok = false;
	}
	if (!ok || !fi_configure(_metadata))
		return false;
	r->f.fd = open(path, O_RDWR | O_CLOEXEC);
	if (r->f.fd < 0) {
		TH_LOG("open %s: %s", path, strerror(errno));
		return false;
	}
	r->kmsg = kmsg_open();
	stack_prefault();
	return true;
}

struct walk_res {
	long walked, recovered, pins, tables;
	bool done, ok, limit;
	unsigned int nth;
	double t;
};

static void walk_report(struct __test_metadata *_metadata, struct rig *r,
			const struct walk_def *w, struct walk_res *res)
{
	if (res->limit)
		TH_LOG("%s: stopped at fail-nth %u: %s", w->name, res->nth,
		       res->nth > WALK_LIMIT ? "limit of fault points" : "time budget used up");
	if (r->tables_left) {
		TH_LOG("%s: %ld attempts left a shadow table without a valid entry", w->name,
		       r->tables_left);
		res->ok = false;
	}
	ksft_print_msg(WALK_FMT, w->name, res->walked, res->recovered, r->st.done,
		       r->st.resources, r->st.busy, r->st.vmm, r->st.errs, now_s() - res->t,
		       res->limit ? ", LIMIT HIT" : "");
	tot->walked += res->walked;
	tot->recovered += res->recovered;
	tot->leaked_pins += res->pins;
	tot->leaked_tables += res->tables;
	tot->limits_hit += res->limit;
	if (res->done && res->ok && !res->pins && !res->tables)
		tot->walks_done++;
	EXPECT_TRUE(res->done && res->ok);
	EXPECT_EQ(0, res->pins);
	EXPECT_EQ(0, res->tables);
}

/* one attempt with fail-nth nth, its teardown and the baseline check */
static void walk_attempt(struct __test_metadata *_metadata, struct rig *r,
			 const struct walk_def *w, struct base *b, struct walk_res *res)
{
	unsigned int nth = res->nth;
	long lp, lt;
	bool back;

	r->f.nth = nth;
	r->f.injected = false;
	if (w->fn(_metadata, r, w->arg)) {
		TH_LOG("%s: attempt with fail-nth %u (%s) failed", w->name, nth,
		       r->f.injected ? "reached" : "not reached");
		res->ok = false;
	}
	if (w->full)
		rig_base_down(r);
	else if (rig_attempt_down(_metadata, r))
		res->ok = false;
	if (!kmsg_clean(_metadata, r->kmsg)) {
		TH_LOG("%s: kernel splat at fail-nth %u", w->name, nth);
		res->ok = false;
	}
	back = base_back(_metadata, b, &lp, &lt);
	if (!back) {
		TH_LOG("%s: leak after fail-nth %u (%s)", w->name, nth,
		       r->f.injected ? "reached" : "not reached");
		res->pins += lp;
		res->tables += lt;
	}
	if (r->f.injected) {
		res->walked++;
		res->recovered += back;
	} else if (nth) {
		res->done = true;
	}
}

/* fail-nth 0 (no injection), 1, 2, ... until the operation does not reach it */
static void walk(struct __test_metadata *_metadata, struct rig *r, const struct walk_def *w)
{
	struct walk_res res = { .ok = true, .t = now_s() };
	struct base b0, b;
	long lp, lt;
	int ret;

	memset(&r->st, 0, sizeof(r->st));
	r->tables_left = 0;
	r->host_status8 = w->status8;
	ret = zfile_write_str(HOST_STATUS, w->status8 ? "8" : "16");
	if (ret) {
		TH_LOG("%s: %s", HOST_STATUS, strerror(-ret));
		res.ok = false;
	}
	kmsg_clean(_metadata, r->kmsg);
	base_take(&b0);
	if (res.ok && !base_back(_metadata, &b0, &lp, &lt)) {
		TH_LOG("%s: not at the baseline before the first attempt", w->name);
		res.ok = false;
	}
	b = b0;
	if (res.ok && !w->full) {
		res.ok = !rig_base_up(_metadata, r, w->flags);
		base_take(&b);
	}
	for (res.nth = 0; res.ok && !res.done; res.nth++) {
		if (res.nth > WALK_LIMIT || now_s() - tot->t0 > BUDGET_S) {
			res.limit = true;
			break;
		}
		walk_attempt(_metadata, r, w, &b, &res);
	}
	rig_base_down(r);
	if (!base_back(_metadata, &b0, &lp, &lt)) {
		TH_LOG("%s: leak once everything is closed", w->name);
		res.pins += lp;
		res.tables += lt;
	}
	if (!kmsg_clean(_metadata, r->kmsg)) {
		TH_LOG("%s: kernel splat once everything is closed", w->name);
		res.ok = false;
	}
	zfile_write_str(HOST_STATUS, "16");
	walk_report(_metadata, r, w, &res);
}

static void walk_all(struct __test_metadata *_metadata, struct rig *r,
		     const struct walk_def *w, unsigned int n)
{
	unsigned int i;

	ASSERT_TRUE(env_ready(_metadata, r));
	for (i = 0; i < n; i++)
		walk(_metadata, r, &w[i]);
}

FIXTURE(fail_nth) {
	struct rig r;
};

FIXTURE_SETUP(fail_nth)
{
	rig_init(&self->r);
}

FIXTURE_TEARDOWN(fail_nth)
{
	rig_base_down(&self->r);
	if (self->r.f.fd >= 0)
		close(self->r.f.fd);
	if (self->r.kmsg >= 0)
		close(self->r.kmsg);
}

TEST_F_TIMEOUT(fail_nth, hwpt_alloc, 600)
{
	static const struct walk_def w[] = {
		{ "hwpt-alloc on-demand", attempt_alloc, 0, 0 },
		{ "hwpt-alloc pinned-parent", attempt_alloc, 0, PINNED },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, attach, 600)
{
	static const struct walk_def w[] = {
		{ "attach new", attempt_attach, 0, 0 },
		{ "attach kept shadow", attempt_attach, 1, 0 },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, replace, 600)
{
	static const struct walk_def w[] = {
		{ "replace (IOAT re-registration)", attempt_replace, 0, 0 },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, rpcit_on_demand, 600)
{
	static const struct walk_def w[] = {
		{ "rpcit on-demand map", attempt_rpcit, 0, 0 },
		{ "rpcit on-demand unmap", attempt_rpcit, 1, 0 },
		{ "rpcit on-demand map, host status 8", attempt_rpcit, 0, 0, false, true },
		{ "rpcit on-demand unmap, host status 8", attempt_rpcit, 1, 0, false, true },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, rpcit_pinned_parent, 600)
{
	static const struct walk_def w[] = {
		{ "rpcit pinned-parent map", attempt_rpcit, 0, PINNED },
		{ "rpcit pinned-parent unmap", attempt_rpcit, 1, PINNED },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, vmm_refresh, 600)
{
	static const struct walk_def w[] = {
		{ "vmm refresh", attempt_vmm, 0, 0 },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, memslot, 600)
{
	static const struct walk_def w[] = {
		{ "memslot delete", attempt_memslot, 0, 0 },
		{ "memslot move", attempt_memslot, 1, 0 },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, parent_unmap, 600)
{
	static const struct walk_def w[] = {
		{ "parent unmap", attempt_parent_unmap, 0, PINNED },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

TEST_F_TIMEOUT(fail_nth, teardown_orders, 600)
{
	static const struct walk_def w[] = {
		{ "teardown destroy before detach", attempt_teardown, DESTROY_FIRST, 0, true },
		{ "teardown destroy after detach", attempt_teardown, DETACH_FIRST, 0, true },
		{ "teardown close device first", attempt_teardown, DEVICE_FIRST, 0, true },
		{ "teardown close iommufd first", attempt_teardown, IOMMUFD_FIRST, 0, true },
		{ "teardown close VM first", attempt_teardown, VM_FIRST, 0, true },
	};

	walk_all(_metadata, &self->r, w, ARRAY_SIZE(w));
}

/* last: the totals of all walks */
TEST_F(fail_nth, summary)
{
	ASSERT_NE(NULL, tot);
	printf(SUMMARY_FMT, tot->walked, tot->recovered, tot->leaked_pins, tot->leaked_tables);
	fflush(stdout);
	EXPECT_EQ(0, tot->leaked_pins);
	EXPECT_EQ(0, tot->leaked_tables);
	EXPECT_EQ(0, tot->limits_hit);
	EXPECT_EQ(WALKS_TOTAL, tot->walks_done)
		TH_LOG("%d of %d walks reached success", tot->walks_done, WALKS_TOTAL);
}

TEST_HARNESS_MAIN
