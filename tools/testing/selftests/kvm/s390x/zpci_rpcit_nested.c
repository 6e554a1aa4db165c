// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_nested - the iommufd nested model of the s390 KVM hwpt, checked
 * by what the guest and the device see.
 *
 * The s390 KVM hwpt is a nested hwpt on a nest-parent hwpt. These tests
 * drive the zPCI virtio-blk function vfio0 by DMA through guest IOVAs
 * (zpci_virtio.h) and check, besides the pins:
 *
 *  - a process other than the VM's owner cannot allocate or refresh one
 *    (EPERM), nor can it be allocated for a VM other than the one vfio
 *    associated the device with (EXDEV);
 *  - on-demand mode: one guest frame behind 512 IOVAs is pinned once and is
 *    reachable by DMA through any of them;
 *  - a refused replace (a nested hwpt of another device: EINVAL; the same
 *    (VM, fh) on another device: EEXIST) keeps the old domain and its DMA;
 *  - the hwpt holds kvm.ko: no unload while it exists, even with every VM
 *    fd closed; unload after IOMMU_DESTROY; kvm.ko loaded again afterwards;
 *  - pinned-parent mode: a parent IOAS unmap under a mapped guest page cuts
 *    the device off it, releases the pin, and the next refresh of the IOVA
 *    is handed to the VMM, whose IOMMU_HWPT_INVALIDATE answers cc 1 status 8;
 *  - on-demand mode: memslot delete and memslot move do the same;
 *  - IOAT re-registration: a new nested hwpt with another IOTA attached over
 *    the old one serves DMA through the new tables, not the old ones.
 *
 * The last four make the device fault on purpose, which leaves the zPCI
 * function in the error state; they run last and the fixture brings the
 * function back afterwards (sysfs "recover", rebind to vfio-pci), so later
 * tests and programs find a healthy vfio0. The replace tests need a second
 * function (vfio1).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"
#include "zpci_virtio.h"

#define MEM_SIZE	ZSETUP_MEM
#define DATA_SLOT_SIZE	(16 * ZPCI_MIB)
#define OTHER_FH	0x80009999u
#define VFIO_DEV1	"/dev/vfio/devices/vfio1"
#define KVM_KO		"/lib/modules/kvm.ko"
#define REQ_TIMEOUT_MS	10000
#define DENY_TIMEOUT_MS	3000
#define MANY_IOVAS	512	/* two page tables */
#define MAX_IDS		8

struct nest {
	struct zvm vm;
	struct zvm vm2;
	struct ztables t;
	struct zdev d;
	struct zdev d1;		/* second function, on d's iommufd */
	int kvmdev_fd;
	struct zv_blk v;
	struct zv_page ring[ZV_RING_PAGES];
	uint32_t hwpt;
	uint32_t ids[MAX_IDS];	/* further hwpts to destroy */
	int nids;
	bool attached;
	uint64_t pba, pal;
	long kb0, foll0;	/* pins before setup */
	int kmsg;
	bool faulted;
};

static void zvm_clear(struct zvm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;
}

static void zdev_clear(struct zdev *d)
{
	memset(d, 0, sizeof(*d));
	d->iommufd = -1;
	d->devfd = -1;
}

/* ------------------------------------------------------------ helpers */

#define ASSERT_PINS(kb0, foll0, pages) ASSERT_PINS_FROM(kb0, foll0, pages, 2000)

/*
 * The answer the guest sees, and who gave it: cc 1 status 8 is handed to the
 * VMM (KVM_RUN exits with the registers unchanged), whose
 * IOMMU_HWPT_INVALIDATE of the same range answers it; the kernel gives every
 * other answer within KVM_RUN.
 */
#define ASSERT_RPCIT(vm, iova, len, want_cc, want_status) do { \
	struct zrpcit __r; \
	int __cc = (want_cc), __st = (want_status); \
	bool __vmm = __cc == 1 && __st == ZPCI_STATUS_ERROR; \
	ASSERT_EQ(0, zvm_rpcit(vm, ZPCI_GUEST_FH, iova, len, &__r)); \
	ASSERT_EQ(__vmm ? KVM_EXIT_S390_SIEIC : KVM_EXIT_INTR, __r.exit_reason) \
		TH_LOG("exit %s (icpt %u ipa 0x%x), cc %d status %d, want %s", \
		       zvm_exit_name(__r.exit_reason), __r.icptcode, __r.ipa, __r.cc, \
		       __r.status, __vmm ? "a hand-over to the VMM" : "the kernel's answer"); \
	if (__vmm) { \
		ASSERT_EQ(ZPCI_IPA_RPCIT, __r.ipa); \
		ASSERT_TRUE(__r.exit_fresh) TH_LOG("the kernel changed the registers"); \
		ASSERT_EQ(0, __r.vmm_ret) TH_LOG("VMM: %s", strerror(-__r.vmm_ret)); \
	} \
	ASSERT_EQ(__vmm, __r.vmm); \
	ASSERT_EQ(__cc, __r.cc) TH_LOG("status %d", __r.status); \
	ASSERT_EQ(__st, __r.status); \
} while (0)

static void snap(long *kb, long *foll)
{
	zpin_settle(200, 5000);
	*kb = zpin_vmpin_kb();
	*foll = zpin_foll_pinned();
}

/* device, VM with a data memslot in the host aperture, guest table, nested hwpt */
static void nest_up(struct __test_metadata *_metadata, struct nest *n, uint32_t flags)
{
	int ret;

	snap(&n->kb0, &n->foll0);
	ret = zdev_open(&n->d, ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", ZPCI_VFIO_DEV, strerror(-ret));
	ASSERT_TRUE(n->d.have_zpci_info);
	zdev_aperture(&n->d, &n->pba, &n->pal);
	ret = zvm_create(&n->vm, MEM_SIZE);
	ASSERT_EQ(0, ret) TH_LOG("VM: %s", strerror(-ret));
	ret = zvm_add_data_slot(&n->vm, n->d.start_dma, DATA_SLOT_SIZE);
	ASSERT_EQ(0, ret) TH_LOG("data memslot: %s", strerror(-ret));
	ASSERT_EQ(0, zt_init(&n->t, &n->vm));
	ret = zdev_hwpt_alloc_flags(&n->d, n->vm.vm_fd, ZPCI_GUEST_FH, flags,
				    zt_iota(&n->t), n->pba, n->pal, &n->hwpt);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt (flags 0x%x): %s", flags, strerror(-ret));
	ASSERT_EQ(0, zdev_attach(&n->d, n->hwpt));
	n->attached = true;
	/* the VMM completes the RPCITs KVM hands over */
	ASSERT_EQ(0, zvm_serve_fh(&n->vm, ZPCI_GUEST_FH, n->d.iommufd, n->hwpt));
}

/*
 * Rings at IOVA pba.. (in slot 0, or in the data memslot when the parent
 * maps it), refreshed; the virtio device started on them.
 */
static void nest_rings(struct __test_metadata *_metadata, struct nest *n, bool in_data_slot)
{
	int i, ret;

	/* before any DMA: recovering from a fault waits for its error event */
	if (n->kmsg < 0)
		n->kmsg = zv_kmsg_open();
	for (i = 0; i < ZV_RING_PAGES; i++) {
		uint64_t gpa = in_data_slot ? zvm_alloc_scattered_page(&n->vm) :
					      zvm_alloc(&n->vm, ZPCI_PAGE_SIZE, ZPCI_PAGE_SIZE);

		ASSERT_NE(0, gpa);
		n->ring[i].iova = n->pba + i * ZPCI_PAGE_SIZE;
		n->ring[i].host = zvm_ptr(&n->vm, gpa);
		ASSERT_EQ(0, zt_map(&n->t, n->ring[i].iova, gpa, false));
	}
	ASSERT_RPCIT(&n->vm, n->pba, ZV_RING_PAGES * ZPCI_PAGE_SIZE, 0, 0);
	ret = zv_probe(&n->v, n->d.devfd);
	ASSERT_EQ(0, ret) TH_LOG("%s", n->v.err);
	ret = zv_start(&n->v, n->ring);
	ASSERT_EQ(0, ret) TH_LOG("%s", n->v.err);
}

/*
 * The error event the host gets for a device fault, from the kernel log;
 * recovering the function before it was handled would let it hit the
 * re-added device.
 */
static void host_event(struct __test_metadata *_metadata, struct nest *n, int timeout_ms)
{
	char line[256];

	if (n->kmsg >= 0 &&
	    !zv_kmsg_wait(n->kmsg, "reports an error for PCI function", timeout_ms, 300,
			  line, sizeof(line)))
		TH_LOG("host: %s", line);
}

/* a 4 KiB read from disk_off into iova lands in host, byte for byte */
static bool dma_read(struct __test_metadata *_metadata, struct nest *n, uint64_t iova,
		     void *host, uint64_t disk_off)
{
	struct zv_seg s = { .iova = iova, .len = ZPCI_PAGE_SIZE };
	uint8_t *p = host, bs;
	enum zv_req r;
	unsigned int i;

	memset(p, 0x5a, ZPCI_PAGE_SIZE);
	r = zv_request(&n->v, VIRTIO_BLK_T_IN, disk_off / ZV_SECTOR, &s, 1, REQ_TIMEOUT_MS, &bs);
	if (r != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
		TH_LOG("read disk 0x%llx into IOVA 0x%llx: %s, blk status %u (%s)",
		       (unsigned long long)disk_off, (unsigned long long)iova,
		       zv_req_name(r), bs, n->v.err);
		host_event(_metadata, n, 2000);
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

/*
 * A read into iova must not land in host (canary intact) nor complete
 * successfully. Makes the device fault: the fixture recovers the function.
 */
static bool dma_denied(struct __test_metadata *_metadata, struct nest *n, uint64_t iova,
		       void *host)
{
	struct zv_seg s = { .iova = iova, .len = ZPCI_PAGE_SIZE };
	uint8_t *p = host, bs;
	enum zv_req r;
	unsigned int i;

	for (i = 0; i < ZPCI_PAGE_SIZE; i++)
		p[i] = (uint8_t)(0xa5 ^ i);
	if (n->kmsg < 0)
		n->kmsg = zv_kmsg_open();
	n->faulted = true;
	r = zv_request(&n->v, VIRTIO_BLK_T_IN, 0x500000 / ZV_SECTOR, &s, 1, DENY_TIMEOUT_MS, &bs);
	for (i = 0; i < ZPCI_PAGE_SIZE; i++) {
		if (p[i] != (uint8_t)(0xa5 ^ i)) {
			TH_LOG("IOVA 0x%llx: the device wrote the page (byte %u = 0x%02x)",
			       (unsigned long long)iova, i, p[i]);
			return false;
		}
	}
	if (r == ZV_DONE && bs == VIRTIO_BLK_S_OK) {
		TH_LOG("IOVA 0x%llx: read completed successfully", (unsigned long long)iova);
		return false;
	}
	TH_LOG("read into IOVA 0x%llx: %s, blk status %u, device status 0x%x; canary intact",
	       (unsigned long long)iova, zv_req_name(r), bs, zv_status(&n->v));
	host_event(_metadata, n, 5000);
	return true;
}

#define ASSERT_DMA_READ(n, iova, host, off) ASSERT_TRUE(dma_read(_metadata, n, iova, host, off))
#define ASSERT_DMA_DENIED(n, iova, host) ASSERT_TRUE(dma_denied(_metadata, n, iova, host))

static void nest_down(struct nest *n)
{
	int i;

	if (n->v.devfd >= 0 && n->d.devfd >= 0 && !n->faulted)
		zv_reset(&n->v);
	if (n->attached)
		zdev_detach(&n->d);
	n->attached = false;
	if (n->hwpt)
		zdev_destroy_obj(&n->d, n->hwpt);
	n->hwpt = 0;
	for (i = 0; i < n->nids; i++)
		zdev_destroy_obj(&n->d, n->ids[i]);
	n->nids = 0;
	zdev_close(&n->d1);	/* its iommufd: a duplicate of n->d's */
	zdev_close(&n->d);
	if (n->kvmdev_fd >= 0)
		close(n->kvmdev_fd);
	n->kvmdev_fd = -1;
	zvm_destroy(&n->vm);
	zvm_destroy(&n->vm2);
}

static bool kvm_loaded(void)
{
	return !access("/sys/module/kvm", F_OK);
}

static int load_kvm(void)
{
	int fd = open(KVM_KO, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
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

FIXTURE(nest) {
	struct nest n;
};

FIXTURE_SETUP(nest)
{
	struct nest *n = &self->n;
	char err[256];

	memset(n, 0, sizeof(*n));
	zvm_clear(&n->vm);
	zvm_clear(&n->vm2);
	zdev_clear(&n->d);
	zdev_clear(&n->d1);
	n->v.devfd = -1;
	n->kvmdev_fd = -1;
	n->kmsg = -1;
	if (!kvm_loaded() && !access(KVM_KO, R_OK))
		TH_LOG("kvm.ko was not loaded: %s", load_kvm() ? "load failed" : "loaded");
	if (access("/dev/kvm", R_OK | W_OK) || access(ZPCI_VFIO_DEV, R_OK | W_OK) ||
	    access("/dev/iommu", R_OK | W_OK))
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	/*
	 * A test that failed an assertion after a device fault did not get
	 * to its teardown (nor to the recovery there): recover here, in a
	 * process that holds no fd of the device
	 */
	if (zv_healthy(ZPCI_VFIO_DEV, err, sizeof(err))) {
		TH_LOG("function left unusable by an earlier test (%s): recovering", err);
		recover_function(_metadata, -1);
	}
}

FIXTURE_TEARDOWN(nest)
{
	struct nest *n = &self->n;
	bool broken = n->faulted;
	int ret;

	/* a fault the test did not expect leaves the function blocked too */
	if (!broken && n->v.common.present && n->d.devfd >= 0 && zv_status(&n->v) == 0xff) {
		TH_LOG("the function does not answer: unexpected DMA fault");
		broken = true;
	}
	nest_down(n);
	if (!kvm_loaded() && !access(KVM_KO, R_OK)) {
		ret = load_kvm();
		TH_LOG("kvm.ko loaded again by the teardown: %s", ret ? strerror(-ret) : "ok");
	}
	if (broken) {
		recover_function(_metadata, n->kmsg);
		TH_LOG("function recovered after the fault");
	}
	if (n->kmsg >= 0)
		close(n->kmsg);
}

/* ------------------------------------------------------------ healthy DMA */

/*
 * A forked child shares the iommufd, the device and the VM fd but not the
 * VM's mm: it may neither allocate a nested hwpt for the VM nor refresh one.
 */
TEST_F_TIMEOUT(nest, foreign_mm_eperm, 120)
{
	struct nest *n = &self->n;
	int *res, status, cc, st;
	uint32_t id;
	pid_t pid;

	nest_up(_metadata, n, 0);
	res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	res[0] = 1;
	res[1] = 1;
	res[2] = 1;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		res[0] = zdev_hwpt_alloc(&n->d, n->vm.vm_fd, OTHER_FH, zt_iota(&n->t),
					 n->pba, n->pal, &id);
		res[1] = zdev_hwpt_alloc_flags(&n->d, n->vm.vm_fd, OTHER_FH,
					       IOMMU_HWPT_S390_KVM_PINNED_PARENT,
					       zt_iota(&n->t), n->pba, n->pal, &id);
		res[2] = zdev_refresh(&n->d, n->hwpt, n->pba, ZPCI_PAGE_SIZE, &cc, &st);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(-EPERM, res[0]) TH_LOG("child: on-demand alloc %s", strerror(-res[0]));
	ASSERT_EQ(-EPERM, res[1]) TH_LOG("child: pinned-parent alloc %s", strerror(-res[1]));
	ASSERT_EQ(-EPERM, res[2]) TH_LOG("child: IOMMU_HWPT_INVALIDATE %s", strerror(-res[2]));
	munmap(res, 4096);
	/* the owner may */
	ASSERT_EQ(0, zdev_refresh(&n->d, n->hwpt, n->pba, ZPCI_PAGE_SIZE, &cc, &st));
	ASSERT_EQ(0, cc);
	ASSERT_EQ(0, zdev_hwpt_alloc(&n->d, n->vm.vm_fd, OTHER_FH, zt_iota(&n->t),
				     n->pba, n->pal, &id));
	n->ids[n->nids++] = id;
	ASSERT_PINS(n->kb0, n->foll0, 0);
}

/*
 * vfio associated the device with VM A (KVM_DEV_VFIO_FILE_ADD before the
 * bind): a nested hwpt for VM B is refused with EXDEV, one for VM A works.
 */
TEST_F_TIMEOUT(nest, other_vm_exdev, 120)
{
	struct nest *n = &self->n;
	struct ztables ta, tb;
	uint32_t id;
	int ret;

	ASSERT_EQ(0, zvm_create(&n->vm, MEM_SIZE));	/* A */
	ASSERT_EQ(0, zvm_create(&n->vm2, MEM_SIZE));	/* B */
	ASSERT_EQ(0, zt_init(&ta, &n->vm));
	ASSERT_EQ(0, zt_init(&tb, &n->vm2));
	n->kvmdev_fd = zvm_vfio_device(&n->vm);
	ASSERT_LE(0, n->kvmdev_fd) TH_LOG("KVM_CREATE_DEVICE(VFIO): %s", strerror(-n->kvmdev_fd));
	/* KVM_DEV_VFIO_FILE_ADD of the cdev to VM A, then the bind */
	ret = zdev_open_ext(&n->d, ZPCI_VFIO_DEV, -1, n->kvmdev_fd);
	ASSERT_EQ(0, ret) TH_LOG("open, associate with VM A, bind: %s", strerror(-ret));
	zdev_aperture(&n->d, &n->pba, &n->pal);

	ret = zdev_hwpt_alloc(&n->d, n->vm2.vm_fd, ZPCI_GUEST_FH, zt_iota(&tb),
			      n->pba, n->pal, &id);
	ASSERT_EQ(-EXDEV, ret) TH_LOG("nested hwpt for VM B: %s", strerror(-ret));
	ret = zdev_hwpt_alloc_flags(&n->d, n->vm2.vm_fd, ZPCI_GUEST_FH,
				    IOMMU_HWPT_S390_KVM_PINNED_PARENT, zt_iota(&tb),
				    n->pba, n->pal, &id);
	ASSERT_EQ(-EXDEV, ret) TH_LOG("pinned-parent hwpt for VM B: %s", strerror(-ret));
	ret = zdev_hwpt_alloc(&n->d, n->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&ta),
			      n->pba, n->pal, &id);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt for VM A: %s", strerror(-ret));
	n->hwpt = id;
	ASSERT_EQ(0, zdev_attach(&n->d, id));
	n->attached = true;
}

/*
 * On-demand: one guest frame behind 512 IOVAs (two page tables) costs one
 * pin, and the device reaches it through any of them.
 */
TEST_F_TIMEOUT(nest, one_frame_many_iovas, 120)
{
	struct nest *n = &self->n;
	uint64_t base, gpa;
	long kb, foll, pinned, entries, ret;
	void *page;
	int i;

	nest_up(_metadata, n, 0);
	nest_rings(_metadata, n, false);
	gpa = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, gpa);
	page = zvm_ptr(&n->vm, gpa);
	base = n->pba + 2 * ZPCI_MIB;
	snap(&kb, &foll);
	for (i = 0; i < MANY_IOVAS; i++)
		ASSERT_EQ(0, zt_map(&n->t, base + i * ZPCI_PAGE_SIZE, gpa, false));
	ASSERT_RPCIT(&n->vm, base, MANY_IOVAS * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 1);	/* nr_foll_pin +1, VmPin +4 kB */
	ret = zshadow_read(ZPCI_GUEST_FH, base, base + MANY_IOVAS * ZPCI_PAGE_SIZE - 1, NULL, 0,
			   &pinned, &entries);
	ASSERT_EQ(MANY_IOVAS, ret) TH_LOG("debugfs view: %s", ret < 0 ? strerror(-ret) : "");
	ASSERT_EQ(ZV_RING_PAGES + 1, pinned);
	ASSERT_EQ(ZV_RING_PAGES + MANY_IOVAS, entries);

	ASSERT_DMA_READ(n, base + 3 * ZPCI_PAGE_SIZE, page, 0x240000);
	ASSERT_DMA_READ(n, base + 400 * ZPCI_PAGE_SIZE, page, 0x381000);
	/* the pin is counted per frame: it stays while any IOVA maps the frame */
	for (i = 0; i < MANY_IOVAS; i++)
		if (i != 400)
			ASSERT_EQ(0, zt_unmap(&n->t, base + i * ZPCI_PAGE_SIZE));
	ASSERT_RPCIT(&n->vm, n->pba, n->pal - n->pba + 1, 0, 0);
	ASSERT_PINS(kb, foll, 1);
	ASSERT_DMA_READ(n, base + 400 * ZPCI_PAGE_SIZE, page, 0x3c0000);
	ASSERT_EQ(0, zt_unmap(&n->t, base + 400 * ZPCI_PAGE_SIZE));
	ASSERT_RPCIT(&n->vm, base + 400 * ZPCI_PAGE_SIZE, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 0);
}

/*
 * vfio0 on a nested hwpt with DMA working through it, vfio1 bound to the
 * same iommufd (its own IOAS and nest parent)
 */
static void two_functions(struct __test_metadata *_metadata, struct nest *n,
			  uint64_t *iova, void **page, uint64_t *pba1, uint64_t *pal1)
{
	uint64_t gpa;
	int ret;

	nest_up(_metadata, n, 0);
	nest_rings(_metadata, n, false);
	gpa = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, gpa);
	*page = zvm_ptr(&n->vm, gpa);
	*iova = n->pba + ZPCI_MIB;
	ASSERT_EQ(0, zt_map(&n->t, *iova, gpa, false));
	ASSERT_RPCIT(&n->vm, *iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_DMA_READ(n, *iova, *page, 0x200000);
	ret = zdev_open_ext(&n->d1, VFIO_DEV1, n->d.iommufd, -1);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", VFIO_DEV1, strerror(-ret));
	zdev_aperture(&n->d1, pba1, pal1);
}

/*
 * A replace that the driver refuses (a nested hwpt allocated for another
 * device: EINVAL) leaves the old nested hwpt attached and DMA working
 * through it, without the guest refreshing anything.
 */
TEST_F_TIMEOUT(nest, replace_refused_keeps_domain, 120)
{
	struct nest *n = &self->n;
	uint64_t iova, pba1, pal1;
	struct ztables t1;
	uint32_t other;
	long kb, foll;
	void *page;
	int ret;

	if (access(VFIO_DEV1, R_OK | W_OK))
		SKIP(return, "needs a second function " VFIO_DEV1 " (ZPCI_FUNCS=2)");
	two_functions(_metadata, n, &iova, &page, &pba1, &pal1);
	snap(&kb, &foll);
	ASSERT_EQ(0, zt_init(&t1, &n->vm));
	ret = zdev_hwpt_alloc(&n->d1, n->vm.vm_fd, OTHER_FH, zt_iota(&t1), pba1, pal1, &other);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt for function 1: %s", strerror(-ret));
	n->ids[n->nids++] = other;
	ASSERT_EQ(-EINVAL, zdev_attach(&n->d, other));
	/* still the old domain: DMA through the old tables, RPCIT handled */
	ASSERT_DMA_READ(n, iova, page, 0x210000);
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_DMA_READ(n, iova, page, 0x211000);
	ASSERT_PINS(kb, foll, 0);
}

/*
 * The (VM, fh) of vfio0's attached nested hwpt cannot be attached to a
 * second device (EEXIST); vfio0 keeps its domain and DMA.
 */
TEST_F_TIMEOUT(nest, same_fh_second_device_eexist, 120)
{
	struct nest *n = &self->n;
	uint64_t iova, pba1, pal1;
	struct ztables t1;
	uint32_t same;
	long kb, foll;
	void *page;
	int ret;

	if (access(VFIO_DEV1, R_OK | W_OK))
		SKIP(return, "needs a second function " VFIO_DEV1 " (ZPCI_FUNCS=2)");
	two_functions(_metadata, n, &iova, &page, &pba1, &pal1);
	snap(&kb, &foll);
	ASSERT_EQ(0, zt_init(&t1, &n->vm));
	ret = zdev_hwpt_alloc(&n->d1, n->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&t1), pba1, pal1,
			      &same);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt (same VM, fh) for function 1: %s", strerror(-ret));
	n->ids[n->nids++] = same;
	ASSERT_EQ(-EEXIST, zdev_attach(&n->d1, same));
	ASSERT_DMA_READ(n, iova, page, 0x220000);
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_DMA_READ(n, iova, page, 0x221000);
	ASSERT_PINS(kb, foll, 0);
}

/*
 * A guest IOAT deregistration is a detach, which keeps the shadow: attaching
 * the same nested hwpt again translates as before, without a guest refresh.
 * While detached, the fh's RPCITs go to userspace untouched (and the VMM,
 * without an IOAT, does not serve the fh).
 */
TEST_F_TIMEOUT(nest, reattach_same_hwpt, 120)
{
	struct nest *n = &self->n;
	uint64_t iova, gpa;
	struct zrpcit r;
	long kb, foll;
	void *page;

	nest_up(_metadata, n, 0);
	nest_rings(_metadata, n, false);
	gpa = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, gpa);
	page = zvm_ptr(&n->vm, gpa);
	iova = n->pba + ZPCI_MIB;
	ASSERT_EQ(0, zt_map(&n->t, iova, gpa, false));
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_DMA_READ(n, iova, page, 0x230000);
	snap(&kb, &foll);

	ASSERT_EQ(0, zdev_detach(&n->d));
	n->attached = false;
	ASSERT_EQ(0, zvm_unserve_fh(&n->vm, ZPCI_GUEST_FH));
	ASSERT_EQ(0, zvm_rpcit(&n->vm, ZPCI_GUEST_FH, iova, ZPCI_PAGE_SIZE, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_TRUE(r.exit_fresh);
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(ZPCI_PRESET_CC, r.cc);
	ASSERT_EQ(ZPCI_PRESET_STATUS, r.status);
	ASSERT_PINS(kb, foll, 0);

	ASSERT_EQ(0, zdev_attach(&n->d, n->hwpt));
	n->attached = true;
	ASSERT_EQ(0, zvm_serve_fh(&n->vm, ZPCI_GUEST_FH, n->d.iommufd, n->hwpt));
	ASSERT_DMA_READ(n, iova, page, 0x231000);
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 0);
}

/*
 * The nested hwpt holds kvm.ko: with every VM, vCPU and /dev/kvm fd closed
 * the module cannot be removed while the hwpt exists; after IOMMU_DESTROY it
 * can. It is loaded again for the tests that follow.
 */
TEST_F_TIMEOUT(nest, kvm_module_reference, 120)
{
	struct nest *n = &self->n;
	uint64_t gpa;
	int ret, err, tries, kfd;

	if (!kvm_loaded() || access(KVM_KO, R_OK))
		SKIP(return, "needs kvm as a module and " KVM_KO);
	nest_up(_metadata, n, 0);
	gpa = zvm_alloc_scattered_page(&n->vm);
	ASSERT_EQ(0, zt_map(&n->t, n->pba, gpa, false));
	ASSERT_RPCIT(&n->vm, n->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(n->kb0, n->foll0, 1);

	zvm_destroy(&n->vm);
	/* the hwpt keeps the VM and its pin */
	ASSERT_PINS(n->kb0, n->foll0, 1);
	ret = syscall(SYS_delete_module, "kvm", O_NONBLOCK);
	err = errno;
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(EWOULDBLOCK, err) TH_LOG("delete_module: %s", strerror(err));
	ASSERT_TRUE(kvm_loaded());
	ASSERT_EQ(0, access("/dev/kvm", F_OK));

	ASSERT_EQ(0, zdev_detach(&n->d));
	n->attached = false;
	ASSERT_EQ(0, zdev_destroy_obj(&n->d, n->hwpt));
	n->hwpt = 0;
	ASSERT_PINS(n->kb0, n->foll0, 0);
	for (tries = 0; tries < 100; tries++) {
		ret = syscall(SYS_delete_module, "kvm", O_NONBLOCK);
		err = errno;
		if (!ret || err != EWOULDBLOCK)
			break;
		usleep(20000);
	}
	ASSERT_EQ(0, ret) TH_LOG("delete_module after IOMMU_DESTROY: %s", strerror(err));
	TH_LOG("kvm.ko removed after IOMMU_DESTROY (%d retries)", tries);
	ASSERT_FALSE(kvm_loaded());
	ASSERT_NE(0, access("/dev/kvm", F_OK));

	ret = load_kvm();
	ASSERT_EQ(0, ret) TH_LOG("finit_module(%s): %s", KVM_KO, strerror(-ret));
	kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, kfd) TH_LOG("/dev/kvm after reload: %s", strerror(errno));
	ASSERT_EQ(KVM_API_VERSION, ioctl(kfd, KVM_GET_API_VERSION, 0));
	close(kfd);
}

/* ------------------------------------------------------------ device faults */

/*
 * Pinned-parent: the parent IOAS unmap of a page the guest maps cuts the
 * device off it before the unmap returns and releases its pin; the next
 * refresh of the IOVA finds no parent translation: cc 1 status 8.
 */
TEST_F_TIMEOUT(nest, parent_unmap, 120)
{
	struct nest *n = &self->n;
	uint64_t target, iova, lo, hi, end;
	long kb, foll;
	void *page;

	nest_up(_metadata, n, IOMMU_HWPT_S390_KVM_PINNED_PARENT);
	target = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, target);
	page = zvm_ptr(&n->vm, target);
	/* the target page is an IOAS area of its own so that it can be unmapped alone */
	lo = n->vm.hi_gpa;
	hi = target + ZPCI_PAGE_SIZE;
	end = n->vm.hi_gpa + n->vm.hi_size;
	if (target > lo)
		ASSERT_EQ(0, zdev_parent_map(&n->d, zvm_ptr(&n->vm, lo), lo, target - lo));
	ASSERT_EQ(0, zdev_parent_map(&n->d, page, target, ZPCI_PAGE_SIZE));
	if (hi < end)
		ASSERT_EQ(0, zdev_parent_map(&n->d, zvm_ptr(&n->vm, hi), hi, end - hi));
	nest_rings(_metadata, n, true);
	snap(&kb, &foll);

	iova = n->pba + ZPCI_MIB;
	ASSERT_EQ(0, zt_map(&n->t, iova, target, false));
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 0);	/* refreshes pin nothing */
	ASSERT_DMA_READ(n, iova, page, 0x230000);

	ASSERT_EQ(0, zdev_parent_unmap(&n->d, target, ZPCI_PAGE_SIZE));
	ASSERT_PINS(kb, foll, -1);
	ASSERT_DMA_DENIED(n, iova, page);
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(kb, foll, -1);
}

static int set_slot1(struct zvm *vm, uint64_t gpa, uint64_t size)
{
	struct kvm_userspace_memory_region region = {
		.slot = 1,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)vm->hi_mem,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/*
 * On-demand: deleting the memslot behind a mapped guest page removes the
 * shadow entry (device cut off, pin released); the next refresh of the IOVA
 * finds no guest RAM there: cc 1 status 8.
 */
TEST_F_TIMEOUT(nest, memslot_delete, 120)
{
	struct nest *n = &self->n;
	uint64_t target, iova;
	long kb, foll;
	void *page;

	nest_up(_metadata, n, 0);
	nest_rings(_metadata, n, false);	/* rings in slot 0 */
	target = zvm_alloc_scattered_page(&n->vm);	/* slot 1 */
	ASSERT_NE(0, target);
	page = zvm_ptr(&n->vm, target);
	snap(&kb, &foll);
	iova = n->pba + ZPCI_MIB;
	ASSERT_EQ(0, zt_map(&n->t, iova, target, false));
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 1);
	ASSERT_DMA_READ(n, iova, page, 0x240000);

	ASSERT_EQ(0, set_slot1(&n->vm, n->vm.hi_gpa, 0));
	ASSERT_PINS(kb, foll, 0);
	ASSERT_DMA_DENIED(n, iova, page);
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(kb, foll, 0);
}

/*
 * On-demand: moving the memslot (new guest_phys_addr) drops the entries
 * into its old place; the frame is reachable again through a mapping of its
 * new GPA, never through the old one; a refresh of the old one: cc 1 status 8.
 */
TEST_F_TIMEOUT(nest, memslot_move, 120)
{
	struct nest *n = &self->n;
	uint64_t target, moved, iova, iova2, delta = 256 * ZPCI_MIB;
	long kb, foll;
	void *page;

	nest_up(_metadata, n, 0);
	nest_rings(_metadata, n, false);
	target = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, target);
	page = zvm_ptr(&n->vm, target);
	snap(&kb, &foll);
	iova = n->pba + ZPCI_MIB;
	iova2 = iova + ZPCI_PAGE_SIZE;
	ASSERT_EQ(0, zt_map(&n->t, iova, target, false));
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 1);
	ASSERT_DMA_READ(n, iova, page, 0x250000);

	ASSERT_EQ(0, set_slot1(&n->vm, n->vm.hi_gpa + delta, n->vm.hi_size));
	n->vm.hi_gpa += delta;
	moved = target + delta;
	ASSERT_EQ(page, zvm_ptr(&n->vm, moved));
	ASSERT_PINS(kb, foll, 0);
	/* the same host page under its new GPA */
	ASSERT_EQ(0, zt_map(&n->t, iova2, moved, false));
	ASSERT_RPCIT(&n->vm, iova2, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(kb, foll, 1);
	ASSERT_DMA_READ(n, iova2, page, 0x260000);
	ASSERT_DMA_DENIED(n, iova, page);
	ASSERT_RPCIT(&n->vm, iova, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(kb, foll, 1);
}

/*
 * IOAT re-registration: a nested hwpt with another IOTA attached over the
 * old one (replace). DMA goes through the new tables; an IOVA only the old
 * tables map is unreachable although the old hwpt still exists and holds its
 * pins until it is destroyed.
 */
TEST_F_TIMEOUT(nest, replace_new_iota, 120)
{
	struct nest *n = &self->n;
	uint64_t x, y, iova_x, iova_y, ring_gpa[ZV_RING_PAGES];
	struct ztables t2;
	uint32_t old;
	long kb, foll;
	int i;

	nest_up(_metadata, n, 0);
	snap(&kb, &foll);
	nest_rings(_metadata, n, false);
	for (i = 0; i < ZV_RING_PAGES; i++)
		ring_gpa[i] = zt_get(zt_pte(&n->t, n->ring[i].iova)) & ZT_PTE_ADDR_MASK;
	x = zvm_alloc_scattered_page(&n->vm);
	y = zvm_alloc_scattered_page(&n->vm);
	ASSERT_NE(0, x);
	ASSERT_NE(0, y);
	iova_x = n->pba + ZPCI_MIB;
	iova_y = n->pba + 2 * ZPCI_MIB;
	ASSERT_EQ(0, zt_map(&n->t, iova_x, x, false));
	ASSERT_RPCIT(&n->vm, iova_x, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_DMA_READ(n, iova_x, zvm_ptr(&n->vm, x), 0x270000);
	ASSERT_PINS(kb, foll, ZV_RING_PAGES + 1);

	/* the guest registers new tables: the rings at the same IOVAs, y instead of x */
	ASSERT_EQ(0, zt_init(&t2, &n->vm));
	for (i = 0; i < ZV_RING_PAGES; i++)
		ASSERT_EQ(0, zt_map(&t2, n->ring[i].iova, ring_gpa[i], false));
	ASSERT_EQ(0, zt_map(&t2, iova_y, y, false));
	old = n->hwpt;
	ASSERT_EQ(0, zdev_hwpt_alloc(&n->d, n->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&t2),
				     n->pba, n->pal, &n->hwpt));
	n->ids[n->nids++] = old;
	ASSERT_EQ(0, zdev_attach(&n->d, n->hwpt));
	ASSERT_EQ(0, zvm_serve_fh(&n->vm, ZPCI_GUEST_FH, n->d.iommufd, n->hwpt));
	ASSERT_RPCIT(&n->vm, n->pba, ZV_RING_PAGES * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_RPCIT(&n->vm, iova_y, ZPCI_PAGE_SIZE, 0, 0);
	/* each domain pins its frames: the old one keeps its 5 */
	ASSERT_PINS(kb, foll, 2 * (ZV_RING_PAGES + 1));
	ASSERT_DMA_READ(n, iova_y, zvm_ptr(&n->vm, y), 0x280000);
	ASSERT_DMA_DENIED(n, iova_x, zvm_ptr(&n->vm, x));
	n->nids--;
	ASSERT_EQ(0, zdev_destroy_obj(&n->d, old));
	ASSERT_PINS(kb, foll, ZV_RING_PAGES + 1);
}

TEST_HARNESS_MAIN
