/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small helper library for the s390 zPCI RPCIT-in-KVM selftests.
 *
 * The programs run as root inside an emulated IBM Z host where KVM runs in
 * the test-only mode without SIE (CONFIG_KVM_S390_TEST_NO_SIE): no guest code
 * executes, an intercept is queued with KVM_S390_TEST_INTERCEPT and the real
 * intercept handlers process it on the next KVM_RUN.
 *
 * Guest I/O translation tables are built in guest memory in the s390 big-endian
 * format of arch/s390/include/asm/pci_dma.h (RTTO, 3 levels, 4 KiB pages).
 */
#ifndef SELFTEST_KVM_S390_ZPCI_LIB_H
#define SELFTEST_KVM_S390_ZPCI_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "../../../../../../arch/s390/kvm/kvm-s390-test.h"

#define ZPCI_PAGE_SIZE		4096ULL
#define ZPCI_MIB		0x100000ULL

/* RPCIT intercept */
#define ZPCI_ICPT_INST		4
#define ZPCI_IPA_RPCIT		0xb9d3
#define ZPCI_RPCIT_IPB(r1, r2)	(((uint32_t)(r1) << 20) | ((uint32_t)(r2) << 16))

/* PSW bits as KVM reports them in kvm_run->psw_mask */
#define ZPCI_PSW_EA_BA		0x0000000180000000ULL
#define ZPCI_PSW_PSTATE		0x0001000000000000ULL
#define ZPCI_PSW_CC_SHIFT	44
#define ZPCI_PSW_CC_MASK	(3ULL << ZPCI_PSW_CC_SHIFT)

/* lowcore */
#define ZPCI_LC_PGM_ILC		0x8c
#define ZPCI_LC_PGM_CODE	0x8e
#define ZPCI_LC_PGM_OLD_PSW	0x150	/* mask at +0, address at +8 */

/* program interruption codes */
#define ZPCI_PGM_PRIVILEGED	0x02
#define ZPCI_PGM_SPECIFICATION	0x06

/* RPCIT status */
#define ZPCI_STATUS_ERROR	8
#define ZPCI_STATUS_RESOURCES	16
#define ZPCI_STATUS_RECOVER	40	/* function in the error state (QEMU's answer) */
/* what zvm_rpcit*() puts into the registers before every RPCIT */
#define ZPCI_PRESET_CC		3
#define ZPCI_PRESET_STATUS	0xff
/* cc-2 answers the guest of zvm_rpcit*() retries before it gives up */
#define ZVM_RPCIT_MAX_RETRIES	65536

/* DMA table format, arch/s390/include/asm/pci_dma.h */
#define ZT_IOTA_DT_RT		0x4ULL	/* RTTO (1) << 2 */
#define ZT_TABLE_ENTRIES	2048
#define ZT_TABLE_SIZE		0x4000ULL
#define ZT_PT_ENTRIES		256
#define ZT_PT_SIZE		0x800ULL
#define ZT_TYPE_RTX		0x4ULL
#define ZT_TYPE_SX		0x0ULL
#define ZT_LEN_RTX		0x3ULL
#define ZT_TABLE_INVALID	0x20ULL
#define ZT_PROTECTED		0x200ULL
#define ZT_PTE_INVALID		0x400ULL
#define ZT_RTE_ADDR_MASK	(~0x3fffULL)
#define ZT_STE_ADDR_MASK	(~0x7ffULL)
#define ZT_PTE_ADDR_MASK	(~0xfffULL)
#define ZT_RT_SHIFT		31
#define ZT_ST_SHIFT		20
#define ZT_PT_SHIFT		12

/* guest function handle the tests use by default */
#define ZPCI_GUEST_FH		0x80001234u
#define ZPCI_VFIO_DEV		"/dev/vfio/devices/vfio0"

/* ---------------------------------------------------------------- VM */

/*
 * The VMM's view of a guest function: ZVM_FN_ENABLED, its RPCITs that KVM
 * hands over are completed through IOMMU_HWPT_INVALIDATE on the nested hwpt;
 * ZVM_FN_ERROR (error state) and ZVM_FN_DISABLED, the VMM has detached the
 * nested hwpt and answers every RPCIT of the fh itself: cc 1 status 40, cc 3.
 */
enum zvm_fn_state {
	ZVM_FN_ENABLED,
	ZVM_FN_ERROR,
	ZVM_FN_DISABLED,
};

#define ZVM_MAX_SERVED	8

struct zvm_served {
	bool used;
	uint32_t fh;
	int iommufd;
	uint32_t hwpt_id;
	enum zvm_fn_state state;
};

struct zvm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;		/* host view of guest-physical 0 */
	uint64_t mem_size;
	void *map_base;		/* for munmap */
	size_t map_len;
	/* page allocator */
	uint64_t tbl_next;	/* bump allocator for tables: [1 MiB, tbl_end) */
	uint64_t tbl_end;
	uint64_t data_start;	/* scattered data pages: [data_start, mem_size) */
	uint64_t data_pages;
	uint64_t data_idx;
	/* optional second memslot (slot 1) for data pages, see zvm_add_data_slot() */
	uint8_t *hi_mem;	/* host view of guest-physical hi_gpa */
	uint64_t hi_gpa;
	uint64_t hi_size;
	/* the function handles this VMM serves, see zvm_serve_fh() */
	struct zvm_served served[ZVM_MAX_SERVED];
};

struct zrpcit {
	int ret;		/* ioctl result: 0 or -errno */
	uint32_t exit_reason;
	int cc;
	int status;
	uint8_t icptcode;	/* valid for KVM_EXIT_S390_SIEIC */
	uint16_t ipa;
	uint32_t ipb;
	uint64_t psw_mask;
	/*
	 * zvm_rpcit*() only. The registers are preset (cc 3, r1 status byte
	 * 0xff) before every RPCIT. status is the r1 status byte after the
	 * answer, except that it reads 0 for a cc 0 that left the preset byte
	 * alone (the architecture leaves r1 unchanged with cc 0); r1_status is
	 * that byte as it is.
	 */
	int r1_status;
	/* at a KVM_EXIT_S390_SIEIC RPCIT exit: cc 3, r1, r2, r2 + 1 as preset */
	bool exit_fresh;
	/*
	 * The RPCIT exited (exit_reason stays KVM_EXIT_S390_SIEIC) for an fh
	 * the VM serves and the VMM answered it: through IOMMU_HWPT_INVALIDATE
	 * of the same (iova, len), cc/status from the entry, or by its own
	 * state (ZVM_FN_ERROR, ZVM_FN_DISABLED). false: the kernel answered
	 * in KVM_RUN, or no one did (an fh the VM does not serve).
	 */
	bool vmm;
	int vmm_ret;		/* IOMMU_HWPT_INVALIDATE of the VMM: 0 or -errno */
	int retries;		/* cc-2 answers the guest retried (same RPCIT again) */
	/* ns: KVM_S390_TEST_INTERCEPT, KVM_RUN (zvm_run_intercept(), the last one) */
	uint64_t t_queue, t_run;
};

/* gprs[r1] of every RPCIT the library issues: fh, status byte 0xff */
static inline uint64_t zrpcit_r1_preset(uint32_t fh)
{
	return (uint64_t)fh << 32 | (uint64_t)ZPCI_PRESET_STATUS << 24;
}

/* the PSW mask of every RPCIT the library issues: supervisor state, cc 3 */
static inline uint64_t zrpcit_psw_preset(uint64_t psw_extra)
{
	return ZPCI_PSW_EA_BA | (uint64_t)ZPCI_PRESET_CC << ZPCI_PSW_CC_SHIFT | psw_extra;
}

/* the status byte of r1 */
static inline int zrpcit_r1_status(uint64_t gpr_r1)
{
	return (gpr_r1 >> 24) & 0xff;
}

/*
 * A VMM's answer, as QEMU gives it: the cc into the PSW mask and, with cc 1,
 * the status into r1's status byte
 */
static inline uint64_t zrpcit_answer_psw(uint64_t psw_mask, int cc)
{
	return (psw_mask & ~ZPCI_PSW_CC_MASK) | ((uint64_t)(cc & 3) << ZPCI_PSW_CC_SHIFT);
}

static inline uint64_t zrpcit_answer_r1(uint64_t gpr_r1, int cc, int status)
{
	if (cc != 1)
		return gpr_r1;
	return (gpr_r1 & ~0xff000000ULL) | (uint64_t)(status & 0xff) << 24;
}

/* monotonic nanoseconds */
uint64_t znow_ns(void);

int zvm_create(struct zvm *vm, uint64_t mem_size);
void zvm_destroy(struct zvm *vm);
static inline void *zvm_ptr(struct zvm *vm, uint64_t gpa)
{
	if (vm->hi_mem && gpa >= vm->hi_gpa && gpa - vm->hi_gpa < vm->hi_size)
		return vm->hi_mem + (gpa - vm->hi_gpa);
	return vm->mem + gpa;
}

/*
 * Add memslot 1 at guest-physical @gpa (1 MiB aligned, @size bytes) and take
 * every later zvm_alloc_scattered_page() from it. Pinned-parent and direct-map
 * configurations put the guest's DMA data there, inside the host function's
 * DMA aperture, so the parent IOAS can map it at IOVA = GPA.
 */
int zvm_add_data_slot(struct zvm *vm, uint64_t gpa, uint64_t size);

/* zeroed, aligned guest memory for tables/rings (slot 0); 0 on exhaustion */
uint64_t zvm_alloc(struct zvm *vm, uint64_t size, uint64_t align);
/* one zeroed 4 KiB page, taken from the data area in a scattered order */
uint64_t zvm_alloc_scattered_page(struct zvm *vm);

/* queue one intercept and KVM_RUN */
int zvm_run_intercept(struct zvm *vm, uint8_t icptcode, uint16_t ipa,
		      uint32_t ipb, uint64_t psw_mask, struct zrpcit *res);
/*
 * RPCIT r1,r2 with gprs[r1] = fh << 32 | status byte 0xff, gprs[r2] = iova,
 * gprs[r2 + 1] = len and PSW cc 3. An RPCIT exit for a served fh is
 * completed by the VMM (res->vmm); a cc 2 answer (kernel or VMM) is retried
 * like a Linux guest does, up to ZVM_RPCIT_MAX_RETRIES times (res->retries).
 * Returns 0 or the -errno of a vCPU ioctl.
 */
int zvm_rpcit_regs(struct zvm *vm, int r1, int r2, uint32_t fh, uint64_t iova,
		   uint64_t len, uint64_t psw_extra, struct zrpcit *res);
/*
 * The one RPCIT issuer under zvm_rpcit_regs() and the replaying VMM: the
 * registers preset as above, the intercept queued and run once; no VMM
 * answer, no retry. res as for zvm_rpcit_regs() (vmm false); the registers
 * KVM left are in vm->run->s.regs.gprs. 0 or the -errno of a vCPU ioctl.
 */
int zvm_rpcit_issue(struct zvm *vm, int r1, int r2, uint32_t fh, uint64_t iova,
		    uint64_t len, uint64_t psw_extra, struct zrpcit *res);
/* RPCIT 1,2 in supervisor state */
int zvm_rpcit(struct zvm *vm, uint32_t fh, uint64_t iova, uint64_t len,
	      struct zrpcit *res);
/*
 * The VMM serves fh with the nested hwpt hwpt_id on iommufd (ZVM_FN_ENABLED;
 * an fh already served gets the new hwpt): an RPCIT of fh that KVM hands to
 * userspace is completed by zvm_rpcit*(). 0, -EBADF (iommufd < 0) or
 * -ENOSPC (ZVM_MAX_SERVED fhs served).
 */
int zvm_serve_fh(struct zvm *vm, uint32_t fh, int iommufd, uint32_t hwpt_id);
/* 0, or -ENOENT when fh is not served */
int zvm_unserve_fh(struct zvm *vm, uint32_t fh);
/* 0, -ENOENT (fh not served) or -EINVAL (no such state) */
int zvm_fn_set_state(struct zvm *vm, uint32_t fh, enum zvm_fn_state state);
/* the entry of a served fh, NULL if none */
struct zvm_served *zvm_served_of(struct zvm *vm, uint32_t fh);
uint16_t zvm_lowcore_pgm_code(struct zvm *vm);
uint16_t zvm_lowcore_u16(struct zvm *vm, uint64_t off);
uint64_t zvm_lowcore_u64(struct zvm *vm, uint64_t off);
const char *zvm_exit_name(uint32_t exit_reason);

/* ------------------------------------------------------ guest DMA tables */

/*
 * The one guest table builder: every guest region/segment/page table entry
 * the library writes goes through zt_walk() and zt_write_pte(). The top
 * table sits at origin with designation type dt; every table lies in
 * [ram_base, ram_end). Lower tables come from alloc(priv, pt) (a page table
 * when pt, else a 16 KiB region/segment table; 0 when none is left) or, with
 * alloc NULL, from zvm_alloc() (slot 0).
 */
struct ztables {
	struct zvm *vm;
	uint64_t origin;	/* guest-physical origin of the top-level table */
	int dt;			/* its designation type: 0 STO, 1 RTTO, 2 RSTO, 3 RFTO */
	uint64_t ram_base;
	uint64_t ram_end;
	uint64_t (*alloc)(void *priv, bool pt);
	void *priv;
};

/* an RTTO layout, tables from zvm_alloc() in slot 0 */
int zt_init(struct ztables *t, struct zvm *vm);
/*
 * A top-level table of type dt at origin, made all invalid, tables within
 * [ram_base, ram_end); t->alloc and t->priv are NULL (the caller may set
 * them). 0, or -EFAULT (origin outside, t is set up all the same).
 */
int zt_init_at(struct ztables *t, struct zvm *vm, uint64_t origin, int dt,
	       uint64_t ram_base, uint64_t ram_end);
static inline uint64_t zt_iota(const struct ztables *t)
{
	return t->origin | ((uint64_t)t->dt << 2);
}

/*
 * Walk to the entry for iova in the level-to table (3 RF, 2 RS, 1 RT, 0 ST,
 * -1 the PTE); with create, invalid upper entries get fresh tables. 0 and
 * *entry, or -EINVAL (iova beyond the top level, a table outside RAM),
 * -ENOENT (an invalid upper entry, without create) or -ENOMEM (no table
 * left). *fail_level (may be NULL) is set to the level of an invalid entry
 * or of an entry naming a table outside RAM.
 */
int zt_walk(struct ztables *t, uint64_t iova, int to, bool create, uint64_t **entry,
	    int *fail_level);
/* write one raw PTE, making the upper levels valid as needed; zt_walk() errors */
int zt_write_pte(struct ztables *t, uint64_t iova, uint64_t entry);
/* map one 4 KiB page; creates segment/page tables as needed */
int zt_map(struct ztables *t, uint64_t iova, uint64_t gpa, bool readonly);
/* mark the PTE invalid (the lazy-unmap way: tables stay) */
int zt_unmap(struct ztables *t, uint64_t iova);
/*
 * make the level-level entries (1 RT, 0 ST) covering [iova, iova + len)
 * invalid, where the walk reaches them; -EINVAL when level is above the top
 */
int zt_invalidate_upper(struct ztables *t, uint64_t iova, uint64_t len, int level);
/* host pointers to the (big-endian) entries, NULL if the level is missing */
uint64_t *zt_rte(struct ztables *t, uint64_t iova);
uint64_t *zt_ste(struct ztables *t, uint64_t iova);
uint64_t *zt_pte(struct ztables *t, uint64_t iova);
uint64_t zt_get(const uint64_t *entry);
void zt_set(uint64_t *entry, uint64_t val);

/* ------------------------------------------------------ pin accounting */

/*
 * write the string s to the file at path (a sysfs, debugfs or procfs knob):
 * 0, -errno of open() or write(), -EIO for a short write
 */
int zfile_write_str(const char *path, const char *s);

long zpin_vmpin_kb(void);		/* VmPin of this process, kB; -1 on error */
long zpin_foll_pinned(void);		/* nr_foll_pin_acquired - released; LONG_MIN on error */
/*
 * wait until nr_foll_pin_* stops moving (no change for quiet_ms, at most
 * timeout_ms): pins released late by an earlier test (RCU, work items, process
 * exit) must not land inside the next measurement; false on timeout
 */
bool zpin_settle(int quiet_ms, int timeout_ms);
/* poll until both counters are back to the given values, up to timeout_ms */
bool zpin_wait(long vmpin_kb, long foll, int timeout_ms);
/*
 * The one pin assertion: VmPin is kb0 + 4 kB and the foll pins foll0 + 1
 * for each of pages, polled up to timeout_ms; logs both deltas otherwise.
 * A kselftest_harness assertion: needs _metadata.
 */
#define ASSERT_PINS_FROM(kb0, foll0, pages, timeout_ms) do { \
	long __kb0 = (kb0), __foll0 = (foll0), __pages = (pages); \
	ASSERT_TRUE(zpin_wait(__kb0 + __pages * 4, __foll0 + __pages, timeout_ms)) \
		TH_LOG("pins: VmPin %+ld kB, foll %+ld (want %+ld pages)", \
		       zpin_vmpin_kb() - __kb0, zpin_foll_pinned() - __foll0, __pages); \
} while (0)

/* ---------------------------------------------------- iommufd + vfio cdev */

struct zdev {
	int iommufd;
	int devfd;
	uint32_t dev_id;
	uint32_t ioas_id;
	uint32_t parent_id;	/* IOMMU_HWPT_ALLOC_NEST_PARENT hwpt on ioas_id */
	uint64_t start_dma;	/* VFIO_DEVICE_INFO_CAP_ZPCI_BASE */
	uint64_t end_dma;
	uint32_t host_fh;
	bool have_zpci_info;
};

/*
 * open /dev/iommu + the vfio cdev, bind, allocate an (empty) IOAS and a
 * nest-parent hwpt on it (d->parent_id)
 */
int zdev_open(struct zdev *d, const char *path);
/*
 * zdev_open() with options: bind to a duplicate of @iommufd instead of a new
 * /dev/iommu when @iommufd >= 0; when @kvm_vfio_fd >= 0 (a KVM_DEV_TYPE_VFIO
 * device, zvm_vfio_device()), add the cdev to it before the bind, as a VMM
 * associates a device with its VM
 */
int zdev_open_ext(struct zdev *d, const char *path, int iommufd, int kvm_vfio_fd);
void zdev_close(struct zdev *d);
/* s390 KVM nested hwpt on d->parent_id, on-demand mode */
int zdev_hwpt_alloc(struct zdev *d, int kvm_fd, uint32_t fh, uint64_t iota,
		    uint64_t pba, uint64_t pal, uint32_t *hwpt_id);
/* the same with struct iommu_hwpt_s390_kvm flags (IOMMU_HWPT_S390_KVM_*) */
int zdev_hwpt_alloc_flags(struct zdev *d, int kvm_fd, uint32_t fh, uint32_t flags,
			  uint64_t iota, uint64_t pba, uint64_t pal, uint32_t *hwpt_id);
/*
 * zdev_hwpt_alloc_flags() and attach (in place of the attached hwpt, as a
 * VMM does on IOAT (re)registration); the new hwpt is destroyed again when
 * the attach fails
 */
int zdev_hwpt_alloc_attach(struct zdev *d, int kvm_fd, uint32_t fh, uint32_t flags,
			   uint64_t iota, uint64_t pba, uint64_t pal, uint32_t *hwpt_id);
/* IOMMU_IOAS_MAP of [hva, hva + size) at IOVA = gpa into the parent's IOAS */
int zdev_parent_map(struct zdev *d, void *hva, uint64_t gpa, uint64_t size);
int zdev_parent_unmap(struct zdev *d, uint64_t gpa, uint64_t size);
int zdev_attach(struct zdev *d, uint32_t pt_id);
int zdev_detach(struct zdev *d);
int zdev_destroy_obj(struct zdev *d, uint32_t id);
/* one IOMMU_HWPT_INVALIDATE entry; returns 0 or -errno, fills e->cc/status */
int zdev_invalidate(struct zdev *d, uint32_t hwpt_id,
		    struct iommu_hwpt_s390_kvm_invalidate *e);
int zdev_refresh(struct zdev *d, uint32_t hwpt_id, uint64_t iova, uint64_t len,
		 int *cc, int *status);
/* guest aperture to use: [start_dma, end_dma] clipped to what RTTO covers */
void zdev_aperture(const struct zdev *d, uint64_t *pba, uint64_t *pal);

/* a KVM_DEV_TYPE_VFIO device of the VM (fd), or -errno */
int zvm_vfio_device(struct zvm *vm);

/* --------------------------------------------------- ioctl helper triples */

/*
 * As in tools/testing/selftests/iommu/iommufd_utils.h: _test_x() issues one
 * ioctl and returns 0 or -errno, test_x() asserts that it succeeds and
 * test_err_x(err, ...) that it fails with exactly errno err. The last two
 * are kselftest_harness assertions: they need _metadata and may be followed
 * by TH_LOG().
 */

/*
 * IOMMU_HWPT_ALLOC with IOMMU_HWPT_DATA_S390_KVM @data for @dev_id on @pt_id,
 * IOMMU_HWPT_ALLOC_* @flags; *hwpt_id is set on success
 */
int _test_hwpt_alloc_s390_kvm(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
			      const struct iommu_hwpt_s390_kvm *data, uint32_t *hwpt_id);
#define test_hwpt_alloc_s390_kvm(iommufd, dev_id, pt_id, flags, data, hwpt_id) \
	ASSERT_EQ(0, _test_hwpt_alloc_s390_kvm(iommufd, dev_id, pt_id, flags, data, hwpt_id))
#define test_err_hwpt_alloc_s390_kvm(err, iommufd, dev_id, pt_id, flags, data, hwpt_id) \
	ASSERT_EQ(-(err), _test_hwpt_alloc_s390_kvm(iommufd, dev_id, pt_id, flags, data, \
						    hwpt_id))

/*
 * IOMMU_HWPT_INVALIDATE of @hwpt_id: *entry_num entries of @entry_len bytes
 * at @entries, of @data_type; *entry_num is set to the number the kernel
 * reports done (also on failure)
 */
int _test_hwpt_invalidate(int iommufd, uint32_t hwpt_id, uint32_t data_type, void *entries,
			  uint32_t entry_len, uint32_t *entry_num);
#define test_hwpt_invalidate(iommufd, hwpt_id, data_type, entries, entry_len, entry_num) \
	ASSERT_EQ(0, _test_hwpt_invalidate(iommufd, hwpt_id, data_type, entries, entry_len, \
					   entry_num))
#define test_err_hwpt_invalidate(err, iommufd, hwpt_id, data_type, entries, entry_len, \
				 entry_num) \
	ASSERT_EQ(-(err), _test_hwpt_invalidate(iommufd, hwpt_id, data_type, entries, \
						entry_len, entry_num))

/*
 * The REFRESH of one range (IOMMU_HWPT_INVALIDATE, one s390 KVM entry):
 * zdev_refresh() is the _test_ form
 */
#define test_refresh(d, hwpt_id, iova, len, cc, status) \
	ASSERT_EQ(0, zdev_refresh(d, hwpt_id, iova, len, cc, status))
#define test_err_refresh(err, d, hwpt_id, iova, len, cc, status) \
	ASSERT_EQ(-(err), zdev_refresh(d, hwpt_id, iova, len, cc, status))

/* KVM_S390_TEST_INTERCEPT: queue one intercept on the vCPU (no KVM_RUN) */
int _test_intercept(int vcpu_fd, uint8_t icptcode, uint16_t ipa, uint32_t ipb);
#define test_intercept(vcpu_fd, icptcode, ipa, ipb) \
	ASSERT_EQ(0, _test_intercept(vcpu_fd, icptcode, ipa, ipb))
#define test_err_intercept(err, vcpu_fd, icptcode, ipa, ipb) \
	ASSERT_EQ(-(err), _test_intercept(vcpu_fd, icptcode, ipa, ipb))

/* ------------------------- test-only debugfs view of a nested hwpt's shadow */

/*
 * /sys/kernel/debug/s390-kvm-iommu/<tgid>-<fh>: exists only while the nested
 * hwpt of (this process's VM, fh) is attached. First line "pinned P entries
 * E", then "<iova> <hpa> ro|rw" for each valid shadow PTE in the range last
 * written to it ("<start> <last>").
 */
struct zshadow_ent {
	uint64_t iova;
	uint64_t hpa;
	bool ro;
};

void zshadow_path(char *buf, size_t len, uint32_t fh);
/*
 * Read the shadow of [start, last]: up to max entries into e (may be NULL
 * with max 0), *pinned and *entries from the first line (either may be
 * NULL). Returns the number of entries in the range (even beyond max), or
 * -errno: -ENOENT when the file does not exist (hwpt not attached).
 */
long zshadow_read(uint32_t fh, uint64_t start, uint64_t last,
		  struct zshadow_ent *e, long max, long *pinned, long *entries);

/*
 * /sys/kernel/debug/s390-kvm-iommu/summary: "domains D attached A pins P
 * tables T host_rpcit_failures F pending R to_vmm V busy B"
 */
struct ziommu_summary {
	long domains, attached, pins, tables, host_rpcit_failures, pending;
	long to_vmm, busy;
};

/* 0, -errno of the open/read, or -EPROTO when the line does not parse */
int ziommu_summary_read(struct ziommu_summary *sum);

/* ---------------------------------- one VM + tables + device + s390 hwpt */

#define ZSETUP_SKIP	4	/* KSFT_SKIP: /dev/kvm, /dev/iommu or vfio0 missing */
#define ZSETUP_MEM	(64 * ZPCI_MIB)

struct zsetup {
	struct zvm vm;
	struct ztables t;
	struct zdev d;
	uint32_t hwpt;
	bool have_hwpt;
	bool attached;
	uint64_t pba, pal;
	long kb0, foll0;	/* pin baseline measured before setup */
};

/*
 * 0, ZSETUP_SKIP or -errno; allocates the hwpt with the guest IOTA, attaches
 * if asked and then serves ZPCI_GUEST_FH with it (zvm_serve_fh())
 */
int zsetup_init(struct zsetup *s, bool attach);
void zsetup_fini(struct zsetup *s);
/*
 * Guest IOAT re-registration: a new nested hwpt for (VM, ZPCI_GUEST_FH) with
 * iota/pba/pal, attached in place of the current one (a replace when one is
 * attached), which is then destroyed; with old_hwpt the old one is handed to
 * the caller instead (still allocated, detached). s->hwpt is the new one.
 */
int zsetup_reregister(struct zsetup *s, uint64_t iota, uint64_t pba, uint64_t pal,
		      uint32_t *old_hwpt);
/*
 * guest IOAT deregistration: detach (the hwpt keeps its shadow and pins);
 * ZPCI_GUEST_FH is not served any more
 */
int zsetup_deregister(struct zsetup *s);
/* attach s->hwpt (again) and serve ZPCI_GUEST_FH with it */
int zsetup_attach(struct zsetup *s);
/*
 * The VMM's state machine for ZPCI_GUEST_FH: ZVM_FN_ERROR or ZVM_FN_DISABLED
 * detaches s->hwpt (kept, with its shadow) and keeps the fh served, answered
 * by the VMM alone; ZVM_FN_ENABLED attaches s->hwpt again.
 */
int zsetup_fn_state(struct zsetup *s, enum zvm_fn_state state);
/* map n scattered guest pages at iova / invalidate n PTEs */
int zsetup_map(struct zsetup *s, uint64_t iova, int n, bool ro);
int zsetup_unmap(struct zsetup *s, uint64_t iova, int n);
/* pins (VmPin and foll pins) equal baseline + pages, polled up to ZSETUP_PINS_MS */
#define ZSETUP_PINS_MS	1000
bool zsetup_pins_are(struct zsetup *s, long pages);
#define ASSERT_ZSETUP_PINS(s, pages) do { \
	const struct zsetup *__s = (s); \
	ASSERT_PINS_FROM(__s->kb0, __s->foll0, pages, ZSETUP_PINS_MS); \
} while (0)

/* disk image pattern (harness/mkdisk.py) */
uint64_t zdisk_pattern_u64(uint64_t off);
uint8_t zdisk_pattern_byte(uint64_t off);
static inline uint8_t zdisk_write_byte(uint64_t i)
{
	return (uint8_t)((i * 7 + 0x3c) & 0xff);
}

#endif
