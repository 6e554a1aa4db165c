// SPDX-License-Identifier: GPL-2.0-only
/*
 * Helper library for the s390 zPCI RPCIT-in-KVM selftests: test-only KVM VM
 * setup and scripted RPCIT intercepts, guest DMA table builder, pin
 * accounting readers and iommufd/vfio-cdev setup.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio_zdev.h>

#include "zpci_lib.h"

#define ZVM_TABLE_AREA_START	ZPCI_MIB		/* keep lowcore (0-8 KiB) clear */
#define ZVM_TABLE_AREA_SIZE	(15 * ZPCI_MIB)
#define ZVM_SCATTER_STRIDE	97			/* odd: a permutation of 2^n pages */

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/* ---------------------------------------------------------------- VM */

int zvm_create(struct zvm *vm, uint64_t mem_size)
{
	struct kvm_userspace_memory_region region;
	uint8_t *p;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;
	mem_size = (mem_size + ZPCI_MIB - 1) & ~(ZPCI_MIB - 1);
	if (mem_size < 32 * ZPCI_MIB)
		mem_size = 32 * ZPCI_MIB;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return neg_errno();
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		goto fail;

	/* memslot address and size must be 1 MiB aligned */
	vm->map_len = mem_size + ZPCI_MIB;
	vm->map_base = mmap(NULL, vm->map_len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->map_base == MAP_FAILED) {
		vm->map_base = NULL;
		goto fail;
	}
	p = (uint8_t *)(((uintptr_t)vm->map_base + ZPCI_MIB - 1) &
			~(uintptr_t)(ZPCI_MIB - 1));
	vm->mem = p;
	vm->mem_size = mem_size;

	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = mem_size;
	region.userspace_addr = (uintptr_t)p;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region))
		goto fail;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		goto fail;
	ret = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0)
		goto fail;
	vm->run_size = ret;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		goto fail;
	}

	vm->tbl_next = ZVM_TABLE_AREA_START;
	vm->tbl_end = ZVM_TABLE_AREA_START + ZVM_TABLE_AREA_SIZE;
	vm->data_start = vm->tbl_end;
	vm->data_pages = (mem_size - vm->data_start) / ZPCI_PAGE_SIZE;
	vm->data_idx = 0;
	return 0;

fail:
	ret = neg_errno();
	zvm_destroy(vm);
	return ret;
}

void zvm_destroy(struct zvm *vm)
{
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->map_base)
		munmap(vm->map_base, vm->map_len);
	if (vm->hi_mem)
		munmap(vm->hi_mem, vm->hi_size);
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;
}

int zvm_add_data_slot(struct zvm *vm, uint64_t gpa, uint64_t size)
{
	struct kvm_userspace_memory_region region;
	uint8_t *map, *p;
	size_t head;

	if ((gpa | size) & (ZPCI_MIB - 1) || !size || vm->hi_mem)
		return -EINVAL;
	/* the memslot's HVA must be 1 MiB aligned too: trim an oversized map */
	map = mmap(NULL, size + ZPCI_MIB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return neg_errno();
	p = (uint8_t *)(((uintptr_t)map + ZPCI_MIB - 1) & ~(uintptr_t)(ZPCI_MIB - 1));
	head = p - map;
	if (head)
		munmap(map, head);
	munmap(p + size, ZPCI_MIB - head);
	memset(&region, 0, sizeof(region));
	region.slot = 1;
	region.guest_phys_addr = gpa;
	region.memory_size = size;
	region.userspace_addr = (uintptr_t)p;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region)) {
		int ret = neg_errno();

		munmap(p, size);
		return ret;
	}
	vm->hi_mem = p;
	vm->hi_gpa = gpa;
	vm->hi_size = size;
	vm->data_start = gpa;
	vm->data_pages = size / ZPCI_PAGE_SIZE;
	vm->data_idx = 0;
	return 0;
}

uint64_t zvm_alloc(struct zvm *vm, uint64_t size, uint64_t align)
{
	uint64_t gpa = (vm->tbl_next + align - 1) & ~(align - 1);

	if (gpa + size > vm->tbl_end)
		return 0;
	vm->tbl_next = gpa + size;
	memset(zvm_ptr(vm, gpa), 0, size);
	return gpa;
}

uint64_t zvm_alloc_scattered_page(struct zvm *vm)
{
	uint64_t idx, gpa;

	if (vm->data_idx >= vm->data_pages)
		return 0;
	/* i -> (i * stride) mod n visits every page once when gcd(stride, n) == 1 */
	idx = (vm->data_idx++ * ZVM_SCATTER_STRIDE) % vm->data_pages;
	gpa = vm->data_start + idx * ZPCI_PAGE_SIZE;
	memset(zvm_ptr(vm, gpa), 0, ZPCI_PAGE_SIZE);
	return gpa;
}

uint64_t znow_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

const char *zvm_exit_name(uint32_t exit_reason)
{
	switch (exit_reason) {
	case KVM_EXIT_INTR:		return "KVM_EXIT_INTR";
	case KVM_EXIT_S390_SIEIC:	return "KVM_EXIT_S390_SIEIC";
	case KVM_EXIT_S390_RESET:	return "KVM_EXIT_S390_RESET";
	case KVM_EXIT_INTERNAL_ERROR:	return "KVM_EXIT_INTERNAL_ERROR";
	case KVM_EXIT_FAIL_ENTRY:	return "KVM_EXIT_FAIL_ENTRY";
	case KVM_EXIT_UNKNOWN:		return "KVM_EXIT_UNKNOWN";
	default:			return "other";
	}
}

int _test_intercept(int vcpu_fd, uint8_t icptcode, uint16_t ipa, uint32_t ipb)
{
	struct kvm_s390_test_intercept icpt;

	memset(&icpt, 0, sizeof(icpt));
	icpt.icptcode = icptcode;
	icpt.ipa = ipa;
	icpt.ipb = ipb;
	return ioctl(vcpu_fd, KVM_S390_TEST_INTERCEPT, &icpt) ? neg_errno() : 0;
}

int zvm_run_intercept(struct zvm *vm, uint8_t icptcode, uint16_t ipa,
		      uint32_t ipb, uint64_t psw_mask, struct zrpcit *res)
{
	uint64_t t0, t1;
	int ret;

	memset(res, 0, sizeof(*res));
	res->cc = -1;
	res->status = -1;

	vm->run->psw_mask = psw_mask;
	vm->run->psw_addr = 0x10000;
	vm->run->immediate_exit = 0;

	t0 = znow_ns();
	ret = _test_intercept(vm->vcpu_fd, icptcode, ipa, ipb);
	if (ret) {
		res->ret = ret;
		return ret;
	}
	t1 = znow_ns();
	/* spec: a handled intercept returns 0 with KVM_EXIT_INTR */
	ret = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	if (ret) {
		res->ret = neg_errno();
		return res->ret;
	}
	res->t_queue = t1 - t0;
	res->t_run = znow_ns() - t1;
	res->exit_reason = vm->run->exit_reason;
	res->psw_mask = vm->run->psw_mask;
	res->cc = (vm->run->psw_mask >> 44) & 3;
	if (res->exit_reason == KVM_EXIT_S390_SIEIC) {
		res->icptcode = vm->run->s390_sieic.icptcode;
		res->ipa = vm->run->s390_sieic.ipa;
		res->ipb = vm->run->s390_sieic.ipb;
	}
	return 0;
}

/* ------------------------------------------------ the VMM's served fhs */

struct zvm_served *zvm_served_of(struct zvm *vm, uint32_t fh)
{
	int i;

	for (i = 0; i < ZVM_MAX_SERVED; i++)
		if (vm->served[i].used && vm->served[i].fh == fh)
			return &vm->served[i];
	return NULL;
}

int zvm_serve_fh(struct zvm *vm, uint32_t fh, int iommufd, uint32_t hwpt_id)
{
	struct zvm_served *sv = zvm_served_of(vm, fh);
	int i;

	if (iommufd < 0)
		return -EBADF;
	for (i = 0; !sv && i < ZVM_MAX_SERVED; i++)
		if (!vm->served[i].used)
			sv = &vm->served[i];
	if (!sv)
		return -ENOSPC;
	sv->used = true;
	sv->fh = fh;
	sv->iommufd = iommufd;
	sv->hwpt_id = hwpt_id;
	sv->state = ZVM_FN_ENABLED;
	return 0;
}

int zvm_unserve_fh(struct zvm *vm, uint32_t fh)
{
	struct zvm_served *sv = zvm_served_of(vm, fh);

	if (!sv)
		return -ENOENT;
	memset(sv, 0, sizeof(*sv));
	return 0;
}

int zvm_fn_set_state(struct zvm *vm, uint32_t fh, enum zvm_fn_state state)
{
	struct zvm_served *sv = zvm_served_of(vm, fh);

	if (!sv)
		return -ENOENT;
	if (state != ZVM_FN_ENABLED && state != ZVM_FN_ERROR && state != ZVM_FN_DISABLED)
		return -EINVAL;
	sv->state = state;
	return 0;
}

static int zvm_invalidate(int iommufd, uint32_t hwpt_id, uint64_t iova, uint64_t len,
			  int *cc, int *status)
{
	struct iommu_hwpt_s390_kvm_invalidate e;
	uint32_t num = 1;
	int ret;

	memset(&e, 0, sizeof(e));
	e.iova = iova;
	e.len = len;
	e.cc = 0xff;
	e.status = 0xff;
	ret = _test_hwpt_invalidate(iommufd, hwpt_id, IOMMU_HWPT_INVALIDATE_DATA_S390_KVM, &e,
				    sizeof(e), &num);
	if (ret)
		return ret;
	if (num != 1)
		return -EIO;
	*cc = e.cc;
	*status = e.status;
	return 0;
}

/*
 * An RPCIT exit (regs as KVM left them): a VMM that serves the fh answers it
 * as QEMU's rpcit_service_call does, the cc into the PSW and, with cc 1, the
 * status into r1; the program checks of a problem-state or odd-r2 RPCIT are
 * the kernel's for a served fh and not modelled here.
 */
static void zvm_vmm_answer(struct zvm *vm, struct kvm_regs *regs, struct zrpcit *res)
{
	int r1 = (res->ipb >> 20) & 0xf, r2 = (res->ipb >> 16) & 0xf;
	struct zvm_served *sv = zvm_served_of(vm, regs->gprs[r1] >> 32);
	int cc, status = 0;

	if (!sv || (res->psw_mask & ZPCI_PSW_PSTATE) || (r2 & 1))
		return;
	switch (sv->state) {
	case ZVM_FN_DISABLED:
		cc = 3;
		break;
	case ZVM_FN_ERROR:
		cc = 1;
		status = ZPCI_STATUS_RECOVER;
		break;
	default:
		res->vmm_ret = zvm_invalidate(sv->iommufd, sv->hwpt_id, regs->gprs[r2],
					      regs->gprs[r2 + 1], &cc, &status);
		if (res->vmm_ret)
			return;
		break;
	}
	res->vmm = true;
	res->psw_mask = zrpcit_answer_psw(res->psw_mask, cc);
	regs->gprs[r1] = zrpcit_answer_r1(regs->gprs[r1], cc, status);
	vm->run->psw_mask = res->psw_mask;
	res->cc = cc;
	if (cc == 1 && ioctl(vm->vcpu_fd, KVM_SET_REGS, regs))
		res->vmm_ret = neg_errno();
}

/* r1_status and status from gprs[r1] after the answer */
static void zrpcit_decode(struct zrpcit *res, uint64_t gpr_r1)
{
	res->r1_status = zrpcit_r1_status(gpr_r1);
	res->status = res->r1_status;
	if (res->cc == 0 && res->r1_status == ZPCI_PRESET_STATUS)
		res->status = 0;
}

/* preset, queue, KVM_RUN: the registers as KVM left them in *regs */
static int zvm_rpcit_start(struct zvm *vm, int r1, int r2, uint32_t fh, uint64_t iova,
			   uint64_t len, uint64_t psw_extra, struct zrpcit *res,
			   struct kvm_regs *regs)
{
	uint64_t r1_preset = zrpcit_r1_preset(fh);
	int ret;

	memset(regs, 0, sizeof(*regs));
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, regs))
		return neg_errno();
	regs->gprs[r1] = r1_preset;
	regs->gprs[r2] = iova;
	if (r2 < 15)
		regs->gprs[r2 + 1] = len;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, regs))
		return neg_errno();

	ret = zvm_run_intercept(vm, ZPCI_ICPT_INST, ZPCI_IPA_RPCIT, ZPCI_RPCIT_IPB(r1, r2),
				zrpcit_psw_preset(psw_extra), res);
	if (ret)
		return ret;
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, regs))
		return neg_errno();
	if (res->exit_reason == KVM_EXIT_S390_SIEIC && res->icptcode == ZPCI_ICPT_INST &&
	    res->ipa == ZPCI_IPA_RPCIT)
		res->exit_fresh = res->cc == ZPCI_PRESET_CC && regs->gprs[r1] == r1_preset &&
				  regs->gprs[r2] == iova &&
				  (r2 == 15 || regs->gprs[r2 + 1] == len);
	zrpcit_decode(res, regs->gprs[r1]);
	return 0;
}

int zvm_rpcit_issue(struct zvm *vm, int r1, int r2, uint32_t fh, uint64_t iova,
		    uint64_t len, uint64_t psw_extra, struct zrpcit *res)
{
	struct kvm_regs regs;

	return zvm_rpcit_start(vm, r1, r2, fh, iova, len, psw_extra, res, &regs);
}

static int zvm_rpcit_once(struct zvm *vm, int r1, int r2, uint32_t fh, uint64_t iova,
			  uint64_t len, uint64_t psw_extra, struct zrpcit *res)
{
	struct kvm_regs regs;
	int ret;

	ret = zvm_rpcit_start(vm, r1, r2, fh, iova, len, psw_extra, res, &regs);
	if (ret)
		return ret;
	if (res->exit_reason == KVM_EXIT_S390_SIEIC && res->icptcode == ZPCI_ICPT_INST &&
	    res->ipa == ZPCI_IPA_RPCIT) {
		zvm_vmm_answer(vm, &regs, res);
		zrpcit_decode(res, regs.gprs[r1]);
	}
	return 0;
}

int zvm_rpcit_regs(struct zvm *vm, int r1, int r2, uint32_t fh, uint64_t iova,
		   uint64_t len, uint64_t psw_extra, struct zrpcit *res)
{
	int ret, retries;

	for (retries = 0;; retries++) {
		ret = zvm_rpcit_once(vm, r1, r2, fh, iova, len, psw_extra, res);
		if (ret || res->cc != 2 || retries == ZVM_RPCIT_MAX_RETRIES)
			break;
		/* busy: only an answer (the kernel's or the VMM's) is retried */
		if (res->exit_reason != KVM_EXIT_INTR && !res->vmm)
			break;
	}
	res->retries = retries;
	return ret;
}

int zvm_rpcit(struct zvm *vm, uint32_t fh, uint64_t iova, uint64_t len,
	      struct zrpcit *res)
{
	return zvm_rpcit_regs(vm, 1, 2, fh, iova, len, 0, res);
}

/* prefix 0: the lowcore is at guest real (= absolute) 0 */
uint16_t zvm_lowcore_u16(struct zvm *vm, uint64_t off)
{
	uint16_t v;

	memcpy(&v, zvm_ptr(vm, off), sizeof(v));
	return be16toh(v);
}

uint64_t zvm_lowcore_u64(struct zvm *vm, uint64_t off)
{
	uint64_t v;

	memcpy(&v, zvm_ptr(vm, off), sizeof(v));
	return be64toh(v);
}

uint16_t zvm_lowcore_pgm_code(struct zvm *vm)
{
	return zvm_lowcore_u16(vm, ZPCI_LC_PGM_CODE);
}

/* ------------------------------------------------------ guest DMA tables */

uint64_t zt_get(const uint64_t *entry)
{
	return be64toh(__atomic_load_n(entry, __ATOMIC_RELAXED));
}

void zt_set(uint64_t *entry, uint64_t val)
{
	__atomic_store_n(entry, htobe64(val), __ATOMIC_RELEASE);
}

static bool zt_in_ram(const struct ztables *t, uint64_t gpa, uint64_t len)
{
	return gpa >= t->ram_base && gpa < t->ram_end && len <= t->ram_end - gpa;
}

/* a fresh table, every entry invalid: a page table (2 KiB) or a 16 KiB one */
static uint64_t zt_new_table(struct ztables *t, bool pt)
{
	uint64_t size = pt ? ZT_PT_SIZE : ZT_TABLE_SIZE, gpa, *e, i;

	if (t->alloc)
		gpa = t->alloc(t->priv, pt);
	else
		gpa = zvm_alloc(t->vm, size, size);
	if (!gpa)
		return 0;
	e = zvm_ptr(t->vm, gpa);
	for (i = 0; i < size / 8; i++)
		zt_set(&e[i], pt ? ZT_PTE_INVALID : ZT_TABLE_INVALID);
	return gpa;
}

int zt_init(struct ztables *t, struct zvm *vm)
{
	memset(t, 0, sizeof(*t));
	t->vm = vm;
	t->dt = 1;
	t->ram_base = 0;
	t->ram_end = vm->mem_size;
	t->origin = zt_new_table(t, false);
	return t->origin ? 0 : -ENOMEM;
}

int zt_init_at(struct ztables *t, struct zvm *vm, uint64_t origin, int dt,
	       uint64_t ram_base, uint64_t ram_end)
{
	uint64_t *e;
	int i;

	memset(t, 0, sizeof(*t));
	t->vm = vm;
	t->origin = origin;
	t->dt = dt;
	t->ram_base = ram_base;
	t->ram_end = ram_end;
	if (!zt_in_ram(t, origin, ZT_TABLE_SIZE))
		return -EFAULT;
	e = zvm_ptr(vm, origin);
	for (i = 0; i < ZT_TABLE_ENTRIES; i++)
		zt_set(&e[i], ZT_TABLE_INVALID);
	return 0;
}

/* index shift of the entries of a level-L table: 3 RF, 2 RS, 1 RT, 0 ST */
static int zt_lvl_shift(int level)
{
	return 20 + 11 * level;
}

int zt_walk(struct ztables *t, uint64_t iova, int to, bool create, uint64_t **entry,
	    int *fail_level)
{
	uint64_t table = t->origin, *e, v, sub;
	int l;

	if (t->dt < 3 && iova >> zt_lvl_shift(t->dt + 1))
		return -EINVAL;
	for (l = t->dt; l >= 0; l--) {
		e = (uint64_t *)zvm_ptr(t->vm, table) + ((iova >> zt_lvl_shift(l)) & 0x7ff);
		if (l == to) {
			*entry = e;
			return 0;
		}
		v = zt_get(e);
		if (v & ZT_TABLE_INVALID) {
			if (!create) {
				if (fail_level)
					*fail_level = l;
				return -ENOENT;
			}
			sub = zt_new_table(t, l == 0);
			if (!sub)
				return -ENOMEM;
			zt_set(e, l ? sub | ((uint64_t)l << 2) | ZT_LEN_RTX : sub | ZT_TYPE_SX);
			v = zt_get(e);
		}
		table = v & (l ? ZT_RTE_ADDR_MASK : ZT_STE_ADDR_MASK);
		if (!zt_in_ram(t, table, l ? ZT_TABLE_SIZE : ZT_PT_SIZE)) {
			if (fail_level)
				*fail_level = l;
			return -EINVAL;
		}
	}
	*entry = (uint64_t *)zvm_ptr(t->vm, table) + ((iova >> ZT_PT_SHIFT) & 0xff);
	return 0;
}

static uint64_t *zt_entry(struct ztables *t, uint64_t iova, int to)
{
	uint64_t *e;

	return zt_walk(t, iova, to, false, &e, NULL) ? NULL : e;
}

uint64_t *zt_rte(struct ztables *t, uint64_t iova)
{
	return zt_entry(t, iova, 1);
}

uint64_t *zt_ste(struct ztables *t, uint64_t iova)
{
	return zt_entry(t, iova, 0);
}

uint64_t *zt_pte(struct ztables *t, uint64_t iova)
{
	return zt_entry(t, iova, -1);
}

int zt_write_pte(struct ztables *t, uint64_t iova, uint64_t entry)
{
	uint64_t *e;
	int ret;

	ret = zt_walk(t, iova, -1, true, &e, NULL);
	if (ret)
		return ret;
	zt_set(e, entry);
	return 0;
}

int zt_map(struct ztables *t, uint64_t iova, uint64_t gpa, bool readonly)
{
	int ret;

	ret = zt_write_pte(t, iova, (gpa & ZT_PTE_ADDR_MASK) | (readonly ? ZT_PROTECTED : 0));
	if (ret)
		return ret;
	__sync_synchronize();
	return 0;
}

int zt_unmap(struct ztables *t, uint64_t iova)
{
	uint64_t *pte = zt_pte(t, iova);

	if (!pte)
		return -ENOENT;
	zt_set(pte, zt_get(pte) | ZT_PTE_INVALID);
	__sync_synchronize();
	return 0;
}

int zt_invalidate_upper(struct ztables *t, uint64_t iova, uint64_t len, int level)
{
	uint64_t end = iova + len, step, *e;
	int fl;

	if (level > t->dt)
		return -EINVAL;
	while (iova < end) {
		fl = level;
		if (!zt_walk(t, iova, level, false, &e, &fl))
			zt_set(e, zt_get(e) | ZT_TABLE_INVALID);
		step = 1ULL << zt_lvl_shift(fl);
		iova = (iova & ~(step - 1)) + step;
		if (!iova)
			break;
	}
	return 0;
}

/* ------------------------------------------------------ pin accounting */

long zpin_vmpin_kb(void)
{
	char line[256];
	long val = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmPin:", 6)) {
			val = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

int zfile_write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int ret;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	ret = n == (ssize_t)strlen(s) ? 0 : (n < 0 ? -errno : -EIO);
	close(fd);
	return ret;
}

/*
 * /proc/vmstat lags: node counters sit in per-cpu buckets until the periodic
 * fold (vm.stat_interval, 1 s) or until root reads/writes vm/stat_refresh.
 */
static bool zpin_refresh_vmstat(void)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	/* without it (no SMP, not root) the values just lag */
	if (fd < 0)
		return false;
	n = write(fd, "1\n", 2);
	close(fd);
	return n == 2;
}

long zpin_foll_pinned(void)
{
	char name[128];
	long long v, acq = -1, rel = -1;
	FILE *f;

	zpin_refresh_vmstat();
	f = fopen("/proc/vmstat", "r");

	if (!f)
		return LONG_MIN;
	while (fscanf(f, "%127s %lld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acq = v;
		else if (!strcmp(name, "nr_foll_pin_released"))
			rel = v;
	}
	fclose(f);
	if (acq < 0 || rel < 0)
		return LONG_MIN;
	return (long)(acq - rel);
}

bool zpin_settle(int quiet_ms, int timeout_ms)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	long last = zpin_foll_pinned(), v;
	int waited, quiet = 0;

	for (waited = 0; waited < timeout_ms; waited += 20) {
		nanosleep(&ts, NULL);
		v = zpin_foll_pinned();
		if (v != last) {
			last = v;
			quiet = 0;
			continue;
		}
		quiet += 20;
		if (quiet >= quiet_ms)
			return true;
	}
	return false;
}

bool zpin_wait(long vmpin_kb, long foll, int timeout_ms)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int waited;

	for (waited = 0;; waited += 20) {
		if (zpin_vmpin_kb() == vmpin_kb && zpin_foll_pinned() == foll)
			return true;
		if (waited >= timeout_ms)
			return false;
		nanosleep(&ts, NULL);
	}
}

/* ---------------------------------------------------- iommufd + vfio cdev */

static void zdev_read_zpci_info(struct zdev *d)
{
	union {
		struct vfio_device_info info;
		uint8_t raw[8192];
	} u;
	struct vfio_info_cap_header *hdr;
	uint32_t off;
	int guard = 0;

	memset(&u, 0, sizeof(u));
	u.info.argsz = sizeof(u);
	if (ioctl(d->devfd, VFIO_DEVICE_GET_INFO, &u.info))
		return;
	if (!(u.info.flags & VFIO_DEVICE_FLAGS_CAPS) || u.info.argsz > sizeof(u))
		return;
	for (off = u.info.cap_offset; off && off + sizeof(*hdr) <= sizeof(u) &&
	     guard < 64; off = hdr->next, guard++) {
		hdr = (struct vfio_info_cap_header *)(u.raw + off);
		if (hdr->id == VFIO_DEVICE_INFO_CAP_ZPCI_BASE &&
		    off + offsetof(struct vfio_device_info_cap_zpci_base, pchid) <= sizeof(u)) {
			struct vfio_device_info_cap_zpci_base *b = (void *)hdr;

			d->start_dma = b->start_dma;
			d->end_dma = b->end_dma;
			if (hdr->version >= 2)
				d->host_fh = b->fh;
			d->have_zpci_info = true;
		}
	}
}

int zdev_open(struct zdev *d, const char *path)
{
	return zdev_open_ext(d, path, -1, -1);
}

static int zvm_vfio_file_add(int kvm_vfio_fd, int devfd)
{
	int32_t fd = devfd;
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_FILE,
		.attr = KVM_DEV_VFIO_FILE_ADD,
		.addr = (uintptr_t)&fd,
	};

	return ioctl(kvm_vfio_fd, KVM_SET_DEVICE_ATTR, &attr) ? neg_errno() : 0;
}

int zdev_open_ext(struct zdev *d, const char *path, int iommufd, int kvm_vfio_fd)
{
	struct vfio_device_bind_iommufd bind;
	struct iommu_ioas_alloc ioas;
	struct iommu_hwpt_alloc parent;
	int ret;

	memset(d, 0, sizeof(*d));
	d->iommufd = -1;
	d->devfd = -1;

	if (iommufd >= 0)
		d->iommufd = fcntl(iommufd, F_DUPFD_CLOEXEC, 0);
	else
		d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d->iommufd < 0)
		goto fail;
	d->devfd = open(path ? path : ZPCI_VFIO_DEV, O_RDWR | O_CLOEXEC);
	if (d->devfd < 0)
		goto fail;
	/* vdev->kvm is only set when the association precedes the bind */
	if (kvm_vfio_fd >= 0) {
		ret = zvm_vfio_file_add(kvm_vfio_fd, d->devfd);
		if (ret) {
			zdev_close(d);
			return ret;
		}
	}

	memset(&bind, 0, sizeof(bind));
	bind.argsz = sizeof(bind);
	bind.iommufd = d->iommufd;
	if (ioctl(d->devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		goto fail;
	d->dev_id = bind.out_devid;

	memset(&ioas, 0, sizeof(ioas));
	ioas.size = sizeof(ioas);
	if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &ioas))
		goto fail;
	d->ioas_id = ioas.out_ioas_id;

	memset(&parent, 0, sizeof(parent));
	parent.size = sizeof(parent);
	parent.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
	parent.dev_id = d->dev_id;
	parent.pt_id = d->ioas_id;
	parent.data_type = IOMMU_HWPT_DATA_NONE;
	if (ioctl(d->iommufd, IOMMU_HWPT_ALLOC, &parent))
		goto fail;
	d->parent_id = parent.out_hwpt_id;

	zdev_read_zpci_info(d);
	return 0;
fail:
	ret = neg_errno();
	zdev_close(d);
	return ret;
}

void zdev_close(struct zdev *d)
{
	if (d->devfd >= 0)
		close(d->devfd);
	if (d->iommufd >= 0)
		close(d->iommufd);
	d->devfd = -1;
	d->iommufd = -1;
}

int zdev_hwpt_alloc(struct zdev *d, int kvm_fd, uint32_t fh, uint64_t iota,
		    uint64_t pba, uint64_t pal, uint32_t *hwpt_id)
{
	return zdev_hwpt_alloc_flags(d, kvm_fd, fh, 0, iota, pba, pal, hwpt_id);
}

int zdev_hwpt_alloc_flags(struct zdev *d, int kvm_fd, uint32_t fh, uint32_t flags,
			  uint64_t iota, uint64_t pba, uint64_t pal, uint32_t *hwpt_id)
{
	struct iommu_hwpt_s390_kvm data;

	memset(&data, 0, sizeof(data));
	data.kvm_fd = kvm_fd;
	data.fh = fh;
	data.flags = flags;
	data.iota = iota;
	data.pba = pba;
	data.pal = pal;

	return _test_hwpt_alloc_s390_kvm(d->iommufd, d->dev_id, d->parent_id, 0, &data,
					 hwpt_id);
}

int zdev_hwpt_alloc_attach(struct zdev *d, int kvm_fd, uint32_t fh, uint32_t flags,
			   uint64_t iota, uint64_t pba, uint64_t pal, uint32_t *hwpt_id)
{
	uint32_t id;
	int ret;

	ret = zdev_hwpt_alloc_flags(d, kvm_fd, fh, flags, iota, pba, pal, &id);
	if (ret)
		return ret;
	ret = zdev_attach(d, id);
	if (ret) {
		zdev_destroy_obj(d, id);
		return ret;
	}
	*hwpt_id = id;
	return 0;
}

int _test_hwpt_alloc_s390_kvm(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
			      const struct iommu_hwpt_s390_kvm *data, uint32_t *hwpt_id)
{
	struct iommu_hwpt_alloc cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.flags = flags;
	cmd.dev_id = dev_id;
	cmd.pt_id = pt_id;
	cmd.data_type = IOMMU_HWPT_DATA_S390_KVM;
	cmd.data_len = sizeof(*data);
	cmd.data_uptr = (uintptr_t)data;
	if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd))
		return neg_errno();
	*hwpt_id = cmd.out_hwpt_id;
	return 0;
}

int zdev_parent_map(struct zdev *d, void *hva, uint64_t gpa, uint64_t size)
{
	struct iommu_ioas_map map;

	memset(&map, 0, sizeof(map));
	map.size = sizeof(map);
	map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		    IOMMU_IOAS_MAP_WRITEABLE;
	map.ioas_id = d->ioas_id;
	map.user_va = (uintptr_t)hva;
	map.length = size;
	map.iova = gpa;
	return ioctl(d->iommufd, IOMMU_IOAS_MAP, &map) ? neg_errno() : 0;
}

int zdev_parent_unmap(struct zdev *d, uint64_t gpa, uint64_t size)
{
	struct iommu_ioas_unmap unmap;

	memset(&unmap, 0, sizeof(unmap));
	unmap.size = sizeof(unmap);
	unmap.ioas_id = d->ioas_id;
	unmap.iova = gpa;
	unmap.length = size;
	return ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &unmap) ? neg_errno() : 0;
}

int zdev_attach(struct zdev *d, uint32_t pt_id)
{
	struct vfio_device_attach_iommufd_pt at;

	memset(&at, 0, sizeof(at));
	at.argsz = sizeof(at);
	at.pt_id = pt_id;
	return ioctl(d->devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) ? neg_errno() : 0;
}

int zdev_detach(struct zdev *d)
{
	struct vfio_device_detach_iommufd_pt dt;

	memset(&dt, 0, sizeof(dt));
	dt.argsz = sizeof(dt);
	return ioctl(d->devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt) ? neg_errno() : 0;
}

int zdev_destroy_obj(struct zdev *d, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(d->iommufd, IOMMU_DESTROY, &cmd) ? neg_errno() : 0;
}

int _test_hwpt_invalidate(int iommufd, uint32_t hwpt_id, uint32_t data_type, void *entries,
			  uint32_t entry_len, uint32_t *entry_num)
{
	struct iommu_hwpt_invalidate cmd;
	int ret;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.hwpt_id = hwpt_id;
	cmd.data_uptr = (uintptr_t)entries;
	cmd.data_type = data_type;
	cmd.entry_len = entry_len;
	cmd.entry_num = *entry_num;
	ret = ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &cmd) ? neg_errno() : 0;
	*entry_num = cmd.entry_num;
	return ret;
}

int zdev_invalidate(struct zdev *d, uint32_t hwpt_id,
		    struct iommu_hwpt_s390_kvm_invalidate *e)
{
	uint32_t num = 1;
	int ret;

	ret = _test_hwpt_invalidate(d->iommufd, hwpt_id, IOMMU_HWPT_INVALIDATE_DATA_S390_KVM, e,
				    sizeof(*e), &num);
	if (ret)
		return ret;
	if (num != 1)
		return -EIO;
	return 0;
}

int zdev_refresh(struct zdev *d, uint32_t hwpt_id, uint64_t iova, uint64_t len,
		 int *cc, int *status)
{
	struct iommu_hwpt_s390_kvm_invalidate e;
	int ret;

	memset(&e, 0, sizeof(e));
	e.iova = iova;
	e.len = len;
	e.cc = 0xff;
	e.status = 0xff;
	ret = zdev_invalidate(d, hwpt_id, &e);
	*cc = e.cc;
	*status = e.status;
	return ret;
}

void zdev_aperture(const struct zdev *d, uint64_t *pba, uint64_t *pal)
{
	uint64_t start = 0x100000000ULL, end = (1ULL << 42) - 1;

	if (d->have_zpci_info && d->end_dma > d->start_dma) {
		start = d->start_dma;
		end = d->end_dma;
	}
	if (end > (1ULL << 42) - 1)	/* what an RTTO table covers */
		end = (1ULL << 42) - 1;
	*pba = start;
	*pal = end;
}

int zvm_vfio_device(struct zvm *vm)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };

	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd))
		return neg_errno();
	return cd.fd;
}

/* ------------------------------------------------------ debugfs view */

void zshadow_path(char *buf, size_t len, uint32_t fh)
{
	snprintf(buf, len, "/sys/kernel/debug/s390-kvm-iommu/%d-%08x", getpid(), fh);
}

long zshadow_read(uint32_t fh, uint64_t start, uint64_t last,
		  struct zshadow_ent *e, long max, long *pinned, long *entries)
{
	unsigned long long a, b;
	char path[96], cmd[64], line[128], prot[8];
	long n = 0;
	FILE *f;
	int fd;

	if (pinned)
		*pinned = -1;
	if (entries)
		*entries = -1;
	zshadow_path(path, sizeof(path), fh);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	snprintf(cmd, sizeof(cmd), "0x%llx 0x%llx", (unsigned long long)start,
		 (unsigned long long)last);
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		close(fd);
		return -EIO;
	}
	lseek(fd, 0, SEEK_SET);
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		long p, en;

		if (sscanf(line, "pinned %ld entries %ld", &p, &en) == 2) {
			if (pinned)
				*pinned = p;
			if (entries)
				*entries = en;
		} else if (sscanf(line, "%llx %llx %7s", &a, &b, prot) == 3) {
			if (n < max) {
				e[n].iova = a;
				e[n].hpa = b;
				e[n].ro = !strcmp(prot, "ro");
			}
			n++;
		}
	}
	fclose(f);
	return n;
}

int ziommu_summary_read(struct ziommu_summary *sum)
{
	char line[512];
	FILE *f = fopen("/sys/kernel/debug/s390-kvm-iommu/summary", "r");
	int n;

	memset(sum, 0, sizeof(*sum));
	if (!f)
		return neg_errno();
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EPROTO;
	}
	fclose(f);
	n = sscanf(line,
		   "domains %ld attached %ld pins %ld tables %ld host_rpcit_failures %ld pending %ld to_vmm %ld busy %ld",
		   &sum->domains, &sum->attached, &sum->pins, &sum->tables,
		   &sum->host_rpcit_failures, &sum->pending, &sum->to_vmm, &sum->busy);
	return n == 8 ? 0 : -EPROTO;
}

/* ------------------------------------------------------ zsetup */

int zsetup_init(struct zsetup *s, bool attach)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->vm.kvm_fd = -1;
	s->vm.vm_fd = -1;
	s->vm.vcpu_fd = -1;
	s->d.iommufd = -1;
	s->d.devfd = -1;
	s->kb0 = zpin_vmpin_kb();
	s->foll0 = zpin_foll_pinned();

	if (access("/dev/kvm", R_OK | W_OK) || access(ZPCI_VFIO_DEV, R_OK | W_OK) ||
	    access("/dev/iommu", R_OK | W_OK))
		return ZSETUP_SKIP;
	/* baseline only once releases from earlier tests have landed */
	zpin_settle(400, 10000);
	s->kb0 = zpin_vmpin_kb();
	s->foll0 = zpin_foll_pinned();
	ret = zvm_create(&s->vm, ZSETUP_MEM);
	if (ret)
		return ret;
	ret = zt_init(&s->t, &s->vm);
	if (ret)
		return ret;
	ret = zdev_open(&s->d, ZPCI_VFIO_DEV);
	if (ret)
		return ret;
	zdev_aperture(&s->d, &s->pba, &s->pal);
	ret = zdev_hwpt_alloc(&s->d, s->vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&s->t),
			      s->pba, s->pal, &s->hwpt);
	if (ret)
		return ret;
	s->have_hwpt = true;
	if (attach)
		return zsetup_attach(s);
	return 0;
}

int zsetup_attach(struct zsetup *s)
{
	int ret = zdev_attach(&s->d, s->hwpt);

	if (ret)
		return ret;
	s->attached = true;
	return zvm_serve_fh(&s->vm, ZPCI_GUEST_FH, s->d.iommufd, s->hwpt);
}

int zsetup_fn_state(struct zsetup *s, enum zvm_fn_state state)
{
	int ret;

	if (state == ZVM_FN_ENABLED)
		return zsetup_attach(s);
	if (state != ZVM_FN_ERROR && state != ZVM_FN_DISABLED)
		return -EINVAL;
	if (!zvm_served_of(&s->vm, ZPCI_GUEST_FH))
		return -ENOENT;
	if (s->attached) {
		ret = zdev_detach(&s->d);
		if (ret)
			return ret;
		s->attached = false;
	}
	return zvm_fn_set_state(&s->vm, ZPCI_GUEST_FH, state);
}

int zsetup_reregister(struct zsetup *s, uint64_t iota, uint64_t pba, uint64_t pal,
		      uint32_t *old_hwpt)
{
	uint32_t id, old = s->hwpt;
	bool had = s->have_hwpt;
	int ret;

	ret = zdev_hwpt_alloc_attach(&s->d, s->vm.vm_fd, ZPCI_GUEST_FH, 0, iota, pba, pal, &id);
	if (ret)
		return ret;
	s->attached = true;
	s->hwpt = id;
	s->have_hwpt = true;
	s->pba = pba;
	s->pal = pal;
	ret = zvm_serve_fh(&s->vm, ZPCI_GUEST_FH, s->d.iommufd, id);
	if (ret)
		return ret;
	if (old_hwpt)
		*old_hwpt = had ? old : 0;
	else if (had)
		ret = zdev_destroy_obj(&s->d, old);
	return ret;
}

int zsetup_deregister(struct zsetup *s)
{
	int ret = zdev_detach(&s->d);

	if (!ret) {
		s->attached = false;
		zvm_unserve_fh(&s->vm, ZPCI_GUEST_FH);
	}
	return ret;
}

void zsetup_fini(struct zsetup *s)
{
	if (s->attached)
		zdev_detach(&s->d);
	if (s->have_hwpt)
		zdev_destroy_obj(&s->d, s->hwpt);
	s->attached = false;
	s->have_hwpt = false;
	zvm_unserve_fh(&s->vm, ZPCI_GUEST_FH);
	zdev_close(&s->d);
	zvm_destroy(&s->vm);
}

int zsetup_map(struct zsetup *s, uint64_t iova, int n, bool ro)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		uint64_t gpa = zvm_alloc_scattered_page(&s->vm);

		if (!gpa)
			return -ENOMEM;
		ret = zt_map(&s->t, iova + i * ZPCI_PAGE_SIZE, gpa, ro);
		if (ret)
			return ret;
	}
	return 0;
}

int zsetup_unmap(struct zsetup *s, uint64_t iova, int n)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = zt_unmap(&s->t, iova + i * ZPCI_PAGE_SIZE);
		if (ret)
			return ret;
	}
	return 0;
}

bool zsetup_pins_are(struct zsetup *s, long pages)
{
	return zpin_wait(s->kb0 + pages * 4, s->foll0 + pages, ZSETUP_PINS_MS);
}

/* ------------------------------------------------------ disk pattern */

uint64_t zdisk_pattern_u64(uint64_t off)
{
	return (off * 0x9E3779B97F4A7C15ULL) ^ 0x0123456789ABCDEFULL;
}

uint8_t zdisk_pattern_byte(uint64_t off)
{
	uint64_t v = zdisk_pattern_u64(off & ~7ULL);

	/* big-endian: byte 0 is the most significant one */
	return (uint8_t)(v >> (56 - 8 * (off & 7)));
}
