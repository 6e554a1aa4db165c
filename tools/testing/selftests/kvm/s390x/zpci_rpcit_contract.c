// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_contract - the guest-visible contract of in-kernel RPCIT.
 *
 * One test per case: success (cc 0, pages pinned), program checks (privileged
 * operation, specification), out-of-range and table errors (cc 1 status 8,
 * nothing pinned), memlock exhaustion (cc 1 status 16, recovered by a global
 * refresh), unknown or foreign function handles (exit to userspace), and the
 * iommufd side: SET_IOAT / CLEAR_IOAT / REFRESH through IOMMU_HWPT_INVALIDATE,
 * IOMMU_IOAS_MAP refused on the linked IOAS, duplicate (kvm, fh) refused.
 */
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"

#define MEM_SIZE	ZSETUP_MEM
#define OTHER_FH	0x80009999u

static bool pins_ok(struct __test_metadata *_metadata, struct zsetup *s, long pages)
{
	if (zsetup_pins_are(s, pages))
		return true;
	TH_LOG("pins: VmPin %ld kB (base %ld, want +%ld), foll %+ld (want %+ld)",
	       zpin_vmpin_kb(), s->kb0, pages * 4, zpin_foll_pinned() - s->foll0, pages);
	return false;
}

#define ASSERT_PINS(s, pages) ASSERT_TRUE(pins_ok(_metadata, s, pages))

#define ASSERT_RPCIT(vm, fh, iova, len, want_cc, want_status) do { \
	struct zrpcit __r; \
	ASSERT_EQ(0, zvm_rpcit(vm, fh, iova, len, &__r)); \
	ASSERT_EQ(KVM_EXIT_INTR, __r.exit_reason) \
		TH_LOG("exit %s (icpt %u ipa 0x%x)", zvm_exit_name(__r.exit_reason), \
		       __r.icptcode, __r.ipa); \
	ASSERT_EQ(want_cc, __r.cc) TH_LOG("status %d", __r.status); \
	ASSERT_EQ(want_status, __r.status); \
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

FIXTURE(zpci) {
	struct zsetup s;
};

FIXTURE_SETUP(zpci)
{
	int ret = zsetup_init(&self->s, true);

	if (ret == ZSETUP_SKIP)
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(zpci)
{
	zsetup_fini(&self->s);
}

/* cc 0, the shadow is populated: one pin per mapped page, released on unmap */
TEST_F(zpci, success_pins_pages)
{
	struct zsetup *s = &self->s;
	uint64_t iova = s->pba + 0x10000;

	ASSERT_EQ(0, zsetup_map(s, iova, 8, false));
	ASSERT_EQ(0, zsetup_map(s, iova + 8 * ZPCI_PAGE_SIZE, 2, true));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, 10 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 10);
	/* refreshing the same range again pins nothing more */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, 10 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 10);
	/* lazy unmap: invalid PTEs found by a global refresh */
	ASSERT_EQ(0, zsetup_unmap(s, iova, 10));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 0, 0);
	ASSERT_PINS(s, 0);
}

/* a remap of the same IOVA to another page swaps the pin */
TEST_F(zpci, remap_swaps_pin)
{
	struct zsetup *s = &self->s;
	uint64_t iova = s->pba + 0x20000;

	ASSERT_EQ(0, zsetup_map(s, iova, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	ASSERT_EQ(0, zsetup_map(s, iova, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

/* problem state: program interruption 0x02, nothing pinned */
TEST_F(zpci, problem_state_privileged_op)
{
	struct zsetup *s = &self->s;
	struct zrpcit r;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	memset(zvm_ptr(&s->vm, 0), 0, 0x200);	/* lowcore up to the new PSWs */
	ASSERT_EQ(0, zvm_rpcit_regs(&s->vm, 1, 2, ZPCI_GUEST_FH, s->pba,
				    ZPCI_PAGE_SIZE, ZPCI_PSW_PSTATE, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason)
		TH_LOG("exit %s", zvm_exit_name(r.exit_reason));
	ASSERT_EQ(ZPCI_PGM_PRIVILEGED, zvm_lowcore_pgm_code(&s->vm));
	/* RRE: 4-byte instruction; the old PSW is the problem-state one */
	ASSERT_EQ(4, zvm_lowcore_u16(&s->vm, ZPCI_LC_PGM_ILC));
	ASSERT_NE(0, zvm_lowcore_u64(&s->vm, ZPCI_LC_PGM_OLD_PSW) & ZPCI_PSW_PSTATE);
	ASSERT_PINS(s, 0);
}

/* odd r2: program interruption 0x06, nothing pinned */
TEST_F(zpci, odd_r2_specification)
{
	struct zsetup *s = &self->s;
	struct zrpcit r;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	memset(zvm_ptr(&s->vm, 0), 0, 0x200);	/* lowcore up to the new PSWs */
	ASSERT_EQ(0, zvm_rpcit_regs(&s->vm, 1, 3, ZPCI_GUEST_FH, s->pba,
				    ZPCI_PAGE_SIZE, 0, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason)
		TH_LOG("exit %s", zvm_exit_name(r.exit_reason));
	ASSERT_EQ(ZPCI_PGM_SPECIFICATION, zvm_lowcore_pgm_code(&s->vm));
	ASSERT_EQ(4, zvm_lowcore_u16(&s->vm, ZPCI_LC_PGM_ILC));
	ASSERT_EQ(0, zvm_lowcore_u64(&s->vm, ZPCI_LC_PGM_OLD_PSW) & ZPCI_PSW_PSTATE);
	ASSERT_PINS(s, 0);
}

/* the PGM must not depend on which registers are used: r1 = 6, r2 = 8 works */
TEST_F(zpci, other_registers)
{
	struct zsetup *s = &self->s;
	struct zrpcit r;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	ASSERT_EQ(0, zvm_rpcit_regs(&s->vm, 6, 8, ZPCI_GUEST_FH, s->pba,
				    2 * ZPCI_PAGE_SIZE, 0, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
	ASSERT_EQ(0, r.cc);
	ASSERT_EQ(0, r.status);
	ASSERT_PINS(s, 2);
}

TEST_F(zpci, range_below_pba)
{
	struct zsetup *s = &self->s;

	if (s->pba < 2 * ZPCI_PAGE_SIZE)
		SKIP(return, "aperture starts at 0x%llx", (unsigned long long)s->pba);
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba - ZPCI_PAGE_SIZE,
		     2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, 0, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
}

TEST_F(zpci, range_above_pal)
{
	struct zsetup *s = &self->s;

	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pal + 1 - ZPCI_PAGE_SIZE,
		     2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pal + 1, ZPCI_PAGE_SIZE, 1,
		     ZPCI_STATUS_ERROR);
	/* the whole aperture plus one page */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1 + ZPCI_PAGE_SIZE,
		     1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
}

TEST_F(zpci, range_wrapping)
{
	struct zsetup *s = &self->s;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ~0ULL - ZPCI_PAGE_SIZE + 2, 1,
		     ZPCI_STATUS_ERROR);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ~0ULL, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
}

/* a valid RTE with the wrong table-type bits (RSX instead of RTX) */
TEST_F(zpci, rte_bad_table_type)
{
	struct zsetup *s = &self->s;
	uint64_t *rte;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 4, false));
	rte = zt_rte(&s->t, s->pba);
	ASSERT_NE(NULL, rte);
	zt_set(rte, (zt_get(rte) & ~0xcULL) | 0x8);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 4 * ZPCI_PAGE_SIZE, 1,
		     ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
	/* fixed again: works */
	zt_set(rte, (zt_get(rte) & ~0xcULL) | ZT_TYPE_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 4 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 4);
}

/* a segment entry with region-table type bits */
TEST_F(zpci, ste_bad_table_type)
{
	struct zsetup *s = &self->s;
	uint64_t *ste;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ste = zt_ste(&s->t, s->pba);
	ASSERT_NE(NULL, ste);
	zt_set(ste, zt_get(ste) | ZT_TYPE_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
}

/* table origins outside the memslot (MMIO-like address, just past the end) */
TEST_F(zpci, table_origin_outside_memslot)
{
	struct zsetup *s = &self->s;
	uint64_t iova2 = s->pba + 3 * ZPCI_MIB;	/* another page table, same RTE */
	uint64_t *rte, *ste, good_rte;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_EQ(0, zsetup_map(s, iova2, 1, false));

	/* segment-table origin at 0x7ff00000000 */
	rte = zt_rte(&s->t, s->pba);
	ASSERT_NE(NULL, rte);
	good_rte = zt_get(rte);
	zt_set(rte, 0x7ff00000000ULL | ZT_TYPE_RTX | ZT_LEN_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
	/* segment-table origin right at the end of the memslot */
	zt_set(rte, s->vm.mem_size | ZT_TYPE_RTX | ZT_LEN_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
	zt_set(rte, good_rte);

	/* page-table origin just past the end of the memslot */
	ste = zt_ste(&s->t, iova2);
	ASSERT_NE(NULL, ste);
	zt_set(ste, s->vm.mem_size | ZT_TYPE_SX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova2, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);

	/* the intact part of the table still works */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

/* the IOTA itself points outside the memslot */
TEST_F(zpci, iota_outside_memslot)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm_invalidate e;
	int ret;

	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_SET_IOAT;
	e.iota = 0x7ff00000000ULL | ZT_IOTA_DT_RT;
	e.pba = s->pba;
	e.pal = s->pal;
	ret = zdev_invalidate(&s->d, s->hwpt, &e);
	if (ret) {
		/* refusing the IOTA up front is fine too */
		TH_LOG("SET_IOAT with an IOTA outside the memslot refused: %s", strerror(-ret));
	} else {
		ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1,
			     ZPCI_STATUS_ERROR);
	}
	ASSERT_PINS(s, 0);
}

static void set_ioat(struct __test_metadata *_metadata, struct zsetup *s, uint64_t iota)
{
	struct iommu_hwpt_s390_kvm_invalidate e;

	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_SET_IOAT;
	e.iota = iota;
	e.pba = s->pba;
	e.pal = s->pal;
	ASSERT_EQ(0, zdev_invalidate(&s->d, s->hwpt, &e));
}

/* a 16 KiB region table with every entry invalid */
static uint64_t region_table(struct zvm *vm)
{
	uint64_t gpa = zvm_alloc(vm, ZT_TABLE_SIZE, ZT_TABLE_SIZE);
	uint64_t *e = zvm_ptr(vm, gpa);
	int i;

	for (i = 0; gpa && i < ZT_TABLE_ENTRIES; i++)
		zt_set(&e[i], ZT_TABLE_INVALID);
	return gpa;
}

/* a Linux guest's IOTA carries the enable bit (ZPCI_IOTA_RTTO_FLAG = 0x800 | key | RTTO) */
TEST_F(zpci, iota_with_enable_bit)
{
	struct zsetup *s = &self->s;

	set_ioat(_metadata, s, zt_iota(&s->t) | 0x800);
	ASSERT_EQ(0, zsetup_map(s, s->pba, 3, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 3 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 3);
}

/* region-second and region-first guest tables (Linux >= 6.16 may build them) */
TEST_F(zpci, rsto_rfto_guest_tables)
{
	struct zsetup *s = &self->s;
	uint64_t rs = region_table(&s->vm), rf = region_table(&s->vm);
	uint64_t *rse, *rfe;

	ASSERT_NE(0, rs);
	ASSERT_NE(0, rf);
	rse = zvm_ptr(&s->vm, rs);
	rfe = zvm_ptr(&s->vm, rf);
	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));

	/* RSTO: entry 0 of the region-second table designates our region-third table */
	zt_set(&rse[0], s->t.rto | 0x8 | ZT_LEN_RTX);
	set_ioat(_metadata, s, rs | (2 << 2));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);

	/* RFTO: one more level; the re-registration drops the pins first */
	zt_set(&rfe[0], rs | 0xc | ZT_LEN_RTX);
	set_ioat(_metadata, s, rf | (3 << 2));
	ASSERT_PINS(s, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);

	/* wrong table type in the region-second entry */
	zt_set(&rse[0], s->t.rto | ZT_TYPE_RTX | ZT_LEN_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);

	/* invalid region-first entry: nothing below 4 TiB is mapped any more */
	zt_set(&rse[0], s->t.rto | 0x8 | ZT_LEN_RTX);
	zt_set(&rfe[0], ZT_TABLE_INVALID);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 0, 0);
	ASSERT_PINS(s, 0);
}

/* table offset / table length of a region-third entry limit the segment index */
TEST_F(zpci, rte_table_offset_length)
{
	struct zsetup *s = &self->s;
	uint64_t lo = s->pba, hi = s->pba + 512 * ZPCI_MIB;
	uint64_t *rte, v;

	if (((lo >> ZT_ST_SHIFT) & 0x7ff) >= 512 || hi + ZPCI_PAGE_SIZE - 1 > s->pal ||
	    (lo >> ZT_RT_SHIFT) != (hi >> ZT_RT_SHIFT))
		SKIP(return, "aperture [0x%llx, 0x%llx] does not fit this case",
		     (unsigned long long)s->pba, (unsigned long long)s->pal);
	ASSERT_EQ(0, zsetup_map(s, lo, 1, false));
	ASSERT_EQ(0, zsetup_map(s, hi, 1, false));
	rte = zt_rte(&s->t, lo);
	v = zt_get(rte);

	/* table length 0: only segment indices 0-511 exist */
	zt_set(rte, v & ~ZT_LEN_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, lo, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, hi, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 1);

	/* table offset 1: segment indices 0-511 do not exist */
	zt_set(rte, v | 0x40);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, hi, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, lo, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);

	/* back to the full table */
	zt_set(rte, v);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 0, 0);
	ASSERT_PINS(s, 2);
}

/* PTE frames outside the memslot: never pinned, cc 1 status 8 */
TEST_F(zpci, pte_frame_outside_memslot)
{
	struct zsetup *s = &self->s;
	uint64_t bad[] = { 0x7ff00000000ULL, s->vm.mem_size, s->vm.mem_size + 0x100000,
			   ~0xfffULL };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t iova = s->pba + i * ZPCI_PAGE_SIZE;

		ASSERT_EQ(0, zt_map(&s->t, iova, bad[i], false));
		ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, ZPCI_PAGE_SIZE, 1,
			     ZPCI_STATUS_ERROR);
		ASSERT_PINS(s, 0);
		ASSERT_EQ(0, zt_unmap(&s->t, iova));
	}
	/* also read-only */
	ASSERT_EQ(0, zt_map(&s->t, s->pba, 0x7ff00000000ULL, true));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
}

/* a guest PTE invalidation in a range with other valid pages: only that pin goes */
TEST_F(zpci, partial_unmap)
{
	struct zsetup *s = &self->s;
	uint64_t iova = s->pba + 0x100000 - 4 * ZPCI_PAGE_SIZE;	/* crosses a PT */

	ASSERT_EQ(0, zsetup_map(s, iova, 8, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, 8 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 8);
	ASSERT_EQ(0, zt_unmap(&s->t, iova + 3 * ZPCI_PAGE_SIZE));
	ASSERT_EQ(0, zt_unmap(&s->t, iova + 4 * ZPCI_PAGE_SIZE));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, iova, 8 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 6);
	/* the segment entry goes invalid: the whole page table is gone */
	zt_set(zt_ste(&s->t, iova), ZT_TABLE_INVALID);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 0, 0);
	ASSERT_PINS(s, 3);
}

/* unknown fh: exits to userspace as today */
TEST_F(zpci, unknown_fh_exits)
{
	struct zsetup *s = &self->s;
	struct zrpcit r;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_EQ(0, zvm_rpcit_regs(&s->vm, 1, 2, OTHER_FH, s->pba, ZPCI_PAGE_SIZE,
				    0, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s cc %d", zvm_exit_name(r.exit_reason), r.cc);
	ASSERT_EQ(ZPCI_ICPT_INST, r.icptcode);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_EQ(ZPCI_RPCIT_IPB(1, 2), r.ipb & 0xffff0000);
	ASSERT_PINS(s, 0);
}

/* the fh is bound in another VM: this VM's RPCIT exits to userspace */
TEST_F(zpci, fh_of_other_vm_exits)
{
	struct zsetup *s = &self->s;
	struct zvm vm2;
	struct ztables t2;
	struct zrpcit r;

	ASSERT_EQ(0, zvm_create(&vm2, MEM_SIZE));
	ASSERT_EQ(0, zt_init(&t2, &vm2));
	ASSERT_EQ(0, zt_map(&t2, s->pba, zvm_alloc_scattered_page(&vm2), false));
	ASSERT_EQ(0, zvm_rpcit(&vm2, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s cc %d", zvm_exit_name(r.exit_reason), r.cc);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_PINS(s, 0);
	/* the owner VM still works */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	zvm_destroy(&vm2);
	ASSERT_PINS(s, 1);
}

/* SET_IOAT: a new table replaces the old one and drops its pins */
TEST_F(zpci, set_ioat_drops_old_pins)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm_invalidate e;
	struct ztables t2;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 6, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 6 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 6);

	ASSERT_EQ(0, zt_init(&t2, &s->vm));
	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_SET_IOAT;
	e.iota = zt_iota(&t2);
	e.pba = s->pba;
	e.pal = s->pal;
	ASSERT_EQ(0, zdev_invalidate(&s->d, s->hwpt, &e));
	ASSERT_PINS(s, 0);

	/* the new table is empty: a refresh pins nothing */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 6 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 0);
	/* and mappings in it are used */
	ASSERT_EQ(0, zt_map(&t2, s->pba + 0x5000, zvm_alloc_scattered_page(&s->vm), false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 6 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

/* SET_IOAT with a smaller aperture: ranges outside are refused */
TEST_F(zpci, set_ioat_new_aperture)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm_invalidate e;

	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_SET_IOAT;
	e.iota = zt_iota(&s->t);
	e.pba = s->pba + ZPCI_MIB;
	e.pal = s->pba + 2 * ZPCI_MIB - 1;
	ASSERT_EQ(0, zdev_invalidate(&s->d, s->hwpt, &e));
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_EQ(0, zsetup_map(s, s->pba + ZPCI_MIB, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba + ZPCI_MIB, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

/* CLEAR_IOAT drops every pin; SET_IOAT again brings the mapping back */
TEST_F(zpci, clear_ioat)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm_invalidate e;
	struct zrpcit r;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 5, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 5 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 5);

	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_CLEAR_IOAT;
	ASSERT_EQ(0, zdev_invalidate(&s->d, s->hwpt, &e));
	ASSERT_PINS(s, 0);

	/* no translation registered: whatever the answer, nothing may be pinned */
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, 5 * ZPCI_PAGE_SIZE, &r));
	TH_LOG("RPCIT without IOAT: exit %s cc %d status %d",
	       zvm_exit_name(r.exit_reason), r.cc, r.status);
	ASSERT_PINS(s, 0);

	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_SET_IOAT;
	e.iota = zt_iota(&s->t);
	e.pba = s->pba;
	e.pal = s->pal;
	ASSERT_EQ(0, zdev_invalidate(&s->d, s->hwpt, &e));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 5 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 5);
}

/* IOMMU_HWPT_INVALIDATE REFRESH answers exactly what RPCIT answers */
TEST_F(zpci, invalidate_refresh_matches_rpcit)
{
	struct zsetup *s = &self->s;
	struct {
		uint64_t iova, len;
		int cc, status;
	} c[6];
	struct zrpcit r;
	int i, cc, status, n = 0;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 3, false));
	ASSERT_EQ(0, zt_map(&s->t, s->pba + 0x10000, 0x7ff00000000ULL, false));
	c[n].iova = s->pba;  c[n].len = 3 * ZPCI_PAGE_SIZE; c[n].cc = 0; c[n++].status = 0;
	c[n].iova = s->pba + 0x10000; c[n].len = ZPCI_PAGE_SIZE; c[n].cc = 1;
	c[n++].status = ZPCI_STATUS_ERROR;
	c[n].iova = s->pal + 1; c[n].len = ZPCI_PAGE_SIZE; c[n].cc = 1;
	c[n++].status = ZPCI_STATUS_ERROR;
	c[n].iova = s->pba; c[n].len = ~0ULL; c[n].cc = 1; c[n++].status = ZPCI_STATUS_ERROR;
	if (s->pba >= ZPCI_PAGE_SIZE) {
		c[n].iova = s->pba - ZPCI_PAGE_SIZE; c[n].len = ZPCI_PAGE_SIZE; c[n].cc = 1;
		c[n++].status = ZPCI_STATUS_ERROR;
	}

	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, c[i].iova, c[i].len, &cc, &status));
		ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, c[i].iova, c[i].len, &r));
		ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
		TH_LOG("case %d: REFRESH cc %d status %d, RPCIT cc %d status %d", i, cc,
		       status, r.cc, r.status);
		ASSERT_EQ(c[i].cc, cc);
		ASSERT_EQ(c[i].status, status);
		ASSERT_EQ(r.cc, cc);
		ASSERT_EQ(r.status, status);
	}
	ASSERT_PINS(s, 3);
	/* unmap (the bad PTE too) and refresh through the iommufd side */
	ASSERT_EQ(0, zsetup_unmap(s, s->pba, 3));
	ASSERT_EQ(0, zt_unmap(&s->t, s->pba + 0x10000));
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, s->pba, s->pal - s->pba + 1, &cc, &status));
	ASSERT_EQ(0, cc);
	ASSERT_PINS(s, 0);
}

/* flags must be 0, unknown ops are refused */
TEST_F(zpci, invalidate_rejects_bad_entries)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm_invalidate e;

	memset(&e, 0, sizeof(e));
	e.op = IOMMU_S390_KVM_OP_REFRESH;
	e.flags = 1;
	e.iova = s->pba;
	e.len = ZPCI_PAGE_SIZE;
	ASSERT_NE(0, zdev_invalidate(&s->d, s->hwpt, &e));
	memset(&e, 0, sizeof(e));
	e.op = 77;
	ASSERT_NE(0, zdev_invalidate(&s->d, s->hwpt, &e));
}

/* the linked IOAS is not for mapping */
TEST_F(zpci, ioas_map_refused)
{
	struct zsetup *s = &self->s;
	struct iommu_ioas_map map;
	void *buf;

	buf = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(&map, 0, sizeof(map));
	map.size = sizeof(map);
	map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		    IOMMU_IOAS_MAP_WRITEABLE;
	map.ioas_id = s->d.ioas_id;
	map.user_va = (uintptr_t)buf;
	map.length = 0x10000;
	map.iova = s->pba;
	ASSERT_EQ(-1, ioctl(s->d.iommufd, IOMMU_IOAS_MAP, &map));
	ASSERT_EQ(EOPNOTSUPP, errno);
	/* without FIXED_IOVA too */
	map.flags = IOMMU_IOAS_MAP_READABLE;
	ASSERT_EQ(-1, ioctl(s->d.iommufd, IOMMU_IOAS_MAP, &map));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_PINS(s, 0);
	munmap(buf, 0x10000);
}

/* one hwpt per (kvm, fh) */
TEST_F(zpci, duplicate_kvm_fh)
{
	struct zsetup *s = &self->s;
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	uint32_t linked = s->d.ioas_id;
	uint32_t id2;
	int ret;

	/* a fresh, empty IOAS: only the (kvm, fh) pair is a duplicate */
	ASSERT_EQ(0, ioctl(s->d.iommufd, IOMMU_IOAS_ALLOC, &ioas));
	s->d.ioas_id = ioas.out_ioas_id;
	ret = zdev_hwpt_alloc(&s->d, s->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&s->t),
			      s->pba, s->pal, &id2);
	s->d.ioas_id = linked;
	ASSERT_EQ(-EEXIST, ret) TH_LOG("second alloc: %s", strerror(-ret));
	/* the linked IOAS: refused as well */
	ASSERT_NE(0, zdev_hwpt_alloc(&s->d, s->vm.vm_fd, ZPCI_GUEST_FH,
				     zt_iota(&s->t), s->pba, s->pal, &id2));
	/* the first hwpt still works */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

struct racer {
	struct zsetup *s;
	int iterations;
	int errors;
	int last_cc, last_status;
};

/* the guest side: remaps 8 pages back and forth, RPCIT after each change */
static void *rpcit_racer(void *arg)
{
	struct racer *r = arg;
	struct zsetup *s = r->s;
	uint64_t iova = s->pba + 0x40000;
	struct zrpcit res;
	int i;

	for (i = 0; i < r->iterations; i++) {
		if (i & 1)
			zsetup_unmap(s, iova, 8);
		else
			zsetup_map(s, iova, 8, false);
		if (zvm_rpcit(&s->vm, ZPCI_GUEST_FH, iova, 8 * ZPCI_PAGE_SIZE, &res) ||
		    res.exit_reason != KVM_EXIT_INTR || res.cc) {
			r->errors++;
			r->last_cc = res.cc;
			r->last_status = res.status;
		}
	}
	return NULL;
}

/* vCPU RPCITs and iommufd REFRESHes of overlapping ranges at the same time */
TEST_F_TIMEOUT(zpci, concurrent_rpcit_and_refresh, 120)
{
	struct zsetup *s = &self->s;
	struct racer r = { .s = s, .iterations = 200 };
	pthread_t t;
	int i, cc, status, bad = 0;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 4, false));
	ASSERT_EQ(0, pthread_create(&t, NULL, rpcit_racer, &r));
	for (i = 0; i < 200; i++) {
		if (zdev_refresh(&s->d, s->hwpt, s->pba, 0x80000, &cc, &status) || cc)
			bad++;
	}
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, bad);
	ASSERT_EQ(0, r.errors) TH_LOG("last cc %d status %d", r.last_cc, r.last_status);
	/* 200 iterations end unmapped: the 4 pages at pba remain */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 0, 0);
	ASSERT_PINS(s, 4);
}

/* bad allocation data is refused */
TEST_F(zpci, hwpt_alloc_bad_data)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm data;
	struct iommu_hwpt_alloc cmd;

	memset(&data, 0, sizeof(data));
	data.kvm_fd = s->d.iommufd;	/* not a KVM fd */
	data.fh = OTHER_FH;
	data.iota = zt_iota(&s->t);
	data.pba = s->pba;
	data.pal = s->pal;
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.dev_id = s->d.dev_id;
	cmd.pt_id = s->d.ioas_id;
	cmd.data_type = IOMMU_HWPT_DATA_S390_KVM;
	cmd.data_len = sizeof(data);
	cmd.data_uptr = (uintptr_t)&data;
	ASSERT_EQ(-1, ioctl(s->d.iommufd, IOMMU_HWPT_ALLOC, &cmd));

	data.kvm_fd = s->vm.vm_fd;
	data.flags = 1;
	ASSERT_EQ(-1, ioctl(s->d.iommufd, IOMMU_HWPT_ALLOC, &cmd));
	data.flags = 0;
	data.__reserved = 1;
	ASSERT_EQ(-1, ioctl(s->d.iommufd, IOMMU_HWPT_ALLOC, &cmd));
	data.__reserved = 0;
	data.pba = s->pal;
	data.pal = s->pba;	/* empty aperture */
	ASSERT_EQ(-1, ioctl(s->d.iommufd, IOMMU_HWPT_ALLOC, &cmd));
}

/*
 * Memlock exhaustion: cc 1 status 16; a later global refresh after the guest
 * unmapped recovers with cc 0 and the pin counts stay consistent. Runs without
 * CAP_IPC_LOCK (iommufd-style accounting does not limit CAP_IPC_LOCK).
 */
#define MEMLOCK_PAGES	16
#define OVER_PAGES	64

TEST(memlock_exhaustion)
{
	struct rlimit rl = { MEMLOCK_PAGES * ZPCI_PAGE_SIZE, MEMLOCK_PAGES * ZPCI_PAGE_SIZE };
	struct zsetup s_, *s = &s_;
	struct zrpcit r;
	int ret, cc, status;
	long kb;

	ASSERT_EQ(0, drop_cap_ipc_lock());
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
	ret = zsetup_init(s, true);
	if (ret == ZSETUP_SKIP)
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));

	/* within the limit */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 4, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 4 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 4);

	/* beyond it */
	ASSERT_EQ(0, zsetup_map(s, s->pba + 0x100000, OVER_PAGES, false));
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba + 0x100000,
			       OVER_PAGES * ZPCI_PAGE_SIZE, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
	ASSERT_EQ(1, r.cc);
	ASSERT_EQ(ZPCI_STATUS_RESOURCES, r.status);
	/* the iommufd REFRESH answers the same */
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, s->pba + 0x100000,
				  OVER_PAGES * ZPCI_PAGE_SIZE, &cc, &status));
	ASSERT_EQ(1, cc);
	ASSERT_EQ(ZPCI_STATUS_RESOURCES, status);
	kb = zpin_vmpin_kb();
	TH_LOG("after exhaustion: VmPin %ld kB (base %ld), foll %+ld", kb, s->kb0,
	       zpin_foll_pinned() - s->foll0);
	ASSERT_LE(kb - s->kb0, MEMLOCK_PAGES * 4);
	ASSERT_EQ((kb - s->kb0) / 4, zpin_foll_pinned() - s->foll0);

	/* the guest answers with a global refresh, then gives up the mapping */
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, &r));
	ASSERT_EQ(KVM_EXIT_INTR, r.exit_reason);
	TH_LOG("global refresh while over the limit: cc %d status %d", r.cc, r.status);
	ASSERT_EQ(0, zsetup_unmap(s, s->pba + 0x100000, OVER_PAGES));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 0, 0);
	ASSERT_PINS(s, 4);

	/* and can map again up to the limit */
	ASSERT_EQ(0, zsetup_map(s, s->pba + 0x200000, MEMLOCK_PAGES - 4, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba + 0x200000,
		     (MEMLOCK_PAGES - 4) * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, MEMLOCK_PAGES);

	zsetup_fini(s);
	ASSERT_TRUE(zpin_wait(s->kb0, s->foll0, 2000));
}

/* a hwpt allocated but not attached: RPCIT has nothing to shadow into */
TEST(unattached_hwpt)
{
	struct zsetup s_, *s = &s_;
	struct zrpcit r;
	int ret;

	ret = zsetup_init(s, false);
	if (ret == ZSETUP_SKIP)
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, &r));
	TH_LOG("RPCIT on an unattached hwpt: exit %s cc %d status %d",
	       zvm_exit_name(r.exit_reason), r.cc, r.status);
	/* attach now: the next refresh must populate */
	ASSERT_EQ(0, zdev_attach(&s->d, s->hwpt));
	s->attached = true;
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);
	zsetup_fini(s);
	ASSERT_TRUE(zpin_wait(s->kb0, s->foll0, 2000));
}

TEST_HARNESS_MAIN
