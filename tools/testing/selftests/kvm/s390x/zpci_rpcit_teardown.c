// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_teardown - every teardown order releases every pin.
 *
 * After N guest pages are pinned through in-kernel RPCIT, the VM fd, the
 * vfio device fd, the iommufd and the hwpt are torn down in each order (and
 * by process exit). Afterwards nr_foll_pin_acquired - nr_foll_pin_released
 * and VmPin must be back at the baseline measured before setup (polled: some
 * releases are deferred to RCU or a work item). A detach alone (the guest's
 * IOAT deregistration) keeps the shadow and its pins: only destroying the
 * nested hwpt releases them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"

#define NPAGES		48	/* crosses a page-table boundary */
#define SETTLE_MS	5000

static bool back_to(long kb, long foll)
{
	return zpin_wait(kb, foll, SETTLE_MS);
}

#define ASSERT_BASELINE(s) do { \
	const struct zsetup *__s = (s); \
	ASSERT_PINS_FROM(__s->kb0, __s->foll0, 0, SETTLE_MS); \
} while (0)
#define ASSERT_PINNED(s, n) ASSERT_ZSETUP_PINS(s, n)

/* 0: set up; 1: skipped (the caller returns); fails the test on errors */
static int setup_or_skip(struct __test_metadata *_metadata, struct zsetup *s, bool attach)
{
	int ret = zsetup_init(s, attach);

	if (ret == ZSETUP_SKIP)
		SKIP(return 1, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("zsetup_init: %s", strerror(-ret));
	return 0;
}

/* map and shadow NPAGES pages straddling the 1 MiB page-table boundary */
static int pin_pages(struct zsetup *s, int n)
{
	uint64_t iova = s->pba + ZPCI_MIB - (n / 2) * ZPCI_PAGE_SIZE;
	struct zrpcit r;
	int ret;

	ret = zsetup_map(s, iova, n, false);
	if (ret)
		return ret;
	ret = zvm_rpcit(&s->vm, ZPCI_GUEST_FH, iova, n * ZPCI_PAGE_SIZE, &r);
	if (ret)
		return ret;
	if (r.exit_reason != KVM_EXIT_INTR || r.vmm || r.cc || r.status)
		return -EIO;
	return 0;
}

static void close_vm(struct zsetup *s)
{
	zvm_destroy(&s->vm);	/* vcpu, VM and /dev/kvm fds, run + memslot mappings */
}

static void close_dev(struct zsetup *s)
{
	close(s->d.devfd);
	s->d.devfd = -1;
	s->attached = false;
}

static void close_iommufd(struct zsetup *s)
{
	close(s->d.iommufd);
	s->d.iommufd = -1;
	s->have_hwpt = false;
}

/* Close the VM (v), the vfio device (d) and the iommufd (i) in each order */
FIXTURE(close_order) {
	struct zsetup s;
};

FIXTURE_VARIANT(close_order) {
	const char *order;
};

FIXTURE_VARIANT_ADD(close_order, vm_first) { .order = "vdi" };
FIXTURE_VARIANT_ADD(close_order, vm_first_then_iommufd) { .order = "vid" };
FIXTURE_VARIANT_ADD(close_order, device_first) { .order = "div" };
FIXTURE_VARIANT_ADD(close_order, device_first_then_vm) { .order = "dvi" };
FIXTURE_VARIANT_ADD(close_order, iommufd_first) { .order = "idv" };
FIXTURE_VARIANT_ADD(close_order, iommufd_first_then_vm) { .order = "ivd" };

FIXTURE_SETUP(close_order)
{
}

FIXTURE_TEARDOWN(close_order)
{
}

TEST_F(close_order, pins_back_to_baseline)
{
	struct zsetup *s = &self->s;
	const char *c;

	if (setup_or_skip(_metadata, s, true))
		return;
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_PINNED(s, NPAGES);
	for (c = variant->order; *c; c++) {
		switch (*c) {
		case 'v':
			close_vm(s);
			break;
		case 'd':
			close_dev(s);
			break;
		case 'i':
			close_iommufd(s);
			break;
		}
		if (c == variant->order && *c == 'v') {
			/* the hwpt keeps the VM alive: the shadow is intact or fully gone */
			long kb = zpin_vmpin_kb() - s->kb0;

			TH_LOG("after closing the VM: VmPin +%ld kB", kb);
			ASSERT_TRUE(kb == NPAGES * 4 || kb == 0);
		}
	}
	ASSERT_BASELINE(s);
}

/*
 * iommufd refuses to destroy an attached hwpt; detach keeps the pins,
 * destroy releases them at once
 */
TEST(destroy_hwpt_before_detach)
{
	struct zsetup s_, *s = &s_;
	struct zrpcit r;

	if (setup_or_skip(_metadata, s, true))
		return;
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_PINNED(s, NPAGES);
	ASSERT_EQ(-EBUSY, zdev_destroy_obj(&s->d, s->hwpt));
	ASSERT_PINNED(s, NPAGES);
	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_PINNED(s, NPAGES);
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, s->hwpt));
	s->have_hwpt = false;
	/* VM, device and iommufd still open: the pins are gone anyway */
	ASSERT_BASELINE(s);
	/* and the fh is not bound any more: RPCIT goes to userspace, unanswered */
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s cc %d", zvm_exit_name(r.exit_reason), r.cc);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_TRUE(r.exit_fresh);
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(ZPCI_PRESET_CC, r.cc);
	zsetup_fini(s);
	ASSERT_BASELINE(s);
}

/* the fh can be bound again after the hwpt is gone */
TEST(rebind_after_destroy)
{
	struct zsetup s_, *s = &s_;
	struct zrpcit r;
	uint32_t id;

	if (setup_or_skip(_metadata, s, true))
		return;
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_PINNED(s, NPAGES);
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, s->hwpt));
	s->have_hwpt = false;
	ASSERT_BASELINE(s);
	ASSERT_EQ(0, zdev_hwpt_alloc(&s->d, s->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&s->t),
				     s->pba, s->pal, &id));
	s->hwpt = id;
	s->have_hwpt = true;
	ASSERT_EQ(0, zsetup_attach(s));
	/* the guest tables still hold the mappings: a global refresh restores them */
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(0, r.cc);
	ASSERT_PINNED(s, NPAGES);
	zsetup_fini(s);
	ASSERT_BASELINE(s);
}

/* detach only (the pins stay with the hwpt), then close everything */
TEST(detach_then_close)
{
	struct zsetup s_, *s = &s_;

	if (setup_or_skip(_metadata, s, true))
		return;
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_PINNED(s, NPAGES);
	close_vm(s);
	close_dev(s);
	ASSERT_PINNED(s, NPAGES);
	close_iommufd(s);
	ASSERT_BASELINE(s);
}

/*
 * Detach and attach again (a guest deregistering and registering the same
 * tables without a new hwpt): the shadow survives, the view reappears with
 * the same host pages, the RPCITs of the mapped range pin nothing more, and
 * a guest unmap after the re-attach still releases the pins
 */
TEST(detach_reattach_translates_as_before)
{
	struct zsetup s_, *s = &s_;
	uint64_t iova;
	struct zshadow_ent *a, *b;
	long pinned, entries, n;
	struct zrpcit r;
	int i;

	if (setup_or_skip(_metadata, s, true))
		return;
	iova = s->pba + ZPCI_MIB - (NPAGES / 2) * ZPCI_PAGE_SIZE;
	a = calloc(NPAGES, sizeof(*a));
	b = calloc(NPAGES, sizeof(*b));
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_PINNED(s, NPAGES);
	n = zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, a, NPAGES, &pinned, &entries);
	ASSERT_EQ(NPAGES, n);
	ASSERT_EQ(NPAGES, pinned);
	ASSERT_EQ(NPAGES, entries);

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, zsetup_deregister(s));
		ASSERT_EQ(-ENOENT, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, NULL, 0,
						NULL, NULL));
		ASSERT_PINNED(s, NPAGES);
		ASSERT_EQ(0, zsetup_attach(s));
		n = zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, b, NPAGES, &pinned,
				 &entries);
		ASSERT_EQ(NPAGES, n);
		ASSERT_EQ(NPAGES, pinned);
		ASSERT_EQ(0, memcmp(a, b, NPAGES * sizeof(*a)));
		ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, iova, NPAGES * ZPCI_PAGE_SIZE,
				       &r));
		ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
		ASSERT_FALSE(r.vmm);
		ASSERT_EQ(0, r.cc);
		ASSERT_PINNED(s, NPAGES);
	}
	ASSERT_EQ(0, zsetup_unmap(s, iova, NPAGES));
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(0, r.cc);
	ASSERT_BASELINE(s);
	free(a);
	free(b);
	zsetup_fini(s);
	ASSERT_BASELINE(s);
}

/* the process dies with everything open */
TEST(exit_without_close)
{
	long foll0;
	int status;
	pid_t pid;

	if (access("/dev/kvm", R_OK | W_OK) || access(ZPCI_VFIO_DEV, R_OK | W_OK))
		SKIP(return, "needs /dev/kvm and " ZPCI_VFIO_DEV);
	zpin_settle(400, 10000);
	foll0 = zpin_foll_pinned();
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct zsetup s;

		if (zsetup_init(&s, true))
			_exit(2);
		if (pin_pages(&s, NPAGES))
			_exit(3);
		if (!zsetup_pins_are(&s, NPAGES))
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child failed at step %d",
						 WEXITSTATUS(status));
	ASSERT_TRUE(back_to(zpin_vmpin_kb(), foll0))
		TH_LOG("foll pins %+ld after the process exited", zpin_foll_pinned() - foll0);
}

/* the guest unmaps everything before teardown: nothing left to release */
TEST(unmap_all_then_close)
{
	struct zsetup s_, *s = &s_;
	struct zrpcit r;

	if (setup_or_skip(_metadata, s, true))
		return;
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_EQ(0, zsetup_unmap(s, s->pba + ZPCI_MIB - (NPAGES / 2) * ZPCI_PAGE_SIZE,
				  NPAGES));
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(0, r.cc);
	ASSERT_BASELINE(s);
	zsetup_fini(s);
	ASSERT_BASELINE(s);
}

struct spinner {
	struct zsetup *s;
	int stop;	/* __atomic accesses */
	int runs;
	int ioctl_errors;
	int exits_touched;	/* exits whose registers the kernel changed */
};

/*
 * RPCITs in a loop until told to stop; the fh may go away under it. The VMM
 * has stopped serving the fh: every exit is the kernel's plain "not mine",
 * registers untouched.
 */
static void *rpcit_spinner(void *arg)
{
	struct spinner *sp = arg;
	struct zsetup *s = sp->s;
	uint64_t iova = s->pba + ZPCI_MIB - (NPAGES / 2) * ZPCI_PAGE_SIZE;
	struct zrpcit r;

	while (!__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE)) {
		if (zvm_rpcit(&s->vm, ZPCI_GUEST_FH, iova, NPAGES * ZPCI_PAGE_SIZE, &r))
			sp->ioctl_errors++;
		else if (r.exit_reason == KVM_EXIT_S390_SIEIC && !r.exit_fresh)
			sp->exits_touched++;
		sp->runs++;
	}
	return NULL;
}

static void race_close(struct __test_metadata *_metadata, bool device_first)
{
	struct zsetup s_, *s = &s_;
	struct spinner sp = { .s = s };
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	pthread_t t;

	if (setup_or_skip(_metadata, s, true))
		return;
	ASSERT_EQ(0, pin_pages(s, NPAGES));
	ASSERT_EQ(0, zvm_unserve_fh(&s->vm, ZPCI_GUEST_FH));
	ASSERT_EQ(0, pthread_create(&t, NULL, rpcit_spinner, &sp));
	nanosleep(&ts, NULL);
	if (device_first) {
		close_dev(s);
		nanosleep(&ts, NULL);
		close_iommufd(s);
	} else {
		close_iommufd(s);
		nanosleep(&ts, NULL);
		close_dev(s);
	}
	nanosleep(&ts, NULL);
	__atomic_store_n(&sp.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(t, NULL));
	TH_LOG("%d RPCITs raced with the close", sp.runs);
	ASSERT_EQ(0, sp.ioctl_errors);
	ASSERT_EQ(0, sp.exits_touched);
	close_vm(s);
	ASSERT_BASELINE(s);
}

/* the device (or the iommufd) goes away while the vCPU keeps issuing RPCITs */
FIXTURE(close_race) {
	int unused;
};

FIXTURE_VARIANT(close_race) {
	bool device_first;
};

FIXTURE_VARIANT_ADD(close_race, device) { .device_first = true };
FIXTURE_VARIANT_ADD(close_race, iommufd) { .device_first = false };

FIXTURE_SETUP(close_race)
{
}

FIXTURE_TEARDOWN(close_race)
{
}

TEST_F(close_race, during_rpcits)
{
	race_close(_metadata, variant->device_first);
}

/* a fixture only for the longer timeout (KASAN/lockdep kernels are slow) */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/* repeated cycles in rotating orders: no drift */
TEST_F_TIMEOUT(slow, cycles, 240)
{
	int i;

	for (i = 0; i < 12; i++) {
		struct zsetup s_, *s = &s_;

		if (setup_or_skip(_metadata, s, true))
			return;
		ASSERT_EQ(0, pin_pages(s, 16 + i));
		ASSERT_PINNED(s, 16 + i);
		switch (i % 3) {
		case 0:
			close_vm(s);
			close_dev(s);
			close_iommufd(s);
			break;
		case 1:
			close_dev(s);
			close_iommufd(s);
			close_vm(s);
			break;
		default:
			close_iommufd(s);
			close_vm(s);
			close_dev(s);
			break;
		}
		TH_LOG("cycle %d", i);
		ASSERT_BASELINE(s);
	}
}

TEST_HARNESS_MAIN
