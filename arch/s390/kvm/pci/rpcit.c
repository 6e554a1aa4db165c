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
#include <asm/pci_kvm_iommu.h>

#include "kvm-s390.h"
#include "rpcit.h"

/**
 * kvm_s390_handle_rpcit() - Handle an RPCIT intercept
 * @vcpu: the vCPU that executed RPCIT
 *
 * If the function handle in r1 belongs to a function whose KVM-bound IOMMU
 * domain serves this VM, performs the refresh in the kernel and answers the
 * guest as the architecture defines: a privileged-operation exception in
 * problem state, a specification exception for an odd r2, otherwise a
 * condition code, with the status in r1 bits 32-39 on cc 1.
 *
 * Context: vCPU thread, kvm->srcu read lock held. May sleep.
 * Return: 0 when the instruction was handled (or a program interrupt was
 * injected), -EOPNOTSUPP to leave it to userspace (no domain serves the
 * fh, or the domain is not attached), or the error of the injection.
 */
int kvm_s390_handle_rpcit(struct kvm_vcpu *vcpu)
{
	struct s390_kvm_iommu_domain *kdom;
	u64 *gprs = vcpu->run->s.regs.gprs;
	u8 status = 0;
	int r1, r2, cc;

	kvm_s390_get_regs_rre(vcpu, &r1, &r2);
	kdom = s390_kvm_iommu_get(vcpu->kvm, gprs[r1] >> 32);
	if (!kdom)
		return -EOPNOTSUPP;

	if (vcpu->arch.sie_block->gpsw.mask & PSW_MASK_PSTATE) {
		cc = kvm_s390_inject_program_int(vcpu, PGM_PRIVILEGED_OP);
		goto out;
	}
	if (r2 & 1) {
		cc = kvm_s390_inject_program_int(vcpu, PGM_SPECIFICATION);
		goto out;
	}

	cc = s390_kvm_iommu_rpcit(kdom, gprs[r2], gprs[r2 + 1], &status);
	if (cc < 0) {
		/* not attached: userspace decides, as for any other fh */
		cc = -EOPNOTSUPP;
		goto out;
	}
	vcpu->stat.instruction_rpcit++;
	if (cc) {
		gprs[r1] &= ~0xff000000UL;
		gprs[r1] |= (u64)status << 24;
	}
	kvm_s390_set_psw_cc(vcpu, cc);
	cc = 0;
out:
	s390_kvm_iommu_put(kdom);
	return cc;
}

static struct kvm *kvm_s390_rpcit_kvm_get_file(struct file *file)
{
	struct kvm *kvm;

	if (!file_is_kvm(file))
		return ERR_PTR(-EBADF);
	kvm = file->private_data;
	if (!kvm_get_kvm_safe(kvm))
		return ERR_PTR(-EBADF);
	return kvm;
}

static int kvm_s390_rpcit_read_guest(struct kvm *kvm, gpa_t gpa, void *data,
				     unsigned long len)
{
	return kvm_read_guest(kvm, gpa, data, len);
}

static unsigned long kvm_s390_rpcit_gpa_to_hva(struct kvm *kvm, gpa_t gpa,
					       bool *writable)
{
	return gfn_to_hva_prot(kvm, gpa_to_gfn(gpa), writable);
}

/**
 * kvm_s390_rpcit_init() - Offer the VM services KVM-bound domains need
 *
 * Fills the KVM part of zpci_kvm_hook: VM lookup by file with a reference,
 * its release, and guest memory access through the memslots (callers hold
 * kvm->srcu). The IOMMU side is built in and must not depend on kvm.ko.
 *
 * Context: kvm.ko initialization.
 */
void kvm_s390_rpcit_init(void)
{
	zpci_kvm_hook.read_guest = kvm_s390_rpcit_read_guest;
	zpci_kvm_hook.gpa_to_hva = kvm_s390_rpcit_gpa_to_hva;
	zpci_kvm_hook.kvm_put = kvm_put_kvm;
	/* last: its presence tells the IOMMU side the others are set */
	smp_store_release(&zpci_kvm_hook.kvm_get_file,
			  kvm_s390_rpcit_kvm_get_file);
}

/**
 * kvm_s390_rpcit_exit() - Withdraw the VM services
 *
 * No VM exists any more when kvm.ko unloads (each VM pins the module), so
 * no domain still uses the other callbacks.
 *
 * Context: kvm.ko exit.
 */
void kvm_s390_rpcit_exit(void)
{
	WRITE_ONCE(zpci_kvm_hook.kvm_get_file, NULL);
}
