// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_contract - the guest-visible contract of in-kernel RPCIT.
 *
 * One test per case: success (cc 0, pages pinned), program checks (privileged
 * operation, specification), out-of-range and table errors (handed to the
 * VMM: KVM_RUN exits with the registers unchanged, the VMM's
 * IOMMU_HWPT_INVALIDATE of the same range answers cc 1 status 8, nothing
 * pinned), memlock exhaustion (cc 1 status 16, recovered by a global
 * refresh), zero entries and 1 MiB segment frames (table errors), length 0
 * (cc 0), the VMM's own answers for a disabled function (cc 3) and one in the
 * error state (cc 1 status 40), unknown or foreign function handles (exit to
 * userspace, no answer), and the
 * iommufd side of the nested model: a guest IOAT (re)registration is a new
 * nested hwpt attached in place of the old one, a deregistration a detach
 * (the shadow and its pins stay until the hwpt is destroyed), REFRESH through
 * IOMMU_HWPT_INVALIDATE, the parent IOAS limited to the host aperture, one
 * attached hwpt per (VM, fh), and the errnos of allocation and invalidation.
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
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"

#define MEM_SIZE	ZSETUP_MEM
#define OTHER_FH	0x80009999u
#define OTHER_VFIO_DEV	"/dev/vfio/devices/vfio1"

#define ASSERT_PINS(s, pages) ASSERT_ZSETUP_PINS(s, pages)

/*
 * The answer the guest sees, and who gave it: cc 1 status 8 (an error only
 * the VMM can answer, with the error state and an error event) is handed to
 * the VMM, whose IOMMU_HWPT_INVALIDATE of the same range answers it; every
 * other answer comes from the kernel within KVM_RUN.
 */
#define ASSERT_RPCIT(vm, fh, iova, len, want_cc, want_status) do { \
	struct zrpcit __r; \
	int __cc = (want_cc), __st = (want_status); \
	bool __vmm = __cc == 1 && __st == ZPCI_STATUS_ERROR; \
	ASSERT_EQ(0, zvm_rpcit(vm, fh, iova, len, &__r)); \
	ASSERT_EQ(__vmm ? KVM_EXIT_S390_SIEIC : KVM_EXIT_INTR, __r.exit_reason) \
		TH_LOG("exit %s (icpt %u ipa 0x%x), cc %d status %d, want %s", \
		       zvm_exit_name(__r.exit_reason), __r.icptcode, __r.ipa, __r.cc, \
		       __r.status, __vmm ? "a hand-over to the VMM" : "the kernel's answer"); \
	if (__vmm) { \
		ASSERT_EQ(ZPCI_ICPT_INST, __r.icptcode); \
		ASSERT_EQ(ZPCI_IPA_RPCIT, __r.ipa); \
		ASSERT_TRUE(__r.exit_fresh) TH_LOG("the kernel changed the registers"); \
		ASSERT_EQ(0, __r.vmm_ret) TH_LOG("VMM: %s", strerror(-__r.vmm_ret)); \
	} \
	ASSERT_EQ(__vmm, __r.vmm); \
	ASSERT_EQ(__cc, __r.cc) TH_LOG("status %d", __r.status); \
	ASSERT_EQ(__st, __r.status); \
} while (0)

/*
 * No one serves fh: the RPCIT exits with the registers as they were and
 * nothing answers it (cc 3 and status 0xff as preset)
 */
#define ASSERT_RPCIT_UNSERVED(vm, fh, iova, len) do { \
	struct zrpcit __r; \
	ASSERT_EQ(0, zvm_rpcit(vm, fh, iova, len, &__r)); \
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, __r.exit_reason) \
		TH_LOG("exit %s cc %d status %d", zvm_exit_name(__r.exit_reason), __r.cc, \
		       __r.status); \
	ASSERT_EQ(ZPCI_ICPT_INST, __r.icptcode); \
	ASSERT_EQ(ZPCI_IPA_RPCIT, __r.ipa); \
	ASSERT_EQ(ZPCI_RPCIT_IPB(1, 2), __r.ipb & 0xffff0000); \
	ASSERT_TRUE(__r.exit_fresh); \
	ASSERT_FALSE(__r.vmm); \
	ASSERT_EQ(ZPCI_PRESET_CC, __r.cc); \
	ASSERT_EQ(ZPCI_PRESET_STATUS, __r.status); \
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
	ASSERT_FALSE(r.vmm);
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
	ASSERT_FALSE(r.vmm);
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
	ASSERT_FALSE(r.vmm);
	ASSERT_EQ(0, r.cc);
	ASSERT_EQ(0, r.status);
	/* cc 0 leaves r1 as it was (the preset status byte) */
	ASSERT_EQ(ZPCI_PRESET_STATUS, r.r1_status);
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

/*
 * The IOTA itself points outside the memslot: memslots change, so the
 * allocation takes it and only a refresh finds it (an unreadable guest
 * table: handed to the VMM, cc 1 status 8)
 */
TEST_F(zpci, iota_outside_memslot)
{
	struct zsetup *s = &self->s;
	int ret;

	ret = zsetup_reregister(s, 0x7ff00000000ULL | ZT_IOTA_DT_RT, s->pba, s->pal, NULL);
	ASSERT_EQ(0, ret) TH_LOG("nested hwpt with an IOTA outside the memslot: %s",
				 strerror(-ret));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_PINS(s, 0);
}

/* guest IOAT re-registration: new nested hwpt, replace, destroy the old one */
static void set_ioat(struct __test_metadata *_metadata, struct zsetup *s, uint64_t iota)
{
	int ret = zsetup_reregister(s, iota, s->pba, s->pal, NULL);

	ASSERT_EQ(0, ret) TH_LOG("re-registration: %s", strerror(-ret));
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
	zt_set(&rse[0], s->t.origin | 0x8 | ZT_LEN_RTX);
	set_ioat(_metadata, s, rs | (2 << 2));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);

	/* RFTO: one more level; the old hwpt, destroyed after the replace, takes its pins */
	zt_set(&rfe[0], rs | 0xc | ZT_LEN_RTX);
	set_ioat(_metadata, s, rf | (3 << 2));
	ASSERT_PINS(s, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);

	/* wrong table type in the region-second entry */
	zt_set(&rse[0], s->t.origin | ZT_TYPE_RTX | ZT_LEN_RTX);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);

	/* invalid region-first entry: nothing below 4 TiB is mapped any more */
	zt_set(&rse[0], s->t.origin | 0x8 | ZT_LEN_RTX);
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
	ASSERT_RPCIT_UNSERVED(&s->vm, OTHER_FH, s->pba, ZPCI_PAGE_SIZE);
	/* r1 = 5, r2 = 10: the exit reports them */
	ASSERT_EQ(0, zvm_rpcit_regs(&s->vm, 5, 10, OTHER_FH, s->pba, ZPCI_PAGE_SIZE,
				    0, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s cc %d", zvm_exit_name(r.exit_reason), r.cc);
	ASSERT_EQ(ZPCI_ICPT_INST, r.icptcode);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_EQ(ZPCI_RPCIT_IPB(5, 10), r.ipb & 0xffff0000);
	ASSERT_TRUE(r.exit_fresh);
	ASSERT_FALSE(r.vmm);
	ASSERT_PINS(s, 0);
}

/* the fh is bound in another VM: this VM's RPCIT exits to userspace */
TEST_F(zpci, fh_of_other_vm_exits)
{
	struct zsetup *s = &self->s;
	struct zvm vm2;
	struct ztables t2;

	ASSERT_EQ(0, zvm_create(&vm2, MEM_SIZE));
	ASSERT_EQ(0, zt_init(&t2, &vm2));
	ASSERT_EQ(0, zt_map(&t2, s->pba, zvm_alloc_scattered_page(&vm2), false));
	ASSERT_RPCIT_UNSERVED(&vm2, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE);
	ASSERT_PINS(s, 0);
	/* the owner VM still works */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	zvm_destroy(&vm2);
	ASSERT_PINS(s, 1);
}

/*
 * Re-registration with a new table: the new hwpt replaces the old one at
 * attach; the old one keeps its pins until it is destroyed
 */
TEST_F(zpci, reregister_destroy_drops_old_pins)
{
	struct zsetup *s = &self->s;
	struct ztables t2;
	uint32_t old;
	long pinned, entries;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 6, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 6 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 6);

	ASSERT_EQ(0, zt_init(&t2, &s->vm));
	ASSERT_EQ(0, zsetup_reregister(s, zt_iota(&t2), s->pba, s->pal, &old));
	ASSERT_NE(0, old);
	/* the view is the attached (new, empty) hwpt's */
	ASSERT_EQ(0, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, NULL, 0, &pinned, &entries));
	ASSERT_EQ(0, pinned);
	ASSERT_EQ(0, entries);
	ASSERT_PINS(s, 6);
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, old));
	ASSERT_PINS(s, 0);

	/* the new table is empty: a refresh pins nothing */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 6 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 0);
	/* and mappings in it are used */
	ASSERT_EQ(0, zt_map(&t2, s->pba + 0x5000, zvm_alloc_scattered_page(&s->vm), false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 6 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

/* re-registration with a smaller aperture: ranges outside are refused */
TEST_F(zpci, reregister_new_aperture)
{
	struct zsetup *s = &self->s;
	uint64_t pba = s->pba;

	ASSERT_EQ(0, zsetup_reregister(s, zt_iota(&s->t), pba + ZPCI_MIB,
				       pba + 2 * ZPCI_MIB - 1, NULL));
	s->pba = pba;	/* the tests below address the original base */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_EQ(0, zsetup_map(s, s->pba + ZPCI_MIB, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba + ZPCI_MIB, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
}

/*
 * Deregistration (detach) keeps the shadow and its pins; while detached the
 * fh is not served in the kernel (the RPCIT exits to userspace with the
 * registers unchanged, and the VMM, with no IOAT, has nothing to complete), REFRESH
 * fails with ENODEV and the debugfs view is gone. Attached again, the same
 * hwpt translates as before without pinning anything more.
 */
TEST_F(zpci, detach_keeps_shadow)
{
	struct zsetup *s = &self->s;
	struct zshadow_ent before[5], after[5];
	long pinned, entries;
	int i, cc, status;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 5, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 5 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 5);
	ASSERT_EQ(5, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, before, 5, &pinned,
				  &entries));
	ASSERT_EQ(5, pinned);
	ASSERT_EQ(5, entries);

	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_PINS(s, 5);
	ASSERT_EQ(-ENOENT, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, NULL, 0, NULL,
					NULL));
	test_err_refresh(ENODEV, &s->d, s->hwpt, s->pba, 5 * ZPCI_PAGE_SIZE, &cc, &status);
	ASSERT_EQ(-ENOENT, zvm_unserve_fh(&s->vm, ZPCI_GUEST_FH));
	ASSERT_RPCIT_UNSERVED(&s->vm, ZPCI_GUEST_FH, s->pba, 5 * ZPCI_PAGE_SIZE);
	ASSERT_PINS(s, 5);

	/* attached again: the same translations, nothing pinned twice */
	ASSERT_EQ(0, zsetup_attach(s));
	ASSERT_EQ(5, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, after, 5, &pinned,
				  &entries));
	ASSERT_EQ(5, pinned);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(before[i].iova, after[i].iova);
		ASSERT_EQ(before[i].hpa, after[i].hpa);
		ASSERT_EQ(before[i].ro, after[i].ro);
	}
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 5 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 5);

	/* destroying the hwpt releases them */
	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, s->hwpt));
	s->have_hwpt = false;
	ASSERT_PINS(s, 0);
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
		TH_LOG("case %d: REFRESH cc %d status %d, RPCIT cc %d status %d (%s)", i, cc,
		       status, r.cc, r.status, r.vmm ? "the VMM's" : "the kernel's");
		/* the errors are handed over: the VMM's REFRESH answers them */
		ASSERT_EQ(c[i].cc ? KVM_EXIT_S390_SIEIC : KVM_EXIT_INTR, r.exit_reason);
		ASSERT_EQ(c[i].cc != 0, r.vmm);
		ASSERT_EQ(0, r.vmm_ret);
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

/* entry flags and __reserved must be 0 (EOPNOTSUPP); wrong data_type: EINVAL */
TEST_F(zpci, invalidate_rejects_bad_entries)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_s390_kvm_invalidate e;
	uint32_t num;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	memset(&e, 0, sizeof(e));
	e.flags = 1;
	e.iova = s->pba;
	e.len = ZPCI_PAGE_SIZE;
	num = 1;
	test_err_hwpt_invalidate(EOPNOTSUPP, s->d.iommufd, s->hwpt,
				 IOMMU_HWPT_INVALIDATE_DATA_S390_KVM, &e, sizeof(e), &num);
	ASSERT_EQ(0, num);
	e.flags = 0;
	e.__reserved = 1;
	num = 1;
	test_err_hwpt_invalidate(EOPNOTSUPP, s->d.iommufd, s->hwpt,
				 IOMMU_HWPT_INVALIDATE_DATA_S390_KVM, &e, sizeof(e), &num);
	ASSERT_EQ(0, num);
	ASSERT_PINS(s, 0);

	e.__reserved = 0;
	num = 1;
	test_err_hwpt_invalidate(EINVAL, s->d.iommufd, s->hwpt, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
				 &e, sizeof(e), &num);
	ASSERT_EQ(0, num);
	ASSERT_PINS(s, 0);

	/* a good entry still works */
	ASSERT_EQ(0, zdev_invalidate(&s->d, s->hwpt, &e));
	ASSERT_EQ(0, e.cc);
	ASSERT_PINS(s, 1);
}

/* IOMMU_HWPT_INVALIDATE from a process whose mm is not the VM's: EPERM */
TEST_F(zpci, invalidate_from_other_mm)
{
	struct zsetup *s = &self->s;
	int status, cc, st;
	pid_t pid;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* the inherited iommufd, the same hwpt, another mm */
		int ret = zdev_refresh(&s->d, s->hwpt, s->pba, 2 * ZPCI_PAGE_SIZE, &cc, &st);

		_exit(ret == -EPERM ? 0 : ret == 0 ? 100 : (-ret & 0x7f));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child's REFRESH: %s", WEXITSTATUS(status) == 100 ? "succeeded" :
		       strerror(WEXITSTATUS(status)));
	ASSERT_PINS(s, 0);
	/* the owner still can */
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, s->pba, 2 * ZPCI_PAGE_SIZE, &cc, &st));
	ASSERT_EQ(0, cc);
	ASSERT_PINS(s, 2);
}

/*
 * The parent IOAS: in on-demand mode it is not used for translation, and
 * iommufd only lets it map IOVAs inside the host function's DMA aperture
 * (the device's reserved regions are enforced once a nested hwpt is attached)
 */
TEST_F(zpci, parent_ioas_aperture)
{
	struct zsetup *s = &self->s;
	const uint64_t len = 16 * ZPCI_PAGE_SIZE;
	uint8_t *buf;

	if (!s->d.have_zpci_info)
		SKIP(return, "no VFIO_DEVICE_INFO_CAP_ZPCI_BASE");
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 0x5a, len);
	if (s->d.start_dma >= len)
		ASSERT_EQ(-EINVAL, zdev_parent_map(&s->d, buf, s->d.start_dma - len, len));
	ASSERT_EQ(-EINVAL, zdev_parent_map(&s->d, buf, s->d.end_dma + 1, len));
	ASSERT_EQ(-EINVAL, zdev_parent_map(&s->d, buf, s->d.end_dma + 1 - len / 2, len));
	ASSERT_PINS(s, 0);

	ASSERT_EQ(0, zdev_parent_map(&s->d, buf, s->d.start_dma, len));
	ASSERT_PINS(s, 16);
	/* on demand: a refresh pins the guest's frame, the parent plays no part */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 17);
	ASSERT_EQ(0, zdev_parent_unmap(&s->d, s->d.start_dma, len));
	ASSERT_PINS(s, 1);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	munmap(buf, len);
}

/*
 * Re-registration allocates a second nested hwpt for the same (VM, fh) on
 * the same device: allowed. Attaching one of the same (VM, fh) to another
 * device while the first is attached is EEXIST; attaching a nested hwpt to a
 * device other than the one it was allocated for is EINVAL.
 */
TEST_F(zpci, duplicate_kvm_fh)
{
	struct zsetup *s = &self->s;
	struct zdev d2;
	uint32_t id2, id3;
	int ret;

	ASSERT_EQ(0, zdev_hwpt_alloc(&s->d, s->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&s->t),
				     s->pba, s->pal, &id2));
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, id2));
	if (access(OTHER_VFIO_DEV, R_OK | W_OK))
		SKIP(return, "needs a second function (" OTHER_VFIO_DEV ")");

	/* the second device, bound to the same iommufd */
	ret = zdev_open_ext(&d2, OTHER_VFIO_DEV, s->d.iommufd, -1);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", OTHER_VFIO_DEV, strerror(-ret));
	ret = zdev_hwpt_alloc(&d2, s->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&s->t),
			      s->pba, s->pal, &id3);
	ASSERT_EQ(0, ret) TH_LOG("alloc on the second device: %s", strerror(-ret));
	ASSERT_EQ(-EEXIST, zdev_attach(&d2, id3));
	/* the first hwpt still works */
	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);

	/* with the first detached: each hwpt only on its own device */
	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_EQ(-EINVAL, zdev_attach(&d2, s->hwpt));
	ASSERT_EQ(-EINVAL, zdev_attach(&s->d, id3));
	/* and the second device may serve the fh (its own shadow, its own pin) */
	ASSERT_EQ(0, zdev_attach(&d2, id3));
	ASSERT_EQ(0, zvm_serve_fh(&s->vm, ZPCI_GUEST_FH, d2.iommufd, id3));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);
	ASSERT_EQ(0, zvm_unserve_fh(&s->vm, ZPCI_GUEST_FH));
	ASSERT_EQ(0, zdev_detach(&d2));
	ASSERT_EQ(0, zdev_destroy_obj(&d2, id3));
	zdev_close(&d2);
	ASSERT_PINS(s, 1);
}

/* RPCITs the kernel handed to the VMM since boot (debugfs summary, to_vmm) */
static long to_vmm(struct __test_metadata *_metadata)
{
	struct ziommu_summary sum;
	int ret = ziommu_summary_read(&sum);

	ASSERT_EQ(0, ret) TH_LOG("/sys/kernel/debug/s390-kvm-iommu/summary: %s", strerror(-ret));
	return sum.to_vmm;
}

/* valid shadow entries of ZPCI_GUEST_FH in [start, last] */
static long shadow_count(struct __test_metadata *_metadata, uint64_t start, uint64_t last)
{
	long n = zshadow_read(ZPCI_GUEST_FH, start, last, NULL, 0, NULL, NULL);

	ASSERT_LE(0, n) TH_LOG("debugfs view: %s", strerror(-n));
	return n;
}

/* length 0: cc 0 from the kernel, nothing walked, nothing handed over */
TEST_F(zpci, len_zero_cc0)
{
	struct zsetup *s = &self->s;
	long v0 = to_vmm(_metadata);
	int cc, status;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 4, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 0, 0, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba + ZPCI_PAGE_SIZE, 0, 0, 0);
	ASSERT_PINS(s, 0);
	ASSERT_EQ(0, shadow_count(_metadata, s->pba, s->pal));
	/* a zero PTE there is not even read */
	zt_set(zt_pte(&s->t, s->pba), 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 0, 0, 0);
	/* the iommufd entry answers the same */
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, s->pba, 0, &cc, &status));
	ASSERT_EQ(0, cc);
	ASSERT_PINS(s, 0);
	ASSERT_EQ(v0, to_vmm(_metadata));
	/* the other three pages map with a real length */
	ASSERT_EQ(0, zt_unmap(&s->t, s->pba));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 4 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 3);
}

/*
 * A zero PTE (invalid bit clear: once read as "GPA 0, writable") is a table
 * error: handed to the VMM, cc 1 status 8, guest page 0 is never pinned
 */
TEST_F(zpci, zero_pte_is_table_error)
{
	struct zsetup *s = &self->s;
	uint64_t *pte;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 3, false));
	pte = zt_pte(&s->t, s->pba);
	ASSERT_NE(NULL, pte);
	zt_set(pte, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 3 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_EQ(0, shadow_count(_metadata, s->pba, s->pal));
	ASSERT_PINS(s, 0);
	/* invalid (0x400) instead: the other two map */
	zt_set(pte, ZT_PTE_INVALID);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 3 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_EQ(2, shadow_count(_metadata, s->pba, s->pal));
	ASSERT_PINS(s, 2);
}

/* a zero segment entry (a page table at GPA 0, the lowcore) is a table error */
TEST_F(zpci, zero_ste_is_table_error)
{
	struct zsetup *s = &self->s;
	uint64_t *ste, good;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	ste = zt_ste(&s->t, s->pba);
	ASSERT_NE(NULL, ste);
	good = zt_get(ste);
	zt_set(ste, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_EQ(0, shadow_count(_metadata, s->pba, s->pal));
	ASSERT_PINS(s, 0);
	zt_set(ste, good);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);
}

/* a zero region-third entry (a segment table at GPA 0) is a table error */
TEST_F(zpci, zero_rte_is_table_error)
{
	struct zsetup *s = &self->s;
	uint64_t *rte, good;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	rte = zt_rte(&s->t, s->pba);
	ASSERT_NE(NULL, rte);
	good = zt_get(rte);
	zt_set(rte, 0);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_EQ(0, shadow_count(_metadata, s->pba, s->pal));
	ASSERT_PINS(s, 0);
	zt_set(rte, good);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);
}

/* a valid segment entry with the format-control bit (a 1 MiB frame): not supported */
TEST_F(zpci, ste_format_control_is_table_error)
{
	struct zsetup *s = &self->s;
	uint64_t *ste, good;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	ste = zt_ste(&s->t, s->pba);
	ASSERT_NE(NULL, ste);
	good = zt_get(ste);
	zt_set(ste, good | 0x400);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	/* a 1 MiB frame at segment-table origin 0 */
	zt_set(ste, 0x400);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_EQ(0, shadow_count(_metadata, s->pba, s->pal));
	ASSERT_PINS(s, 0);
	zt_set(ste, good);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);
}

/*
 * A table error in the middle of a range: KVM_RUN exits (registers
 * unchanged), the kernel counts the hand-over once, the VMM's
 * IOMMU_HWPT_INVALIDATE answers cc 1 status 8 and nothing past the error is
 * mapped; the VMM's own REFRESH is no hand-over
 */
TEST_F(zpci, table_error_goes_to_vmm)
{
	struct zsetup *s = &self->s;
	uint64_t base = (s->pba + ZPCI_MIB - 1) & ~(ZPCI_MIB - 1);
	uint64_t *ste, good;
	long v0, n0, pinned;
	int cc, status;

	ASSERT_LE(base + 3 * ZPCI_MIB - 1, s->pal);
	ASSERT_EQ(0, zsetup_map(s, base, 2, false));
	ASSERT_EQ(0, zsetup_map(s, base + ZPCI_MIB, 2, false));
	ASSERT_EQ(0, zsetup_map(s, base + 2 * ZPCI_MIB, 2, false));
	ste = zt_ste(&s->t, base + ZPCI_MIB);
	ASSERT_NE(NULL, ste);
	good = zt_get(ste);
	zt_set(ste, good | ZT_TYPE_RTX);

	v0 = to_vmm(_metadata);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, base, 3 * ZPCI_MIB, 1, ZPCI_STATUS_ERROR);
	ASSERT_EQ(v0 + 1, to_vmm(_metadata));
	ASSERT_EQ(0, shadow_count(_metadata, base + ZPCI_MIB, base + 3 * ZPCI_MIB - 1));
	n0 = zshadow_read(ZPCI_GUEST_FH, base, base + ZPCI_MIB - 1, NULL, 0, &pinned, NULL);
	ASSERT_TRUE(n0 == 0 || n0 == 2) TH_LOG("%ld pages mapped before the error", n0);
	ASSERT_EQ(n0, pinned);
	ASSERT_PINS(s, n0);

	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, base, 3 * ZPCI_MIB, &cc, &status));
	ASSERT_EQ(1, cc);
	ASSERT_EQ(ZPCI_STATUS_ERROR, status);
	ASSERT_EQ(v0 + 1, to_vmm(_metadata));
	ASSERT_EQ(0, shadow_count(_metadata, base + ZPCI_MIB, base + 3 * ZPCI_MIB - 1));

	/* fixed: the kernel answers the whole range */
	zt_set(ste, good);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, base, 3 * ZPCI_MIB, 0, 0);
	ASSERT_EQ(6, shadow_count(_metadata, base, base + 3 * ZPCI_MIB - 1));
	ASSERT_PINS(s, 6);
	ASSERT_EQ(v0 + 1, to_vmm(_metadata));
}

/* ranges outside [pba, pal]: each RPCIT handed over once, nothing walked */
TEST_F(zpci, out_of_range_goes_to_vmm)
{
	struct zsetup *s = &self->s;
	long v0, n = 0;
	int cc, status;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_EQ(0, zsetup_map(s, s->pal + 1 - ZPCI_PAGE_SIZE, 1, false));
	v0 = to_vmm(_metadata);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pal + 1, ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	n++;
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pal + 1 - ZPCI_PAGE_SIZE, 2 * ZPCI_PAGE_SIZE, 1,
		     ZPCI_STATUS_ERROR);
	n++;
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1 + ZPCI_PAGE_SIZE, 1,
		     ZPCI_STATUS_ERROR);
	n++;
	if (s->pba >= ZPCI_PAGE_SIZE) {
		ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba - ZPCI_PAGE_SIZE, 2 * ZPCI_PAGE_SIZE,
			     1, ZPCI_STATUS_ERROR);
		n++;
	}
	ASSERT_EQ(v0 + n, to_vmm(_metadata));
	ASSERT_EQ(0, shadow_count(_metadata, s->pba, s->pal));
	ASSERT_PINS(s, 0);
	/* the VMM's REFRESH of such a range answers the same and is no hand-over */
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, s->pal + 1, ZPCI_PAGE_SIZE, &cc, &status));
	ASSERT_EQ(1, cc);
	ASSERT_EQ(ZPCI_STATUS_ERROR, status);
	ASSERT_EQ(v0 + n, to_vmm(_metadata));
	ASSERT_PINS(s, 0);
}

/*
 * The guest disables the function: the VMM detaches the nested hwpt (kept,
 * with its shadow and pins), so the next RPCIT of the fh exits untouched by
 * the kernel and the VMM answers cc 3 itself; enabled again, the kernel
 * answers
 */
TEST_F(zpci, disabled_function_cc3)
{
	struct zsetup *s = &self->s;
	struct zrpcit r;
	int cc, status;
	long v0;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 1, false));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	v0 = to_vmm(_metadata);

	ASSERT_EQ(0, zsetup_fn_state(s, ZVM_FN_DISABLED));
	ASSERT_FALSE(s->attached);
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s cc %d status %d", zvm_exit_name(r.exit_reason), r.cc, r.status);
	ASSERT_EQ(ZPCI_ICPT_INST, r.icptcode);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_TRUE(r.exit_fresh) TH_LOG("the kernel changed the registers");
	ASSERT_TRUE(r.vmm);
	ASSERT_EQ(0, r.vmm_ret);
	ASSERT_EQ(3, r.cc);
	ASSERT_EQ(ZPCI_PRESET_STATUS, r.r1_status);
	ASSERT_EQ(v0, to_vmm(_metadata));
	ASSERT_EQ(-ENOENT, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, NULL, 0, NULL, NULL));
	test_err_refresh(ENODEV, &s->d, s->hwpt, s->pba, ZPCI_PAGE_SIZE, &cc, &status);
	ASSERT_PINS(s, 1);

	/* the VMM's state machine refuses what does not exist */
	ASSERT_EQ(-ENOENT, zvm_fn_set_state(&s->vm, OTHER_FH, ZVM_FN_DISABLED));
	ASSERT_EQ(-EINVAL, zvm_fn_set_state(&s->vm, ZPCI_GUEST_FH, (enum zvm_fn_state)7));
	ASSERT_EQ(-EINVAL, zsetup_fn_state(s, (enum zvm_fn_state)7));

	ASSERT_EQ(0, zsetup_fn_state(s, ZVM_FN_ENABLED));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	ASSERT_EQ(v0, to_vmm(_metadata));
}

/*
 * A table error puts the function into the error state: the VMM detaches
 * the nested hwpt, so the next RPCIT of the fh (a good range) exits
 * untouched by the kernel and the VMM answers cc 1 status 40 itself; after
 * the recovery (enabled again, table fixed) the kernel answers
 */
TEST_F(zpci, error_state_detach_status40)
{
	struct zsetup *s = &self->s;
	struct zrpcit r;
	long v0, n0;

	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	ASSERT_EQ(0, zt_map(&s->t, s->pba + ZPCI_PAGE_SIZE, 0x7ff00000000ULL, false));
	v0 = to_vmm(_metadata);
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 1, ZPCI_STATUS_ERROR);
	ASSERT_EQ(v0 + 1, to_vmm(_metadata));
	ASSERT_EQ(0, shadow_count(_metadata, s->pba + ZPCI_PAGE_SIZE, s->pal));
	n0 = shadow_count(_metadata, s->pba, s->pba + ZPCI_PAGE_SIZE - 1);
	ASSERT_PINS(s, n0);

	ASSERT_EQ(0, zsetup_fn_state(s, ZVM_FN_ERROR));
	ASSERT_FALSE(s->attached);
	ASSERT_EQ(0, zvm_rpcit(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE, &r));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, r.exit_reason)
		TH_LOG("exit %s cc %d status %d", zvm_exit_name(r.exit_reason), r.cc, r.status);
	ASSERT_EQ(ZPCI_IPA_RPCIT, r.ipa);
	ASSERT_TRUE(r.exit_fresh) TH_LOG("the kernel changed the registers");
	ASSERT_TRUE(r.vmm);
	ASSERT_EQ(1, r.cc);
	ASSERT_EQ(ZPCI_STATUS_RECOVER, r.status);
	ASSERT_EQ(v0 + 1, to_vmm(_metadata));
	ASSERT_EQ(-ENOENT, zshadow_read(ZPCI_GUEST_FH, s->pba, s->pal, NULL, 0, NULL, NULL));
	ASSERT_PINS(s, n0);

	/* recovery: the guest fixes its table, the function is enabled again */
	ASSERT_EQ(0, zt_unmap(&s->t, s->pba + ZPCI_PAGE_SIZE));
	ASSERT_EQ(0, zsetup_fn_state(s, ZVM_FN_ENABLED));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 1);
	ASSERT_EQ(v0 + 1, to_vmm(_metadata));
	/* deregistered, the fh is the VMM's no more */
	ASSERT_EQ(0, zsetup_deregister(s));
	ASSERT_EQ(-ENOENT, zsetup_fn_state(s, ZVM_FN_ERROR));
	ASSERT_RPCIT_UNSERVED(&s->vm, ZPCI_GUEST_FH, s->pba, ZPCI_PAGE_SIZE);
}

/* the VMM's table of served fhs: the errnos of zvm_serve_fh()/zvm_unserve_fh() */
TEST(vmm_serve_table)
{
	struct zvm vm;
	int i;

	if (access("/dev/kvm", R_OK | W_OK))
		SKIP(return, "needs /dev/kvm");
	ASSERT_EQ(0, zvm_create(&vm, MEM_SIZE));
	ASSERT_EQ(-EBADF, zvm_serve_fh(&vm, ZPCI_GUEST_FH, -1, 1));
	ASSERT_EQ(-ENOENT, zvm_unserve_fh(&vm, ZPCI_GUEST_FH));
	for (i = 0; i < ZVM_MAX_SERVED; i++)
		ASSERT_EQ(0, zvm_serve_fh(&vm, ZPCI_GUEST_FH + i, vm.vm_fd, i + 1));
	ASSERT_EQ(-ENOSPC, zvm_serve_fh(&vm, OTHER_FH, vm.vm_fd, 99));
	/* serving a served fh again takes the new hwpt */
	ASSERT_EQ(0, zvm_serve_fh(&vm, ZPCI_GUEST_FH, vm.vm_fd, 42));
	ASSERT_EQ(42, zvm_served_of(&vm, ZPCI_GUEST_FH)->hwpt_id);
	ASSERT_EQ(0, zvm_unserve_fh(&vm, ZPCI_GUEST_FH + 1));
	ASSERT_EQ(NULL, zvm_served_of(&vm, ZPCI_GUEST_FH + 1));
	ASSERT_EQ(0, zvm_serve_fh(&vm, OTHER_FH, vm.vm_fd, 99));
	zvm_destroy(&vm);
}

/* bad allocation data: the errnos of the nested hwpt allocation */
TEST_F(zpci, hwpt_alloc_bad_data)
{
	struct zsetup *s = &self->s;
	struct iommu_hwpt_alloc plain = { .size = sizeof(plain) };
	struct iommu_hwpt_s390_kvm data;
	int fd = s->d.iommufd;
	uint32_t dev = s->d.dev_id, pt = s->d.parent_id, id;

	memset(&data, 0, sizeof(data));
	data.kvm_fd = s->vm.vm_fd;
	data.fh = OTHER_FH;
	data.iota = zt_iota(&s->t);
	data.pba = s->pba;
	data.pal = s->pal;
	/* the good one, for reference */
	test_hwpt_alloc_s390_kvm(fd, dev, pt, 0, &data, &id);
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, id));

	/* not a KVM VM: an iommufd, /dev/kvm itself, no fd */
	data.kvm_fd = s->d.iommufd;
	test_err_hwpt_alloc_s390_kvm(EBADF, fd, dev, pt, 0, &data, &id);
	data.kvm_fd = s->vm.kvm_fd;
	test_err_hwpt_alloc_s390_kvm(EBADF, fd, dev, pt, 0, &data, &id);
	data.kvm_fd = -1;
	test_err_hwpt_alloc_s390_kvm(EBADF, fd, dev, pt, 0, &data, &id);
	data.kvm_fd = s->vm.vm_fd;

	/* unknown flags */
	data.flags = 1u << 1;
	test_err_hwpt_alloc_s390_kvm(EOPNOTSUPP, fd, dev, pt, 0, &data, &id);
	data.flags = 1u << 31;
	test_err_hwpt_alloc_s390_kvm(EOPNOTSUPP, fd, dev, pt, 0, &data, &id);
	data.flags = 0;
	/* of IOMMU_HWPT_ALLOC (iommufd core): a nested hwpt is no nest parent */
	test_err_hwpt_alloc_s390_kvm(EOPNOTSUPP, fd, dev, pt, IOMMU_HWPT_ALLOC_NEST_PARENT, &data,
				     &id);
	test_err_hwpt_alloc_s390_kvm(EOPNOTSUPP, fd, dev, pt, 1u << 31, &data, &id);
	data.__reserved = 1;
	test_err_hwpt_alloc_s390_kvm(EINVAL, fd, dev, pt, 0, &data, &id);
	data.__reserved = 0;

	/* no IOTA */
	data.iota = 0;
	test_err_hwpt_alloc_s390_kvm(EINVAL, fd, dev, pt, 0, &data, &id);
	data.iota = zt_iota(&s->t);

	/* empty aperture, and apertures leaving the host function's */
	data.pba = s->pal;
	data.pal = s->pba;
	test_err_hwpt_alloc_s390_kvm(EINVAL, fd, dev, pt, 0, &data, &id);
	if (s->d.have_zpci_info && s->d.start_dma >= ZPCI_MIB) {
		data.pba = s->d.start_dma - ZPCI_MIB;
		data.pal = s->pal;
		test_err_hwpt_alloc_s390_kvm(EINVAL, fd, dev, pt, 0, &data, &id);
	}
	if (s->d.have_zpci_info && s->d.end_dma < ~0ULL) {
		data.pba = s->pba;
		data.pal = s->d.end_dma + 1;
		test_err_hwpt_alloc_s390_kvm(EINVAL, fd, dev, pt, 0, &data, &id);
	}
	data.pba = s->pba;
	data.pal = s->pal;

	/*
	 * pt_id must be a nest parent: on the IOAS iommufd allocates a paging
	 * domain, which the s390 driver refuses with data (EOPNOTSUPP); on a
	 * paging hwpt without NEST_PARENT the iommufd core refuses (EINVAL)
	 */
	test_err_hwpt_alloc_s390_kvm(EOPNOTSUPP, fd, dev, s->d.ioas_id, 0, &data, &id)
		TH_LOG("pt_id = IOAS");
	plain.dev_id = s->d.dev_id;
	plain.pt_id = s->d.ioas_id;
	ASSERT_EQ(0, ioctl(s->d.iommufd, IOMMU_HWPT_ALLOC, &plain));
	test_err_hwpt_alloc_s390_kvm(EINVAL, fd, dev, plain.out_hwpt_id, 0, &data, &id)
		TH_LOG("pt_id = paging hwpt without NEST_PARENT");
	ASSERT_EQ(0, zdev_destroy_obj(&s->d, plain.out_hwpt_id));
	ASSERT_PINS(s, 0);
}

static bool have_nodes(void)
{
	return !access("/dev/kvm", R_OK | W_OK) && !access(ZPCI_VFIO_DEV, R_OK | W_OK) &&
	       !access("/dev/iommu", R_OK | W_OK);
}

/*
 * vfio associated the device with VM A (KVM_DEV_VFIO_FILE_ADD before the
 * bind): a nested hwpt for VM B is EXDEV, for VM A it is fine
 */
TEST(hwpt_alloc_other_vm)
{
	struct zvm a, b;
	struct ztables ta, tb;
	struct zdev d;
	uint64_t pba, pal;
	uint32_t id;
	int kv, ret;

	if (!have_nodes())
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, zvm_create(&a, MEM_SIZE));
	ASSERT_EQ(0, zvm_create(&b, MEM_SIZE));
	ASSERT_EQ(0, zt_init(&ta, &a));
	ASSERT_EQ(0, zt_init(&tb, &b));
	kv = zvm_vfio_device(&a);
	ASSERT_LE(0, kv) TH_LOG("KVM_CREATE_DEVICE KVM_DEV_TYPE_VFIO: %s", strerror(-kv));
	ret = zdev_open_ext(&d, ZPCI_VFIO_DEV, -1, kv);
	ASSERT_EQ(0, ret) TH_LOG("open with KVM_DEV_VFIO_FILE_ADD: %s", strerror(-ret));
	zdev_aperture(&d, &pba, &pal);
	ASSERT_EQ(-EXDEV, zdev_hwpt_alloc(&d, b.vm_fd, ZPCI_GUEST_FH, zt_iota(&tb), pba,
					  pal, &id));
	ret = zdev_hwpt_alloc(&d, a.vm_fd, ZPCI_GUEST_FH, zt_iota(&ta), pba, pal, &id);
	ASSERT_EQ(0, ret) TH_LOG("the associated VM: %s", strerror(-ret));
	ASSERT_EQ(0, zdev_attach(&d, id));
	ASSERT_EQ(0, zdev_detach(&d));
	ASSERT_EQ(0, zdev_destroy_obj(&d, id));
	zdev_close(&d);
	close(kv);
	zvm_destroy(&b);
	zvm_destroy(&a);
}

/*
 * A process whose mm is not the VM's (a forked child, with its own iommufd
 * and device, using the inherited VM fd) may not allocate: EPERM
 */
TEST(hwpt_alloc_other_mm)
{
	struct zvm vm;
	struct ztables t;
	int status;
	pid_t pid;

	if (!have_nodes())
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, zvm_create(&vm, MEM_SIZE));
	ASSERT_EQ(0, zt_init(&t, &vm));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct zdev d;
		uint64_t pba, pal;
		uint32_t id;
		int ret = zdev_open(&d, ZPCI_VFIO_DEV);

		if (ret)
			_exit(101);
		zdev_aperture(&d, &pba, &pal);
		ret = zdev_hwpt_alloc(&d, vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&t), pba, pal,
				      &id);
		_exit(ret == -EPERM ? 0 : ret == 0 ? 100 : (-ret & 0x7f));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: %s", WEXITSTATUS(status) == 101 ? "cannot open the device" :
		       WEXITSTATUS(status) == 100 ? "allocation succeeded" :
		       strerror(WEXITSTATUS(status)));
	zvm_destroy(&vm);
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
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba + 0x100000, OVER_PAGES * ZPCI_PAGE_SIZE,
		     1, ZPCI_STATUS_RESOURCES);
	/* the iommufd REFRESH answers the same */
	ASSERT_EQ(0, zdev_refresh(&s->d, s->hwpt, s->pba + 0x100000,
				  OVER_PAGES * ZPCI_PAGE_SIZE, &cc, &status));
	ASSERT_EQ(1, cc);
	ASSERT_EQ(ZPCI_STATUS_RESOURCES, status);
	/* every page that fits is pinned: up to the limit exactly */
	kb = zpin_vmpin_kb();
	ASSERT_EQ(MEMLOCK_PAGES * 4, kb - s->kb0)
		TH_LOG("after exhaustion: VmPin %ld kB (base %ld), foll %+ld", kb, s->kb0,
		       zpin_foll_pinned() - s->foll0);
	ASSERT_PINS(s, MEMLOCK_PAGES);

	/*
	 * The guest answers with a global refresh: nothing was freed, so it is
	 * still over the limit; then it gives up the mapping
	 */
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, s->pal - s->pba + 1, 1,
		     ZPCI_STATUS_RESOURCES);
	ASSERT_PINS(s, MEMLOCK_PAGES);
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

/*
 * A hwpt allocated but not attached: the fh is not served in the kernel,
 * the RPCIT exits to userspace with the registers unchanged (and the VMM,
 * which has attached nothing, does not serve it either), REFRESH fails with
 * ENODEV
 */
TEST(unattached_hwpt)
{
	struct zsetup s_, *s = &s_;
	int ret, cc, status;

	ret = zsetup_init(s, false);
	if (ret == ZSETUP_SKIP)
		SKIP(return, "needs /dev/kvm, /dev/iommu and " ZPCI_VFIO_DEV);
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
	ASSERT_EQ(0, zsetup_map(s, s->pba, 2, false));
	ASSERT_EQ(NULL, zvm_served_of(&s->vm, ZPCI_GUEST_FH));
	ASSERT_RPCIT_UNSERVED(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE);
	test_err_refresh(ENODEV, &s->d, s->hwpt, s->pba, 2 * ZPCI_PAGE_SIZE, &cc, &status);
	ASSERT_TRUE(zpin_wait(s->kb0, s->foll0, 1000));
	/* attach now: the next refresh must populate */
	ASSERT_EQ(0, zsetup_attach(s));
	ASSERT_RPCIT(&s->vm, ZPCI_GUEST_FH, s->pba, 2 * ZPCI_PAGE_SIZE, 0, 0);
	ASSERT_PINS(s, 2);
	zsetup_fini(s);
	ASSERT_TRUE(zpin_wait(s->kb0, s->foll0, 2000));
}

TEST_HARNESS_MAIN
