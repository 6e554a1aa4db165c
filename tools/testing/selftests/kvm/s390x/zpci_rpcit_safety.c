// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_safety - what the in-kernel RPCIT must guarantee the host.
 *
 * Each case checks one host-safety property by what cannot be faked: DMA of
 * the zPCI virtio-blk function vfio0 (zpci_virtio.h), pins (nr_foll_pin_*
 * and VmPin), the shadow (debugfs view) and the one-line debugfs summary of
 * all s390 KVM nested domains:
 *
 *  - a host RPCIT that fails keeps the pins it should have released until a
 *    later refresh re-issues it successfully; the guest's RPCIT goes to the
 *    VMM;
 *  - the host RPCITs that free emptied page tables stay within the
 *    function's DMA aperture (QEMU puts a function in the error state for
 *    one that does not), so DMA still works afterwards;
 *  - a global refresh at the memlock limit frees the lazily unmapped
 *    entries first and then maps a new page below them;
 *  - refreshes of PTEs whose frame is not guest RAM go to the VMM and leave
 *    no shadow table behind; the last PTE of a page table frees it;
 *  - status 16 of the host RPCIT (nested host) answers the guest cc 1
 *    status 16 and the guest's global refresh re-issues it;
 *  - the test-only KVM_S390_TEST_INTERCEPT queues RPCIT intercepts only;
 *    its batch form answers in the array and exits for what it leaves;
 *  - a VMM killed in a huge refresh (aliased guest tables, retried on cc 2)
 *    exits promptly and leaves no pin behind.
 *
 * Fault injection: /sys/kernel/debug/fail_s390_kvm_host_rpcit (a standard
 * fault_attr directory) and s390-kvm-iommu/host_rpcit_fail_status; every
 * case restores them. A case that makes the function fault brings it back
 * (sysfs "recover", rebind to vfio-pci) so later programs find it usable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"
#include "zpci_virtio.h"

#define MEM_SIZE	ZSETUP_MEM
#define REQ_TIMEOUT_MS	10000
#define SUMMARY_PATH	"/sys/kernel/debug/s390-kvm-iommu/summary"
#define FAIL_DIR	"/sys/kernel/debug/fail_s390_kvm_host_rpcit"
#define FAIL_STATUS	"/sys/kernel/debug/s390-kvm-iommu/host_rpcit_fail_status"
#define BAD_GPA		0x40000000ULL	/* 1 GiB: no memslot there */
#define BAD_SEGMENTS	8
#define MEMLOCK_K	8
#define KILL_REAP_MS	10000
#define RUN_WAIT_MS	60000
#define REAP_WAIT_MS	60000	/* then give up: the device stays the child's */
#define IN_RUN_MS	20	/* the kill lands inside a KVM_RUN, early */
#define KILL_AFTER_CC0	1
#define ALIAS_SIZE	(128 * ZPCI_MIB)
#define ALIAS_STRIDE	8

/* ------------------------------------------------------------ summary */

struct ksum {
	long domains, attached, pins, tables, failures, pending, to_vmm, busy;
};

/*
 * "domains D attached A pins P tables T host_rpcit_failures F pending R
 * to_vmm V busy B": 0, -errno, or -EPROTO for another format
 */
static int read_summary(struct ksum *k)
{
	static const char *const names[] = {
		"domains", "attached", "pins", "tables", "host_rpcit_failures",
		"pending", "to_vmm", "busy",
	};
	long *vals[] = {
		&k->domains, &k->attached, &k->pins, &k->tables, &k->failures,
		&k->pending, &k->to_vmm, &k->busy,
	};
	char line[512], *tok, *save = NULL, *end;
	unsigned int i;
	FILE *f;

	memset(k, 0, sizeof(*k));
	f = fopen(SUMMARY_PATH, "r");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	tok = strtok_r(line, " ", &save);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!tok || strcmp(tok, names[i]))
			return -EPROTO;
		tok = strtok_r(NULL, " ", &save);
		if (!tok)
			return -EPROTO;
		*vals[i] = strtol(tok, &end, 10);
		if (*end)
			return -EPROTO;
		tok = strtok_r(NULL, " ", &save);
	}
	return tok ? -EPROTO : 0;
}

static bool summary_ok(struct __test_metadata *_metadata, struct ksum *k)
{
	int ret = read_summary(k);

	if (!ret)
		return true;
	TH_LOG("%s: %s", SUMMARY_PATH, ret == -EPROTO ? "unexpected format" : strerror(-ret));
	return false;
}

#define ASSERT_SUMMARY(k) ASSERT_TRUE(summary_ok(_metadata, k))

/* ---------------------------------------------------- fault injection */

static const char *const fail_files[] = { "probability", "interval", "times", "space", "verbose" };
#define NR_FAIL_FILES	ARRAY_SIZE(fail_files)

struct fault_save {
	bool saved;
	char val[NR_FAIL_FILES][32];
	char status[32];
};

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static void fail_path(char *buf, size_t len, const char *file)
{
	snprintf(buf, len, "%s/%s", FAIL_DIR, file);
}

/*
 * Fail the next host RPCIT (once) with @status (8 or 16); the old settings
 * are saved for fault_reset(). 0 or -errno (what failed in why).
 */
static int fault_arm(struct fault_save *fs, int status, char *why, size_t why_len)
{
	static const char *const set[NR_FAIL_FILES] = { "100", "1", "1", "0", "0" };
	char path[128], val[16];
	unsigned int i;
	int ret;

	if (!fs->saved) {
		for (i = 0; i < NR_FAIL_FILES; i++) {
			fail_path(path, sizeof(path), fail_files[i]);
			ret = read_str(path, fs->val[i], sizeof(fs->val[i]));
			if (ret)
				goto fail;
		}
		snprintf(path, sizeof(path), "%s", FAIL_STATUS);
		ret = read_str(path, fs->status, sizeof(fs->status));
		if (ret)
			goto fail;
		fs->saved = true;
	}
	snprintf(path, sizeof(path), "%s", FAIL_STATUS);
	snprintf(val, sizeof(val), "%d", status);
	ret = zfile_write_str(path, val);
	if (ret)
		goto fail;
	/* probability last: nothing fails before the rest is set */
	for (i = NR_FAIL_FILES; i-- > 0;) {
		fail_path(path, sizeof(path), fail_files[i]);
		ret = zfile_write_str(path, set[i]);
		if (ret)
			goto fail;
	}
	return 0;
fail:
	snprintf(why, why_len, "%s: %s", path, strerror(-ret));
	return ret;
}

/* nothing fails any more; the other settings as they were */
static void fault_reset(struct fault_save *fs)
{
	char path[128];
	unsigned int i;

	if (!fs->saved)
		return;
	fail_path(path, sizeof(path), "probability");
	zfile_write_str(path, "0");
	for (i = 1; i < NR_FAIL_FILES; i++) {
		fail_path(path, sizeof(path), fail_files[i]);
		zfile_write_str(path, fs->val[i]);
	}
	zfile_write_str(FAIL_STATUS, fs->status);
	fs->saved = false;
}

#define ASSERT_FAULT_ARM(fs, status) do { \
	char __why[192]; \
	ASSERT_EQ(0, fault_arm(fs, status, __why, sizeof(__why))) \
		TH_LOG("fault injection: %s", __why); \
} while (0)

/* ------------------------------------------------------------ helpers */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

#define ASSERT_PINS(kb0, foll0, pages) ASSERT_PINS_FROM(kb0, foll0, pages, 2000)

#define ASSERT_RPCIT(vm, iova, len, want_cc, want_status) do { \
	uint64_t __iova = (iova), __len = (len); \
	struct zrpcit __r; \
	ASSERT_EQ(0, zvm_rpcit(vm, ZPCI_GUEST_FH, __iova, __len, &__r)); \
	ASSERT_EQ(KVM_EXIT_INTR, __r.exit_reason) \
		TH_LOG("RPCIT 0x%llx+0x%llx: exit %s (icpt %u ipa 0x%x)", \
		       (unsigned long long)__iova, (unsigned long long)__len, \
		       zvm_exit_name(__r.exit_reason), __r.icptcode, __r.ipa); \
	ASSERT_EQ(want_cc, __r.cc) TH_LOG("status %d", __r.status); \
	ASSERT_EQ(want_status, __r.status); \
} while (0)

/*
 * The RPCIT came back to userspace as an instruction intercept of RPCIT 1,2
 * with the registers and the PSW cc exactly as zvm_rpcit() preset them: the
 * kernel gave no answer, the VMM's to give.
 */
static bool handed_to_vmm(struct __test_metadata *_metadata, const struct zrpcit *r,
			  uint64_t iova, uint64_t len)
{
	if (r->exit_reason != KVM_EXIT_S390_SIEIC || r->icptcode != ZPCI_ICPT_INST ||
	    r->ipa != ZPCI_IPA_RPCIT || r->ipb != ZPCI_RPCIT_IPB(1, 2)) {
		TH_LOG("RPCIT 0x%llx+0x%llx answered: exit %s icpt %u ipa 0x%x cc %d st %d",
		       (unsigned long long)iova, (unsigned long long)len,
		       zvm_exit_name(r->exit_reason), r->icptcode, r->ipa, r->cc, r->status);
		return false;
	}
	if (!r->exit_fresh) {
		TH_LOG("RPCIT 0x%llx+0x%llx exited with the registers or the cc changed",
		       (unsigned long long)iova, (unsigned long long)len);
		return false;
	}
	return true;
}

/*
 * The kernel hands the RPCIT to the VMM, whose IOMMU_HWPT_INVALIDATE of the
 * same range answers cc 1 status 8 (the error the VMM reports to the guest)
 */
#define ASSERT_TO_VMM(vm, iova, len) do { \
	uint64_t __iova = (iova), __len = (len); \
	struct zrpcit __r; \
	ASSERT_EQ(0, zvm_rpcit(vm, ZPCI_GUEST_FH, __iova, __len, &__r)); \
	ASSERT_TRUE(handed_to_vmm(_metadata, &__r, __iova, __len)); \
	ASSERT_TRUE(__r.vmm) TH_LOG("the VMM did not complete it (IOMMU_HWPT_INVALIDATE %d)", \
				    __r.vmm_ret); \
	ASSERT_EQ(1, __r.cc) TH_LOG("the VMM's refresh: cc %d status %d", __r.cc, __r.status); \
	ASSERT_EQ(ZPCI_STATUS_ERROR, __r.status); \
} while (0)

static int drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].permitted &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

/* ------------------------------------------------- device with DMA */

struct dma {
	struct zvm vm;
	struct ztables t;
	struct zdev d;
	struct zv_blk v;
	struct zv_page ring[ZV_RING_PAGES];
	uint32_t hwpt;
	bool attached;
	uint64_t pba, pal;
	long kb0, foll0;	/* pins before setup */
	int kmsg;
	bool broken;		/* DMA failed: the function may be in the error state */
};

static void snap(long *kb, long *foll)
{
	zpin_settle(200, 5000);
	*kb = zpin_vmpin_kb();
	*foll = zpin_foll_pinned();
}

/* device, VM, guest table, on-demand nested hwpt over the whole aperture */
static void dma_up(struct __test_metadata *_metadata, struct dma *n)
{
	int ret;

	snap(&n->kb0, &n->foll0);
	/* before any DMA: recovering from a fault waits for its error event */
	if (n->kmsg < 0)
		n->kmsg = zv_kmsg_open();
	ret = zdev_open(&n->d, ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", ZPCI_VFIO_DEV, strerror(-ret));
	ASSERT_TRUE(n->d.have_zpci_info) TH_LOG("no VFIO_DEVICE_INFO_CAP_ZPCI_BASE");
	zdev_aperture(&n->d, &n->pba, &n->pal);
	ret = zvm_create(&n->vm, MEM_SIZE);
	ASSERT_EQ(0, ret) TH_LOG("VM: %s", strerror(-ret));
	ASSERT_EQ(0, zt_init(&n->t, &n->vm));
	ret = zdev_hwpt_alloc(&n->d, n->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&n->t),
			      n->pba, n->pal, &n->hwpt);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt: %s", strerror(-ret));
	ret = zdev_attach(&n->d, n->hwpt);
	ASSERT_EQ(0, ret) TH_LOG("attach: %s", strerror(-ret));
	n->attached = true;
}

/* the rings in fresh pages at IOVA base.., refreshed; virtio started on them */
static void dma_rings(struct __test_metadata *_metadata, struct dma *n, uint64_t base)
{
	int i, ret;

	for (i = 0; i < ZV_RING_PAGES; i++) {
		uint64_t gpa = zvm_alloc_scattered_page(&n->vm);

		ASSERT_NE(0, gpa);
		n->ring[i].iova = base + i * ZPCI_PAGE_SIZE;
		n->ring[i].host = zvm_ptr(&n->vm, gpa);
		ASSERT_EQ(0, zt_map(&n->t, n->ring[i].iova, gpa, false));
	}
	ASSERT_RPCIT(&n->vm, base, ZV_RING_PAGES * ZPCI_PAGE_SIZE, 0, 0);
	ret = zv_probe(&n->v, n->d.devfd);
	if (ret)
		n->broken = true;
	ASSERT_EQ(0, ret) TH_LOG("virtio probe: %s", n->v.err);
	ret = zv_start(&n->v, n->ring);
	if (ret)
		n->broken = true;
	ASSERT_EQ(0, ret) TH_LOG("virtio start: %s", n->v.err);
}

/* a 4 KiB read from disk_off into iova lands in host, byte for byte */
static bool dma_read(struct __test_metadata *_metadata, struct dma *n, uint64_t iova,
		     void *host, uint64_t disk_off)
{
	struct zv_seg s = { .iova = iova, .len = ZPCI_PAGE_SIZE };
	uint8_t *p = host, bs;
	enum zv_req r;
	unsigned int i;

	memset(p, 0x5a, ZPCI_PAGE_SIZE);
	r = zv_request(&n->v, VIRTIO_BLK_T_IN, disk_off / ZV_SECTOR, &s, 1, REQ_TIMEOUT_MS, &bs);
	if (r != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
		n->broken = true;
		TH_LOG("read disk 0x%llx into IOVA 0x%llx: %s, blk status %u, status 0x%x (%s)",
		       (unsigned long long)disk_off, (unsigned long long)iova,
		       zv_req_name(r), bs, zv_status(&n->v), n->v.err);
		return false;
	}
	for (i = 0; i < ZPCI_PAGE_SIZE; i++) {
		if (p[i] != zdisk_pattern_byte(disk_off + i)) {
			TH_LOG("IOVA 0x%llx byte %u: 0x%02x, want 0x%02x",
			       (unsigned long long)iova, i, p[i],
			       zdisk_pattern_byte(disk_off + i));
			return false;
		}
	}
	return true;
}

#define ASSERT_DMA_READ(n, iova, host, off) ASSERT_TRUE(dma_read(_metadata, n, iova, host, off))

static void dma_down(struct dma *n)
{
	if (n->v.devfd >= 0 && n->d.devfd >= 0 && !n->broken)
		zv_reset(&n->v);
	if (n->attached)
		zdev_detach(&n->d);
	n->attached = false;
	if (n->hwpt)
		zdev_destroy_obj(&n->d, n->hwpt);
	n->hwpt = 0;
	zdev_close(&n->d);
	zvm_destroy(&n->vm);
}

/* recover the function (every fd of it closed) and check that it answers */
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

FIXTURE(safety) {
	struct dma n;
	struct zsetup s;
	bool have_s;
	struct fault_save fs;
};

static void zvm_clear(struct zvm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;
}

FIXTURE_SETUP(safety)
{
	struct dma *n = &self->n;
	char err[256];

	memset(self, 0, sizeof(*self));
	zvm_clear(&n->vm);
	n->d.iommufd = -1;
	n->d.devfd = -1;
	n->v.devfd = -1;
	n->kmsg = -1;
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK)) TH_LOG("/dev/kvm: %s", strerror(errno));
	ASSERT_EQ(0, access("/dev/iommu", R_OK | W_OK)) TH_LOG("/dev/iommu: %s", strerror(errno));
	ASSERT_EQ(0, access(ZPCI_VFIO_DEV, R_OK | W_OK))
		TH_LOG("%s: %s", ZPCI_VFIO_DEV, strerror(errno));
	/*
	 * A case that failed after a device fault may not have recovered the
	 * function: recover here, in a process that holds no fd of it
	 */
	if (zv_healthy(ZPCI_VFIO_DEV, err, sizeof(err))) {
		TH_LOG("function left unusable by an earlier test (%s): recovering", err);
		recover_function(_metadata, -1);
	}
}

FIXTURE_TEARDOWN(safety)
{
	struct dma *n = &self->n;
	bool broken = n->broken;

	fault_reset(&self->fs);
	if (!broken && n->v.common.present && n->d.devfd >= 0 && zv_status(&n->v) == 0xff) {
		TH_LOG("the function does not answer: DMA fault");
		broken = true;
	}
	dma_down(n);
	if (self->have_s)
		zsetup_fini(&self->s);
	if (broken) {
		recover_function(_metadata, n->kmsg);
		TH_LOG("function recovered after the fault");
	}
	if (n->kmsg >= 0)
		close(n->kmsg);
}

static void setup_s(struct __test_metadata *_metadata, struct zsetup *s, bool *have_s)
{
	int ret = zsetup_init(s, true);

	*have_s = true;
	ASSERT_NE(ZSETUP_SKIP, ret) TH_LOG("needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
}

/* ------------------------------------------------------------ cases */

/*
 * The test-only no-SIE mode feeds the real intercept handlers only RPCIT
 * instruction intercepts: validity, the protected-virtualization codes, a
 * program interruption or another instruction are refused.
 */
TEST_F(safety, test_intercept_restricted)
{
	static const uint8_t bad_codes[] = { 0x20, 0x38, 0x3c, 0x40, 0x08 };
	static const uint16_t bad_ipas[] = { 0xb9d2, 0xb9d4, 0xb220, 0x8300, 0x0000 };
	struct zrpcit r;
	unsigned int i;
	int ret, fd;

	ret = zvm_create(&self->n.vm, MEM_SIZE);
	ASSERT_EQ(0, ret) TH_LOG("VM: %s", strerror(-ret));
	fd = self->n.vm.vcpu_fd;
	for (i = 0; i < sizeof(bad_codes); i++) {
		test_err_intercept(EINVAL, fd, bad_codes[i], ZPCI_IPA_RPCIT, ZPCI_RPCIT_IPB(1, 2))
			TH_LOG("icptcode 0x%02x", bad_codes[i]);
	}
	for (i = 0; i < ARRAY_SIZE(bad_ipas); i++) {
		test_err_intercept(EINVAL, fd, ZPCI_ICPT_INST, bad_ipas[i], ZPCI_RPCIT_IPB(1, 2))
			TH_LOG("icptcode 4 ipa 0x%04x", bad_ipas[i]);
	}
	/* RPCIT of an fh nobody serves: accepted, handled, exits to userspace */
	ret = zvm_rpcit(&self->n.vm, 0x80000042u, 0x100000000ULL, ZPCI_PAGE_SIZE, &r);
	ASSERT_EQ(0, ret) TH_LOG("icptcode 4 ipa 0xb9d3: %s", strerror(-ret));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s", zvm_exit_name(r.exit_reason));
	ASSERT_EQ(ZPCI_ICPT_INST, r.icptcode);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
}

static int queue_batch(struct zvm *vm, struct kvm_s390_test_intercept_entry *e,
		       uint32_t n, uint32_t flags)
{
	struct kvm_s390_test_intercept_batch b = {
		.nr_entries = n, .flags = flags, .entries = (uintptr_t)e,
	};

	return ioctl(vm->vcpu_fd, KVM_S390_TEST_INTERCEPT_BATCH, &b) ? -errno : 0;
}

static void batch_entry(struct kvm_s390_test_intercept_entry *e, uint32_t fh,
			uint64_t iova, uint64_t len)
{
	memset(e, 0, sizeof(*e));
	e->ipb = ZPCI_RPCIT_IPB(1, 2);
	e->gpr_r1 = (uint64_t)fh << 32 | (uint64_t)ZPCI_PRESET_STATUS << 24;
	e->gpr_r2 = iova;
	e->gpr_r2p1 = len;
}

/*
 * The test-only batch of RPCIT intercepts (what make bench times): bad
 * arguments are refused; entries the kernel handles answer in the array
 * (cc, r1) and make the shadow translate the guest's pages; an entry for
 * an fh the kernel does not serve ends KVM_RUN with its exit, the next
 * KVM_RUN goes on with the next entry, and after the last one KVM_RUN
 * returns with nothing to do.
 */
#define BATCH_PAGES	8
TEST_F(safety, test_intercept_batch)
{
	static struct kvm_s390_test_intercept_entry e[4097];
	struct zsetup *s = &self->s;
	struct kvm_run *run;
	uint64_t iova;
	long pinned, ret;
	int i;

	setup_s(_metadata, &self->s, &self->have_s);
	run = s->vm.run;
	for (i = 0; i < 4097; i++)
		batch_entry(&e[i], 0x80000042u, s->pba, ZPCI_PAGE_SIZE);
	ASSERT_EQ(-EINVAL, queue_batch(&s->vm, e, 0, 0));
	ASSERT_EQ(-EINVAL, queue_batch(&s->vm, e, 4097, 0));
	ASSERT_EQ(-EINVAL, queue_batch(&s->vm, e, 1, 2));
	ASSERT_EQ(-EFAULT, queue_batch(&s->vm, NULL, 1, 0));

	/* BATCH_PAGES pages mapped by the guest, one RPCIT each, one KVM_RUN */
	iova = s->pba + 3 * ZPCI_MIB;
	ASSERT_EQ(0, zsetup_map(s, iova, BATCH_PAGES, false));
	for (i = 0; i < BATCH_PAGES; i++)
		batch_entry(&e[i], ZPCI_GUEST_FH, iova + i * ZPCI_PAGE_SIZE, ZPCI_PAGE_SIZE);
	/* one more for an fh the kernel does not serve: left to the VMM */
	batch_entry(&e[BATCH_PAGES], 0x80000042u, iova, ZPCI_PAGE_SIZE);
	batch_entry(&e[BATCH_PAGES + 1], ZPCI_GUEST_FH, iova, ZPCI_PAGE_SIZE);
	run->psw_mask = ZPCI_PSW_EA_BA;
	run->psw_addr = 0x10000;
	ASSERT_EQ(0, queue_batch(&s->vm, e, BATCH_PAGES + 2, KVM_S390_TEST_BATCH_RETRY_BUSY));
	ASSERT_EQ(-EBUSY, queue_batch(&s->vm, e, 1, 0));
	test_err_intercept(EBUSY, s->vm.vcpu_fd, ZPCI_ICPT_INST, ZPCI_IPA_RPCIT,
			   ZPCI_RPCIT_IPB(1, 2));

	ASSERT_EQ(0, ioctl(s->vm.vcpu_fd, KVM_RUN, 0)) TH_LOG("KVM_RUN: %s", strerror(errno));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, run->exit_reason)
		TH_LOG("exit %s", zvm_exit_name(run->exit_reason));
	ASSERT_EQ(ZPCI_IPA_RPCIT, run->s390_sieic.ipa);
	ASSERT_EQ(0x80000042ULL, run->s.regs.gprs[1] >> 32);
	for (i = 0; i < BATCH_PAGES; i++) {
		ASSERT_EQ(KVM_S390_TEST_ICPT_HANDLED, e[i].flags) TH_LOG("entry %d", i);
		ASSERT_EQ(0, e[i].cc) TH_LOG("entry %d", i);
		ASSERT_LT(0, e[i].ns) TH_LOG("entry %d", i);
	}
	ASSERT_EQ(KVM_S390_TEST_ICPT_EXITED, e[BATCH_PAGES].flags);
	ASSERT_EQ(0, e[BATCH_PAGES + 1].flags);
	ret = zshadow_read(ZPCI_GUEST_FH, iova, iova + BATCH_PAGES * ZPCI_PAGE_SIZE - 1,
			   NULL, 0, &pinned, NULL);
	ASSERT_EQ(BATCH_PAGES, ret) TH_LOG("shadow entries after the batch: %ld", ret);
	ASSERT_PINS(s->kb0, s->foll0, BATCH_PAGES);

	/* the VMM answers the exited entry; the next KVM_RUN runs the last one */
	run->psw_mask = (run->psw_mask & ~ZPCI_PSW_CC_MASK) | 3ULL << ZPCI_PSW_CC_SHIFT;
	ASSERT_EQ(0, ioctl(s->vm.vcpu_fd, KVM_RUN, 0));
	ASSERT_EQ(KVM_EXIT_INTR, run->exit_reason)
		TH_LOG("exit %s", zvm_exit_name(run->exit_reason));
	ASSERT_EQ(KVM_S390_TEST_ICPT_HANDLED, e[BATCH_PAGES + 1].flags);
	ASSERT_EQ(0, e[BATCH_PAGES + 1].cc);
	/* the batch is gone: nothing queued */
	ASSERT_EQ(0, ioctl(s->vm.vcpu_fd, KVM_RUN, 0));
	ASSERT_EQ(KVM_EXIT_INTR, run->exit_reason);
	ASSERT_EQ(0, queue_batch(&s->vm, e, 1, 0));
}

/*
 * Unmap @iova (mapped, one page) with the next host RPCIT failing (status
 * 8), in an RPCIT issued while the VMM does not serve the fh, so that the
 * state between the kernel's hand-over and the VMM's completion shows: the
 * RPCIT exits to the VMM unanswered, the page stays pinned although the
 * shadow no longer translates it, the domain has a pending range and one
 * more host RPCIT failed. The fh is served again afterwards.
 */
static void fail_unmap(struct __test_metadata *_metadata, struct zsetup *s,
		       struct fault_save *fs, uint64_t iova, const struct ksum *k0)
{
	struct zrpcit r;
	struct ksum k1;
	long pinned, ret;

	ASSERT_FAULT_ARM(fs, ZPCI_STATUS_ERROR);
	ASSERT_EQ(0, zsetup_unmap(s, iova, 1));
	ASSERT_EQ(0, zvm_unserve_fh(&s->vm, ZPCI_GUEST_FH));
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, iova, ZPCI_PAGE_SIZE, &r));
	fault_reset(fs);
	ASSERT_EQ(0, zvm_serve_fh(&s->vm, ZPCI_GUEST_FH, s->d.iommufd, s->hwpt));
	ASSERT_TRUE(handed_to_vmm(_metadata, &r, iova, ZPCI_PAGE_SIZE));
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(ZPCI_PRESET_STATUS, r.r1_status);

	ASSERT_SUMMARY(&k1);
	TH_LOG("host RPCIT failed: pins %ld pending %ld host_rpcit_failures %+ld to_vmm %+ld",
	       k1.pins, k1.pending, k1.failures - k0->failures, k1.to_vmm - k0->to_vmm);
	ASSERT_EQ(k0->failures + 1, k1.failures);
	ASSERT_EQ(k0->to_vmm + 1, k1.to_vmm);
	ASSERT_EQ(1, k1.pending);
	ASSERT_EQ(k0->pins, k1.pins);
	ASSERT_PINS(s->kb0, s->foll0, 1);
	ret = zshadow_read(ZPCI_GUEST_FH, iova, iova + ZPCI_PAGE_SIZE - 1, NULL, 0, &pinned,
			   NULL);
	ASSERT_EQ(0, ret) TH_LOG("shadow of the unmapped page: %s",
				 ret < 0 ? strerror(-ret) : "still translated");
	ASSERT_EQ(1, pinned);
}

/* the pending range is confirmed: the pin of the unmapped page is released */
static void check_released(struct __test_metadata *_metadata, struct zsetup *s,
			   const struct ksum *k0)
{
	struct ksum k2;

	ASSERT_PINS(s->kb0, s->foll0, 0);
	ASSERT_SUMMARY(&k2);
	ASSERT_EQ(0, k2.pending);
	ASSERT_EQ(k0->pins - 1, k2.pins);
	ASSERT_EQ(k0->failures + 1, k2.failures);
}

/*
 * The host RPCIT after a guest unmap fails (status 8): the page stays
 * pinned (the device may still use the old translation) and the domain has
 * a pending range until a later host RPCIT covering it succeeds. That is
 * first the VMM's completion of the handed-over RPCIT (IOMMU_HWPT_INVALIDATE
 * of the same range), then, for a second page, the guest's refresh of a
 * segment it never mapped.
 */
TEST_F(safety, host_rpcit_failure_keeps_pins)
{
	struct zsetup *s = &self->s;
	uint64_t iova, other;
	int cc, status;
	struct ksum k0;

	setup_s(_metadata, &self->s, &self->have_s);
	iova = s->pba + ZPCI_MIB;
	other = s->pba + 16 * ZPCI_MIB;	/* a segment the guest never mapped */

	/* the VMM completes the RPCIT */
	ASSERT_EQ(0, zsetup_map(s, iova, 1, false));
	ASSERT_RPCIT(&s->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s->kb0, s->foll0, 1);
	ASSERT_SUMMARY(&k0);
	ASSERT_EQ(0, k0.pending);
	fail_unmap(_metadata, s, &self->fs, iova, &k0);
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, iova, ZPCI_PAGE_SIZE, &cc, &status));
	ASSERT_EQ(0, cc) TH_LOG("the VMM's refresh: cc %d status %d", cc, status);
	check_released(_metadata, s, &k0);

	/* any later refresh re-issues the pending range */
	iova += ZPCI_PAGE_SIZE;
	ASSERT_EQ(0, zsetup_map(s, iova, 1, false));
	ASSERT_RPCIT(&s->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s->kb0, s->foll0, 1);
	ASSERT_SUMMARY(&k0);
	ASSERT_EQ(0, k0.pending);
	fail_unmap(_metadata, s, &self->fs, iova, &k0);
	ASSERT_RPCIT(&s->vm, other, ZPCI_PAGE_SIZE, 0, 0);
	check_released(_metadata, s, &k0);
}

/*
 * Pages mapped and unmapped in the first segment of the aperture (at
 * start_dma) and in its last (below end_dma): the emptied page tables are
 * freed, after host RPCITs that must stay within [start_dma, end_dma]. The
 * function then still works: DMA through pages mapped afresh there.
 */
TEST_F_TIMEOUT(safety, host_rpcit_within_aperture, 120)
{
	struct dma *n = &self->n;
	uint64_t first, last, gpa;
	struct ksum k0, k1, k2;
	long kb, foll;
	int i;

	dma_up(_metadata, n);
	first = (n->pba + ZPCI_PAGE_SIZE - 1) & ~(ZPCI_PAGE_SIZE - 1);
	last = ((n->pal + 1) & ~(ZPCI_PAGE_SIZE - 1)) - ZPCI_PAGE_SIZE;
	ASSERT_LT(first + ZPCI_MIB, last) TH_LOG("aperture [0x%llx, 0x%llx]",
						 (unsigned long long)n->pba,
						 (unsigned long long)n->pal);
	ASSERT_SUMMARY(&k0);
	snap(&kb, &foll);

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, zt_map(&n->t, first + i * ZPCI_PAGE_SIZE,
				    zvm_alloc_scattered_page(&n->vm), false));
		ASSERT_EQ(0, zt_map(&n->t, last - i * ZPCI_PAGE_SIZE,
				    zvm_alloc_scattered_page(&n->vm), false));
	}
	ASSERT_RPCIT(&n->vm, first, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_RPCIT(&n->vm, last - ZPCI_PAGE_SIZE, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 4);
	ASSERT_SUMMARY(&k1);
	ASSERT_LT(k0.tables, k1.tables);

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, zt_unmap(&n->t, first + i * ZPCI_PAGE_SIZE));
		ASSERT_EQ(0, zt_unmap(&n->t, last - i * ZPCI_PAGE_SIZE));
	}
	ASSERT_RPCIT(&n->vm, first, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_RPCIT(&n->vm, last - ZPCI_PAGE_SIZE, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 0);
	ASSERT_SUMMARY(&k2);
	TH_LOG("shadow table pages: %ld, %ld mapped, %ld unmapped; host RPCIT failures %+ld",
	       k0.tables, k1.tables, k2.tables, k2.failures - k0.failures);
	ASSERT_EQ(k0.tables, k2.tables);
	ASSERT_EQ(k0.failures, k2.failures);
	ASSERT_EQ(0, k2.pending);

	/* the function is healthy: rings at start_dma, data below end_dma */
	dma_rings(_metadata, n, first);
	gpa = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, gpa);
	ASSERT_EQ(0, zt_map(&n->t, last, gpa, false));
	ASSERT_RPCIT(&n->vm, last, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_DMA_READ(n, last, zvm_ptr(&n->vm, gpa), 0x300000);
	ASSERT_DMA_READ(n, last, zvm_ptr(&n->vm, gpa), 0x7ff000);
}

/*
 * RLIMIT_MEMLOCK leaves room for exactly K more frames, all K pinned at high
 * IOVAs and then lazily unmapped (PTEs invalid, no RPCIT). A new page at a
 * lower IOVA cannot be pinned: cc 1 status 16. The guest's answer, a global
 * refresh, first drops the lazily unmapped entries and then maps the new
 * page: cc 0. Runs without CAP_IPC_LOCK, which would lift the limit.
 */
TEST_F(safety, global_refresh_at_memlock_limit)
{
	struct zsetup *s = &self->s;
	uint64_t high, low, limit;
	struct zshadow_ent e[2];
	long pinned, entries, ret;
	struct rlimit rl;
	struct ksum k0;

	ASSERT_SUMMARY(&k0);
	/* every on-demand domain's frames are charged to root here */
	limit = (k0.pins + MEMLOCK_K) * ZPCI_PAGE_SIZE;
	rl.rlim_cur = limit;
	rl.rlim_max = limit;
	ASSERT_EQ(0, drop_cap_ipc_lock());
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
	setup_s(_metadata, &self->s, &self->have_s);
	high = s->pba + 64 * ZPCI_MIB;
	low = s->pba + ZPCI_MIB;

	ASSERT_EQ(0, zsetup_map(s, high, MEMLOCK_K, false));
	ASSERT_RPCIT(&s->vm, high, MEMLOCK_K * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s->kb0, s->foll0, MEMLOCK_K);
	ASSERT_EQ(0, zsetup_unmap(s, high, MEMLOCK_K));	/* lazily: no RPCIT */

	ASSERT_EQ(0, zsetup_map(s, low, 1, false));
	ASSERT_RPCIT(&s->vm, low, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_RESOURCES);
	ASSERT_PINS(s->kb0, s->foll0, MEMLOCK_K);

	ASSERT_RPCIT(&s->vm, s->pba, s->pal - s->pba + 1, 0, 0);
	ret = zshadow_read(ZPCI_GUEST_FH, low, low + ZPCI_PAGE_SIZE - 1, e, 2, &pinned, &entries);
	ASSERT_EQ(1, ret) TH_LOG("shadow of the new page: %s", ret < 0 ? strerror(-ret) : "");
	ASSERT_EQ(low, e[0].iova);
	ASSERT_FALSE(e[0].ro);
	ASSERT_EQ(1, pinned);
	ASSERT_EQ(1, entries);
	ret = zshadow_read(ZPCI_GUEST_FH, high, high + MEMLOCK_K * ZPCI_PAGE_SIZE - 1, NULL, 0,
			   NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("lazily unmapped IOVAs still in the shadow");
	ASSERT_PINS(s->kb0, s->foll0, 1);
}

/*
 * RPCITs in BAD_SEGMENTS different segments, each with a PTE whose frame is
 * not guest RAM: each goes to the VMM, whose IOMMU_HWPT_INVALIDATE answers
 * cc 1 status 8, and none leaves a shadow table behind. The last valid PTE
 * of a page table going frees the table too.
 */
TEST_F(safety, bad_frames_leave_no_tables)
{
	struct zsetup *s = &self->s;
	uint64_t stride, iova, good;
	struct ksum k0, k1, k2;
	int i;

	setup_s(_metadata, &self->s, &self->have_s);
	ASSERT_SUMMARY(&k0);	/* the hwpt is allocated (and attached) */
	stride = ((s->pal - s->pba + 1) / BAD_SEGMENTS) & ~(ZPCI_MIB - 1);
	ASSERT_LE(ZPCI_MIB, stride);
	for (i = 0; i < BAD_SEGMENTS; i++) {
		iova = s->pba + i * stride + (i % 4) * ZPCI_PAGE_SIZE;
		ASSERT_EQ(0, zt_map(&s->t, iova, BAD_GPA + i * ZPCI_PAGE_SIZE, false));
		/* the VMM's refresh of the same range answers the error */
		ASSERT_TO_VMM(&s->vm, iova, ZPCI_PAGE_SIZE);
		ASSERT_SUMMARY(&k1);
		ASSERT_EQ(k0.tables, k1.tables)
			TH_LOG("bad frame %d at IOVA 0x%llx: %ld shadow table pages, %ld before",
			       i, (unsigned long long)iova, k1.tables, k0.tables);
	}
	ASSERT_EQ(k0.to_vmm + BAD_SEGMENTS, k1.to_vmm);
	ASSERT_PINS(s->kb0, s->foll0, 0);

	/* two pages of one page table: the table goes with the last of them */
	good = s->pba + 2 * ZPCI_MIB + 5 * ZPCI_PAGE_SIZE;
	ASSERT_EQ(0, zsetup_map(s, good, 2, false));
	ASSERT_RPCIT(&s->vm, good, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s->kb0, s->foll0, 2);
	ASSERT_SUMMARY(&k1);
	ASSERT_LT(k0.tables, k1.tables);
	ASSERT_EQ(0, zsetup_unmap(s, good, 1));
	ASSERT_RPCIT(&s->vm, good, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s->kb0, s->foll0, 1);
	ASSERT_SUMMARY(&k2);
	ASSERT_EQ(k1.tables, k2.tables);
	ASSERT_EQ(0, zsetup_unmap(s, good + ZPCI_PAGE_SIZE, 1));
	ASSERT_RPCIT(&s->vm, good + ZPCI_PAGE_SIZE, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s->kb0, s->foll0, 0);
	ASSERT_SUMMARY(&k2);
	ASSERT_EQ(k0.tables, k2.tables)
		TH_LOG("shadow table pages: %ld at the start, %ld mapped, %ld unmapped",
		       k0.tables, k1.tables, k2.tables);
}

/*
 * The emulated functions require refresh, so mapping a page costs a host
 * RPCIT. That one answers status 16 (as a nested host may): the guest gets
 * cc 1 status 16 and the range stays pending; the guest's global refresh
 * re-issues it (cc 0, nothing pending) and the device reaches the page.
 */
TEST_F_TIMEOUT(safety, nested_host_status16_retried, 120)
{
	struct dma *n = &self->n;
	struct ksum k0, k1, k2;
	uint64_t iova, gpa;
	long kb, foll;

	dma_up(_metadata, n);
	dma_rings(_metadata, n, n->pba);
	snap(&kb, &foll);
	gpa = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, gpa);
	iova = n->pba + ZPCI_MIB;
	ASSERT_SUMMARY(&k0);

	ASSERT_FAULT_ARM(&self->fs, ZPCI_STATUS_RESOURCES);
	ASSERT_EQ(0, zt_map(&n->t, iova, gpa, false));
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_RESOURCES);
	fault_reset(&self->fs);
	ASSERT_SUMMARY(&k1);
	TH_LOG("after the host RPCIT's status 16: pending %ld host_rpcit_failures %+ld",
	       k1.pending, k1.failures - k0.failures);
	ASSERT_EQ(k0.failures + 1, k1.failures);
	ASSERT_EQ(1, k1.pending);
	ASSERT_EQ(k0.to_vmm, k1.to_vmm);

	ASSERT_RPCIT(&n->vm, n->pba, n->pal - n->pba + 1, 0, 0);
	ASSERT_SUMMARY(&k2);
	ASSERT_EQ(0, k2.pending);
	ASSERT_EQ(k1.failures, k2.failures);
	ASSERT_PINS(kb, foll, 1);
	ASSERT_DMA_READ(n, iova, zvm_ptr(&n->vm, gpa), 0x280000);
}

/* ------------------------------------------------- killed VMM */

struct vmm_state {
	int err;		/* errno of the setup or of a failed vCPU ioctl */
	int in_run;		/* inside KVM_RUN of an RPCIT */
	long run_start_ms;
	long cc0, cc2, other;
	int last_exit, last_cc, last_status;
	long max_run_ms;
};

/*
 * Guest tables in which every segment entry of the guest aperture names one
 * page table, in which every ALIAS_STRIDE-th PTE maps the same page and the
 * others are invalid: a refresh of the ALIAS_SIZE aperture examines more
 * guest entries (ALIAS_SIZE / 4 KiB PTEs) than one RPCIT may, and pins the
 * page ALIAS_SIZE / 4 KiB / ALIAS_STRIDE times.
 */
static int alias_tables(struct zsetup *s, uint64_t *pt_gpa)
{
	uint64_t st, pt, frame, *e;
	unsigned int i;

	st = zvm_alloc(&s->vm, ZT_TABLE_SIZE, ZT_TABLE_SIZE);
	pt = zvm_alloc(&s->vm, ZT_PT_SIZE, ZT_PT_SIZE);
	frame = zvm_alloc_scattered_page(&s->vm);
	if (!st || !pt || !frame)
		return -ENOMEM;
	e = zvm_ptr(&s->vm, pt);
	for (i = 0; i < ZT_PT_ENTRIES; i++)
		zt_set(&e[i], i % ALIAS_STRIDE ? ZT_PTE_INVALID : frame);
	e = zvm_ptr(&s->vm, st);
	for (i = 0; i < ZT_TABLE_ENTRIES; i++)
		zt_set(&e[i], pt | ZT_TYPE_SX);
	for (i = s->pba >> ZT_RT_SHIFT; i <= s->pal >> ZT_RT_SHIFT; i++)
		zt_set(zt_rte(&s->t, (uint64_t)i << ZT_RT_SHIFT), st | ZT_TYPE_RTX | ZT_LEN_RTX);
	*pt_gpa = pt;
	return 0;
}

/* one KVM_RUN of RPCIT 1,2 (registers and cc preset as zvm_rpcit() does) */
static int rpcit_once(struct zvm *vm, uint64_t iova, uint64_t len, struct zrpcit *r)
{
	struct kvm_regs regs;

	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	regs.gprs[1] = (uint64_t)ZPCI_GUEST_FH << 32 | (uint64_t)ZPCI_PRESET_STATUS << 24;
	regs.gprs[2] = iova;
	regs.gprs[3] = len;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs))
		return -errno;
	return zvm_run_intercept(vm, ZPCI_ICPT_INST, ZPCI_IPA_RPCIT, ZPCI_RPCIT_IPB(1, 2),
				 ZPCI_PSW_EA_BA | (uint64_t)ZPCI_PRESET_CC << ZPCI_PSW_CC_SHIFT, r);
}

/*
 * The child VMM: global refreshes of the aliased aperture, each KVM_RUN
 * counted, a busy answer retried as the guest does; after each completed
 * refresh the page table points at the other page, so the next refresh
 * changes every PTE again. Never returns.
 */
static void vmm_child(struct vmm_state *st)
{
	uint64_t pt, frame[2], *e, len;
	struct zsetup s;
	struct zrpcit r;
	unsigned int i;
	long t0, dt;
	int ret, cur = 0;

	ret = zsetup_init(&s, true);
	if (!ret)
		ret = zsetup_reregister(&s, zt_iota(&s.t), s.pba, s.pba + ALIAS_SIZE - 1, NULL);
	if (!ret)
		ret = alias_tables(&s, &pt);
	if (ret) {
		st->err = ret == ZSETUP_SKIP ? ENODEV : -ret;
		_exit(1);
	}
	len = s.pal - s.pba + 1;
	e = zvm_ptr(&s.vm, pt);
	frame[0] = zt_get(&e[0]);
	frame[1] = zvm_alloc_scattered_page(&s.vm);
	for (;;) {
		t0 = now_ms();
		st->run_start_ms = t0;
		__atomic_store_n(&st->in_run, 1, __ATOMIC_RELEASE);
		ret = rpcit_once(&s.vm, s.pba, len, &r);
		__atomic_store_n(&st->in_run, 0, __ATOMIC_RELEASE);
		dt = now_ms() - t0;
		if (dt > st->max_run_ms)
			st->max_run_ms = dt;
		if (ret) {
			st->err = -ret;
			_exit(2);
		}
		st->last_exit = r.exit_reason;
		st->last_cc = r.cc;
		if (r.exit_reason != KVM_EXIT_INTR || (r.cc && r.cc != 2)) {
			struct kvm_regs regs;

			if (!ioctl(s.vm.vcpu_fd, KVM_GET_REGS, &regs))
				st->last_status = (regs.gprs[1] >> 24) & 0xff;
			__atomic_add_fetch(&st->other, 1, __ATOMIC_RELEASE);
			_exit(4);
		}
		if (r.cc == 2) {
			/* the same RPCIT again: the kernel resumes */
			__atomic_add_fetch(&st->cc2, 1, __ATOMIC_RELEASE);
			continue;
		}
		__atomic_add_fetch(&st->cc0, 1, __ATOMIC_RELEASE);
		cur ^= 1;
		for (i = 0; i < ZT_PT_ENTRIES; i += ALIAS_STRIDE)
			zt_set(&e[i], frame[cur]);
	}
}

/*
 * A VMM looping on a refresh too big for one RPCIT (an aliased guest
 * aperture, retried on cc 2) is SIGKILLed early in a KVM_RUN that changes
 * every PTE, once it completed KILL_AFTER_CC0 refreshes. Every completed
 * refresh needed at least one busy answer and no other answer came; the
 * killed KVM_RUN stops at the fatal signal, not at the work bound (no busy
 * answer more than the child saw); the child is reaped within KILL_REAP_MS
 * and every pin, shadow table and domain it had is gone.
 */
TEST_F_TIMEOUT(safety, killed_vmm_rpcit_exits, 180)
{
	long foll0, t0, t_kill, in_rpcit = 0, reap_ms, cc0, cc2;
	const char *why = "";
	struct vmm_state *st;
	struct ksum k0, k1;
	bool ready = false, in_run = false;
	int status = 0;
	pid_t pid, w = 0;

	zpin_settle(400, 10000);
	foll0 = zpin_foll_pinned();
	ASSERT_SUMMARY(&k0);
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	memset(st, 0, sizeof(*st));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		vmm_child(st);
		_exit(3);
	}

	/* wait for KILL_AFTER_CC0 completed refreshes and the child inside KVM_RUN */
	for (t0 = now_ms(); now_ms() - t0 < RUN_WAIT_MS; sleep_ms(5)) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			why = "the child VMM ended by itself";
			pid = 0;
			break;
		}
		if (__atomic_load_n(&st->cc0, __ATOMIC_ACQUIRE) >= KILL_AFTER_CC0 &&
		    __atomic_load_n(&st->in_run, __ATOMIC_ACQUIRE) &&
		    now_ms() - st->run_start_ms >= IN_RUN_MS) {
			ready = true;
			break;
		}
	}
	if (ready) {
		t_kill = now_ms();
		ASSERT_EQ(0, kill(pid, SIGKILL));
		in_run = __atomic_load_n(&st->in_run, __ATOMIC_ACQUIRE);
		in_rpcit = t_kill - st->run_start_ms;
	} else if (pid) {
		why = "the child VMM did not complete enough refreshes";
		kill(pid, SIGKILL);
	}
	/*
	 * Even a late end is waited for (bounded), so that the function is
	 * free again for what runs next
	 */
	t0 = now_ms();
	while (pid && (w = waitpid(pid, &status, WNOHANG)) != pid &&
	       now_ms() - t0 < REAP_WAIT_MS)
		sleep_ms(10);
	reap_ms = now_ms() - t0;
	cc0 = st->cc0;
	cc2 = st->cc2;
	TH_LOG("child VMM: %ld cc 0, %ld cc 2, %ld other (last exit %s cc %d status %d)",
	       cc0, cc2, st->other, zvm_exit_name(st->last_exit), st->last_cc,
	       st->last_status);
	TH_LOG("child VMM: longest completed KVM_RUN %ld ms, error %d", st->max_run_ms,
	       st->err);
	munmap(st, sizeof(*st));
	ASSERT_TRUE(ready) TH_LOG("%s", why);
	TH_LOG("SIGKILL %ld ms into a KVM_RUN (%s): %s after %ld ms", in_rpcit,
	       in_run ? "still inside" : "just returned",
	       w == pid ? "reaped" : "still not reaped", reap_ms);
	ASSERT_EQ(pid, w);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));
	ASSERT_GE(KILL_REAP_MS, reap_ms);
	/* each refresh of the aliased aperture exceeds the work bound of one RPCIT */
	ASSERT_LE(cc0, cc2);

	for (t0 = now_ms(); zpin_foll_pinned() != foll0 && now_ms() - t0 < 5000;)
		sleep_ms(20);
	ASSERT_EQ(foll0, zpin_foll_pinned())
		TH_LOG("foll pins %+ld after the child's end", zpin_foll_pinned() - foll0);
	ASSERT_SUMMARY(&k1);
	ASSERT_EQ(k0.domains, k1.domains);
	ASSERT_EQ(k0.attached, k1.attached);
	ASSERT_EQ(k0.pins, k1.pins);
	ASSERT_EQ(k0.tables, k1.tables);
	ASSERT_EQ(0, k1.pending);
	ASSERT_EQ(k0.to_vmm, k1.to_vmm);
	ASSERT_EQ(k0.busy + cc2, k1.busy)
		TH_LOG("busy answers %+ld, the child saw %ld: the killed KVM_RUN went on",
		       k1.busy - k0.busy, cc2);
}

TEST_HARNESS_MAIN
