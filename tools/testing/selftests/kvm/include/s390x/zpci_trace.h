/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reader for zPCI RPCIT traces (format: the '#' header of the trace files,
 * records "ioat", "rpcit", "pte" and "inv") and a guest
 * I/O translation table builder that reproduces the traced PTEs bit for bit
 * at the traced table origin, shared by zpci_rpcit_replay and
 * zpci_rpcit_bench.
 */
#ifndef SELFTEST_KVM_S390_ZPCI_TRACE_H
#define SELFTEST_KVM_S390_ZPCI_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "zpci_lib.h"

enum ztr_type { ZTR_IOAT, ZTR_RPCIT };
enum ztr_ioat_op { ZTR_REG, ZTR_REREG, ZTR_DEREG };

struct ztr_pte {
	uint64_t iova;
	uint64_t entry;
};

struct ztr_inv {
	uint64_t iova;
	uint64_t len;
	int level;		/* 1 = rt (region third), 0 = st (segment) */
};

struct ztr_rec {
	int type;		/* enum ztr_type */
	int line;		/* line number in the trace file */
	uint32_t fh;
	int cc, status;
	/* ioat */
	int op;			/* enum ztr_ioat_op */
	uint64_t iota, pba, pal;
	/* rpcit */
	long seq;
	uint64_t iova, len;
	bool global;
	uint32_t pte0, npte;	/* index into trace->ptes */
	uint32_t inv0, ninv;	/* index into trace->invs */
};

#define ZTR_MAX_FH	16

struct ztrace {
	const char *path;
	uint64_t guest_ram;	/* "# guest RAM: ... = 0x.. bytes", else derived */
	struct ztr_rec *recs;
	uint32_t nrecs;
	struct ztr_pte *ptes;
	uint32_t nptes;
	struct ztr_inv *invs;
	uint32_t ninvs;
	uint32_t fhs[ZTR_MAX_FH];	/* distinct fhs, order of first use */
	int nfh;
	long nrpcit, nglobal;
	uint64_t max_gpa;	/* highest byte any PTE frame or table origin needs */
	uint64_t reloc;		/* added to every traced guest-physical address */
};

/*
 * Parse a trace ("-" or a path; a path ending in .xz is refused: decompress
 * it first). Returns 0, or -1 after printing "trace PATH:LINE: ..." naming the
 * line that could not be parsed.
 */
int ztrace_load(struct ztrace *t, const char *path);
void ztrace_free(struct ztrace *t);
int ztrace_fh_index(const struct ztrace *t, uint32_t fh);
/*
 * Move the traced guest RAM to guest-physical base (1 MiB aligned): every
 * traced guest-physical address (IOTA origins, PTE frames) gets base added,
 * so the guest tables built from the trace (which point at each other by
 * guest-physical address) stay consistent. A frame that would wrap around
 * stays where it is (it is outside guest RAM either way).
 */
void ztrace_relocate(struct ztrace *t, uint64_t base);
/* one-line description of a record, for messages */
const char *ztrace_desc(const struct ztrace *t, const struct ztr_rec *r);

/*
 * Guest tables that reproduce a trace: the top-level table sits at the traced
 * IOTA origin, lower tables are allocated from guest pages no traced PTE frame
 * or table origin uses, so the guest data the PTEs point at is never a table.
 */
struct zgt_alloc {
	struct zvm *vm;
	uint64_t ram_base;	/* guest RAM: [ram_base, ram_end), one memslot */
	uint64_t ram_end;
	uint8_t *used;		/* one byte per 4 KiB page of guest RAM: 1 = taken */
	uint64_t npages;
	uint64_t next;		/* next candidate page, counting down */
	uint64_t chunk;		/* current 4 KiB page carved into 2 KiB page tables */
	int chunk_left;
};

/* guest RAM is the VM's data slot (zvm_add_data_slot) if it has one, else slot 0 */
int zgt_alloc_init(struct zgt_alloc *a, struct zvm *vm, const struct ztrace *t);
void zgt_alloc_free(struct zgt_alloc *a);
/* [gpa, gpa + len) lies in guest RAM */
bool zgt_in_ram(const struct zgt_alloc *a, uint64_t gpa, uint64_t len);

#define ZGT_MAX_PT	65536

/*
 * The traced tables, written through the zt_*() builder of zpci_lib: t has
 * the traced origin and designation type, its lower tables come from a
 * (pts[] lists the page tables among them)
 */
struct zgt {
	struct zgt_alloc *a;
	uint64_t iota;		/* as traced (origin | enable | DT) */
	struct ztables t;
	uint64_t pts[ZGT_MAX_PT];	/* guest-physical origins of the page tables made */
	uint32_t npts;
};

/* (Re)base the tables on a traced IOTA; keeps nothing of an earlier one */
int zgt_set_iota(struct zgt *g, struct zgt_alloc *a, uint64_t iota, char *err,
		 size_t errlen);
/* write one raw PTE, making the upper levels valid as needed */
int zgt_write_pte(struct zgt *g, uint64_t iova, uint64_t entry, char *err,
		  size_t errlen);
/* make the rt (level 1) or st (level 0) entries covering [iova, iova+len) invalid */
int zgt_invalidate_upper(struct zgt *g, uint64_t iova, uint64_t len, int level,
			 char *err, size_t errlen);
/* set every PTE of every page table made so far invalid (0x400), frames kept */
void zgt_invalidate_all(struct zgt *g);
/*
 * The guest PTE for iova as a translation walk sees it: returns true and the
 * raw entry when valid through every level, false when some level is invalid
 */
bool zgt_lookup(struct zgt *g, uint64_t iova, uint64_t *pte);
/* apply an rpcit record's snapshot (ptes, invs, global invalidation) */
int zgt_apply(struct zgt *g, const struct ztrace *t, const struct ztr_rec *r,
	      char *err, size_t errlen);

/* host physical address backing a host virtual address (root: pagemap), 0 if none */
uint64_t zhpa_of(const void *hva);

/*
 * Sum of the host RPCIT counters ("Global RPCITs", "Sync Map RPCITs",
 * "Sync RPCITs") in /sys/kernel/debug/pci/<bdf>/statistics of the vfio
 * device at cdev path; -1 if unavailable
 */
long zhost_rpcits(const char *vfio_cdev);

/* raise RLIMIT_MEMLOCK to infinity (root) */
void zraise_memlock(void);

/* ------------------------------------------- a VMM that replays a trace */

struct zrep_fn {
	uint32_t fh;		/* the guest fh of the trace */
	char cdev[64];		/* /dev/vfio/devices/vfioN */
	struct zdev d;
	uint32_t hwpt;		/* the s390 KVM nested hwpt of the current IOAT */
	bool have_hwpt;
	bool kvm_attached;
	bool user_attached;	/* attached to paging_ioas (auto domain, userspace path) */
	uint32_t paging_ioas;
	bool have_paging_ioas;
	struct zgt g;
	bool has_ioat;
	uint64_t pba, pal;	/* guest aperture of the current IOAT */
	char dbg[96];		/* debugfs view of the shadow */
	/* userspace path: what is mapped, per page of [pba, pal]: entry | 1 */
	uint64_t *iotlb;
	uint64_t iotlb_pages;
	uint64_t iotlb_base;
	long user_maps, user_unmaps;
};

struct zrep {
	struct ztrace *t;
	struct zvm vm;
	struct zgt_alloc a;
	struct zrep_fn fn[ZTR_MAX_FH];
	int nfn;
	long kb0, foll0;	/* pins before the VMM existed */
	bool user_mode;		/* RPCITs go to userspace (paging hwpt) */
	uint32_t hwpt_flags;	/* struct iommu_hwpt_s390_kvm flags */
	/* pinned-parent mode: guest RAM mapped into every parent IOAS */
	uint64_t parent_pages;	/* 4 KiB pages mapped per function */
	long parent_runs;	/* IOMMU_IOAS_MAP calls per function */
	bool parent_all;	/* all of guest RAM, not just the traced frames */
	long kb_parent, foll_parent;	/* pins once the parents are mapped */
};

/* the outcome of one RPCIT as the guest sees it */
struct zrep_res {
	int cc;			/* 0..3; 3 also when no one handles the fh */
	int status;
	bool exited;		/* the intercept exited to userspace */
	/*
	 * in-kernel path: the exit was a hand-over the VMM completed through
	 * IOMMU_HWPT_INVALIDATE (cc/status are the entry's)
	 */
	bool vmm;
	int retries;		/* cc-2 answers retried (the same RPCIT again) */
	int err;		/* ioctl failure (-errno), 0 if none */
	/* phases, ns: queue the intercept, KVM_RUN, userspace handler, resume */
	uint64_t t_queue, t_run, t_handler, t_resume;
};

/*
 * Build the VMM for a trace: a VM whose memslot covers the guest RAM, one
 * vfio function per traced fh with its nest parent; each ioat record then
 * allocates and attaches the function's s390 KVM nested hwpt. Prints a
 * message and returns nonzero (4 = skip: no /dev/kvm, vfio or iommufd).
 */
int zrep_init(struct zrep *rep, struct ztrace *t);

/*
 * ZREP_PINNED_PARENT: nested hwpts with IOMMU_HWPT_S390_KVM_PINNED_PARENT.
 * iommufd only maps IOVAs inside the host function's DMA aperture into the
 * parent IOAS, so the traced guest RAM is relocated to GPA start_dma (rounded
 * up to 1 MiB, a memslot of its own; ztrace_relocate()) and mapped into every
 * function's parent at IOVA = GPA: all of it when the emulated host has the
 * memory to pin it, else the pages the trace uses as DMA frames.
 */
#define ZREP_PINNED_PARENT	0x1u
/* with ZREP_PINNED_PARENT: map only the traced DMA frames, however much memory */
#define ZREP_PARENT_FRAMES	0x2u
int zrep_init_flags(struct zrep *rep, struct ztrace *t, unsigned int flags);
void zrep_fini(struct zrep *rep);
struct zrep_fn *zrep_fn_of(struct zrep *rep, uint32_t fh);
/* apply an ioat record (to the guest tables and, in kernel mode, the domain) */
int zrep_ioat(struct zrep *rep, const struct ztr_rec *r, char *err, size_t errlen);
/* write an rpcit record's PTE snapshot into the guest tables */
int zrep_guest_writes(struct zrep *rep, const struct ztr_rec *r, char *err,
		      size_t errlen);
/*
 * Execute the RPCIT as the guest would (RPCIT 1,2 in supervisor state, cc 3
 * and r1 status 0xff preset). In user mode an exit to userspace is served as
 * QEMU does: walk, map/unmap per changed page, set cc/status, resume. In
 * kernel mode an exit for a function with an attached nested hwpt is an RPCIT
 * KVM handed over: completed with IOMMU_HWPT_INVALIDATE of the same range,
 * cc/status from the entry, resume (res->vmm). A cc 2 answer is retried up
 * to ZVM_RPCIT_MAX_RETRIES times (res->retries); the phase times add up.
 */
void zrep_rpcit(struct zrep *rep, const struct ztr_rec *r, struct zrep_res *res);
/*
 * Switch every function to the in-kernel path (a fresh nested hwpt with the
 * current IOAT, attached) or to the userspace path (nested hwpt destroyed,
 * the device on an IOAS of its own: an automatic paging domain)
 */
int zrep_set_mode(struct zrep *rep, bool user);
/*
 * Start a pass over the trace again: guest PTEs invalid, userspace IOTLB
 * empty, in-kernel path: a fresh nested hwpt (empty shadow, no pins)
 */
int zrep_restart(struct zrep *rep);
/* pinned pages the attached KVM domains report (debugfs), -1 if unavailable */
long zrep_kvm_pinned(struct zrep *rep);
/* read the shadow view of [start, last] for one function into iova/hpa/ro arrays */
long zrep_shadow(struct zrep_fn *f, uint64_t start, uint64_t last,
		 uint64_t **iova, uint64_t **hpa, uint8_t **ro, long *pinned);
long zrep_host_rpcits(struct zrep *rep);

/*
 * Batches of RPCITs served by one KVM_RUN (KVM_S390_TEST_INTERCEPT_BATCH):
 * the in-kernel handler is timed without a syscall per RPCIT, while an
 * RPCIT the kernel leaves to userspace still exits, is handled there (the
 * userspace path, or the VMM completing a hand-over) and re-enters, as a
 * VMM does. A trace record joins a batch only if running it after the
 * guest writes of the later members cannot change its outcome: no member
 * of the same function covers an IOVA the record writes (its range and its
 * upper-level invalidations), and a global refresh is batched with nothing.
 */
#define ZREP_BATCH_MAX	512

struct zrep_batch {
	uint32_t n;
	const struct ztr_rec *rec[ZREP_BATCH_MAX];
	struct kvm_s390_test_intercept_entry e[ZREP_BATCH_MAX];
	struct zrep_res res[ZREP_BATCH_MAX];
	/*
	 * per RPCIT, ns: the kernel's time for an entry handled in the kernel
	 * (load to end of handling, retries included); for one that exited,
	 * from the KVM_RUN that reached it to the end of its userspace handler
	 */
	uint64_t ns[ZREP_BATCH_MAX];
	uint64_t total_ns;	/* first KVM_RUN to the return of the last */
	long run_calls;		/* KVM_RUN calls */
};

bool zrep_batch_fits(const struct zrep_batch *b, const struct ztrace *t,
		     const struct ztr_rec *r);
void zrep_batch_add(struct zrep_batch *b, const struct ztr_rec *r);
/* 0, or -errno when the batch could not be run (results then incomplete) */
int zrep_batch_run(struct zrep *rep, struct zrep_batch *b);
/* npages fresh guest frames (naturally aligned, contiguous), 0 if none left */
uint64_t zgt_alloc_frames(struct zgt_alloc *a, uint64_t npages);

#endif
