// SPDX-License-Identifier: GPL-2.0
/*
 * In-kernel RPCIT (Refresh PCI Translations, B9D3) for zPCI functions whose
 * IOMMU domain is bound to this VM (drivers/iommu/s390-kvm-iommu.c).
 *
 * RPCIT r1,r2: r1 bits 0-31 hold the function handle and receive the status
 * in bits 32-39 on cc 1; r2 (even) holds the start IOVA and r2 + 1 the length
 * in bytes. Functions without such a domain exit to userspace as before.
 */

#include <linux/kvm_host.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <asm/pci_kvm_iommu.h>

#include "kvm-s390.h"
#include "trace.h"
#include "../pci.h"
#include "rpcit.h"

/**
 * kvm_s390_handle_rpcit() - Handle an RPCIT intercept
 * @vcpu: the vCPU that executed RPCIT
 *
 * Checks the instruction as the architecture orders it: a
 * privileged-operation exception in problem state, then a specification
 * exception for an odd r2. If the function handle in r1 then belongs to a
 * function attached to a KVM nested IOMMU domain of this VM, performs the
 * refresh in the kernel and answers with a condition code, with the status
 * in r1 bits 32-39 on cc 1. Answers that put the function into the error
 * state (cc 1 status 8 with a PCI error event) concern state the VMM owns:
 * the instruction then goes to userspace like one for an fh the kernel does
 * not serve, as do RPCITs of protected (Secure Execution) vCPUs.
 *
 * Context: vCPU thread, kvm->srcu read lock and vcpu->mutex held. May
 * sleep.
 * Return: 0 when the instruction was handled (or a program interrupt was
 * injected), -EOPNOTSUPP to leave it to userspace, -EINTR on a fatal
 * signal (the instruction is then executed again on the next entry), or
 * the error of the injection.
 */
int kvm_s390_handle_rpcit(struct kvm_vcpu *vcpu)
{
	struct s390_kvm_iommu_domain *kdom;
	u64 *gprs = vcpu->run->s.regs.gprs;
	u8 status = 0;
	int r1, r2, cc;
	u32 fh;

	vcpu->stat.instruction_rpcit++;

	if (kvm_s390_pv_cpu_is_protected(vcpu))
		return -EOPNOTSUPP;
	if (vcpu->arch.sie_block->gpsw.mask & PSW_MASK_PSTATE)
		return kvm_s390_inject_program_int(vcpu, PGM_PRIVILEGED_OP);

	kvm_s390_get_regs_rre(vcpu, &r1, &r2);
	if (r2 & 1)
		return kvm_s390_inject_program_int(vcpu, PGM_SPECIFICATION);

	fh = gprs[r1] >> 32;
	kdom = s390_kvm_iommu_get(vcpu->kvm, fh);
	if (!kdom)
		return -EOPNOTSUPP;

	cc = s390_kvm_iommu_rpcit(kdom, gprs[r2], gprs[r2 + 1], &status);
	s390_kvm_iommu_put(kdom);
	if (cc == -EINTR) {
		kvm_s390_retry_instr(vcpu);
		return 0;
	}
	if (cc < 0) {
		/* not attached, or an error answer: userspace decides */
		vcpu->stat.rpcit_error_answers += cc == -EOPNOTSUPP;
		return -EOPNOTSUPP;
	}

	vcpu->stat.rpcit_in_kernel++;
	vcpu->stat.rpcit_error_answers += cc == 1;
	VCPU_EVENT(vcpu, 5, "RPCIT fh %x iova %llx len %llx: cc %d status %u",
		   fh, gprs[r2], gprs[r2 + 1], cc, status);
	trace_kvm_s390_handle_rpcit(vcpu, fh, gprs[r2], gprs[r2 + 1], cc,
				    status);
	if (cc) {
		gprs[r1] &= ~0xff000000UL;
		gprs[r1] |= (u64)status << 24;
	}
	kvm_s390_set_psw_cc(vcpu, cc);
	return 0;
}

static struct kvm *kvm_s390_rpcit_get_kvm_file(struct file *file)
{
	struct kvm *kvm;

	if (!file_is_kvm(file))
		return ERR_PTR(-EBADF);
	kvm = file->private_data;
	if (!kvm_get_kvm_safe(kvm))
		return ERR_PTR(-EBADF);
	return kvm;
}

static int kvm_s390_rpcit_read_guest_cached(struct kvm *kvm,
					    struct gfn_to_hva_cache *ghc,
					    u64 gpa, void *data,
					    unsigned long len)
{
	u64 page = gpa & PAGE_MASK;

	if (offset_in_page(gpa) + len > PAGE_SIZE)
		return kvm_read_guest(kvm, gpa, data, len);
	if (!ghc->len || ghc->gpa != page) {
		if (kvm_gfn_to_hva_cache_init(kvm, ghc, page, PAGE_SIZE)) {
			/* an error leaves ghc->gpa stale: never reuse it */
			ghc->len = 0;
			return -EFAULT;
		}
	}
	return kvm_read_guest_offset_cached(kvm, ghc, data,
					    offset_in_page(gpa), len);
}

static unsigned long kvm_s390_rpcit_gpa_to_hva(struct kvm *kvm, u64 gpa,
					       bool *writable)
{
	return gfn_to_hva_prot(kvm, gpa_to_gfn(gpa), writable);
}

/* The VM vfio associated the function with, if any (comparison only) */
static struct kvm *kvm_s390_rpcit_vfio_kvm(struct zpci_dev *zdev)
{
	struct kvm *kvm = NULL;

#ifdef CONFIG_VFIO_PCI_ZDEV_KVM
	mutex_lock(&zdev->kzdev_lock);
	if (zdev->kzdev)
		kvm = zdev->kzdev->kvm;
	mutex_unlock(&zdev->kzdev_lock);
#endif
	return kvm;
}

static bool kvm_s390_rpcit_is_protected(struct kvm *kvm)
{
	return kvm_s390_pv_get_handle(kvm) != 0;
}

static const struct s390_kvm_iommu_kvm_ops kvm_s390_rpcit_kvm_ops = {
	.owner		= THIS_MODULE,
	.get_kvm_file	= kvm_s390_rpcit_get_kvm_file,
	.put_kvm	= kvm_put_kvm,
	.read_guest_cached = kvm_s390_rpcit_read_guest_cached,
	.gpa_to_hva	= kvm_s390_rpcit_gpa_to_hva,
	.vfio_kvm	= kvm_s390_rpcit_vfio_kvm,
	.is_protected	= kvm_s390_rpcit_is_protected,
};

/**
 * kvm_s390_rpcit_flush_memslot() - A memslot is deleted or moved
 * @kvm: the VM
 * @slot: the memslot as it was, already invalid for lookups
 *
 * KVM nested IOMMU domains of @kvm drop the translations into the slot:
 * the device can no longer reach memory that is no longer the guest's.
 *
 * Context: kvm_arch_flush_shadow_memslot(), kvm->slots_lock held. May sleep.
 */
void kvm_s390_rpcit_flush_memslot(struct kvm *kvm,
				  struct kvm_memory_slot *slot)
{
	s390_kvm_iommu_flush_gpa(kvm, gfn_to_gpa(slot->base_gfn),
				 (u64)slot->npages << PAGE_SHIFT);
}

/**
 * kvm_s390_rpcit_init() - Offer the VM services KVM nested domains need
 *
 * Registers with the built-in IOMMU side: VM lookup by file with a
 * reference, its release, guest memory access through the memslots
 * (callers hold kvm->srcu) and the VM vfio associated a function with.
 * Each domain holds a reference on this module, so kvm.ko cannot be
 * unloaded while a domain could still call it.
 *
 * Context: kvm.ko initialization.
 * Return: 0 or -EBUSY.
 */
int kvm_s390_rpcit_init(void)
{
	return s390_kvm_iommu_register_kvm(&kvm_s390_rpcit_kvm_ops);
}

/**
 * kvm_s390_rpcit_exit() - Withdraw the VM services
 *
 * Context: kvm.ko exit; no domain exists (each holds a module reference).
 */
void kvm_s390_rpcit_exit(void)
{
	s390_kvm_iommu_unregister_kvm();
}
