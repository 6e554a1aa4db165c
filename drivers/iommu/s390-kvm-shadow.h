/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shadow I/O translation tables for s390 zPCI functions owned by a KVM guest.
 *
 * API summary (details in the kernel-doc of s390-kvm-shadow.c):
 *
 *   int  s390_shadow_init(struct s390_shadow *sh, void *priv);
 *          Allocate the shadow root (a hardware region-third table, all
 *          entries invalid) and scratch buffers.  No guest IOTA yet.
 *          Register s390_shadow_root_phys(sh) | ZPCI_IOTA_RTTO_FLAG as IOAT.
 *   void s390_shadow_destroy(struct s390_shadow *sh);
 *          Unpin everything, free every table (device must not use it).
 *   int  s390_shadow_set_iota(struct s390_shadow *sh, u64 iota,
 *                             struct s390_shadow_result *res);
 *          Drop all shadow mappings (deferred), use a new guest IOTA
 *          (origin | dt << 2, dt = STO/RTTO/RSTO/RFTO); iota 0 = clear.
 *   int  s390_shadow_refresh(struct s390_shadow *sh, u64 iova, u64 len,
 *                            struct s390_shadow_result *res);
 *          Re-read the guest tables for [iova, iova + len) and update the
 *          shadow.  Returns 0, -EINVAL/-EFAULT (guest table error, zero
 *          entry, 1 MiB segment frame: RPCIT cc 1 status 8; stops the walk),
 *          -ENOMEM (pin limit/allocation: cc 1 status 16; the walk goes on
 *          removing invalidated entries, maps nothing more, res.nomem),
 *          -EBUSY (a pin said -EBUSY/-EAGAIN: resume at res.next) or
 *          -EAGAIN (sh->max_visit guest entries examined: resume at
 *          res.next; res.nomem says whether an -ENOMEM came before).
 *   unsigned long s390_shadow_release(struct s390_shadow *sh);
 *          After the host RPCIT covering res->start..res->end: perform the
 *          deferred unpins and table frees.  Returns pages unpinned.
 *   int  s390_shadow_unmap_gpa(struct s390_shadow *sh, u64 first,
 *                              u64 last, struct s390_shadow_result *res);
 *          Remove every translation built from a guest frame in
 *          [first, last] (memory leaving the guest).  -EAGAIN: release
 *          list full (not a work bound): host RPCIT, release, call again.
 *   bool s390_shadow_lookup(struct s390_shadow *sh, u64 iova,
 *                           u64 *hpa, bool *prot);
 *          Test helper: current shadow translation of one IOVA.
 *   int  s390_shadow_for_each(struct s390_shadow *sh, u64 start, u64 last,
 *                             fn, arg);
 *          Test helper: visit every valid shadow PTE in [start, last].
 *
 * Protocol for the caller (one mutex serializes all calls on one shadow):
 *   sh->max_visit = bound;            (once, after s390_shadow_init())
 *   mutex_lock(); rc = s390_shadow_refresh(sh, iova, len, &res);
 *   if (res.changed && (res.removed || refresh_required))
 *           host RPCIT over [res.start, res.end] clamped to the aperture;
 *   s390_shadow_release(sh); mutex_unlock();
 *   -EAGAIN: remember res.nomem, call again for [res.next, last];
 *   map rc: 0 -> cc 0, -EINVAL/-EFAULT -> cc 1 status 8, -ENOMEM (or 0
 *   after an earlier -EAGAIN with res.nomem) -> cc 1 status 16,
 *   -EBUSY/-EAGAIN -> cc 2 (retry resumes at res.next).  res is valid
 *   whatever rc is; [res.start, res.end] may extend past the requested
 *   range to the whole segment/region of a shadow table that was unlinked.
 *
 * The engine contains no KVM or zPCI types: guest memory access, pinning
 * and table memory are functions with fixed names that its user defines
 * (s390_shadow_read_guest() etc. below), so the same file also builds
 * host-native under tools/testing/s390-kvm-shadow/ against a fake guest.
 */
#ifndef _S390_KVM_SHADOW_H
#define _S390_KVM_SHADOW_H

#include <linux/types.h>

/*
 * Services the engine's user provides.
 *
 * The engine calls these functions by name (link-level binding, no
 * function pointers); exactly one user defines them: the KVM zPCI IOMMU
 * driver (s390-kvm-iommu.c) in the kernel, the fake guest of
 * tools/testing/s390-kvm-shadow/ in the host-native tests.  @priv is the
 * pointer given to s390_shadow_init().  The engine calls them with the
 * caller's shadow mutex held.  Address translation of shadow tables uses
 * virt_to_phys()/phys_to_virt(), the deferred release list kvrealloc()
 * and kvfree().
 */

/**
 * s390_shadow_read_guest() - copy guest memory
 * @priv: the user's context (s390_shadow_init())
 * @gpa: guest-physical address of the first byte
 * @buf: destination
 * @len: number of bytes
 *
 * Copies @len bytes of guest memory at @gpa to @buf (guest I/O translation
 * table slices, at most 16 KiB).
 *
 * Context: Process context.  May sleep.
 * Return: 0, or -EFAULT if any byte is not backed by guest RAM.
 */
int s390_shadow_read_guest(void *priv, u64 gpa, void *buf, size_t len);

/**
 * s390_shadow_pin_frame() - pin one guest page for device access
 * @priv: the user's context (s390_shadow_init())
 * @gpa: guest-physical address of the 4 KiB page (page aligned)
 * @write: the device may write the page (else read-only access)
 * @hpa: output, host physical address of the pinned page
 *
 * Pins the page backing @gpa (writable if @write) and charges it; the pin
 * is dropped by one s390_shadow_unpin_frame() call.
 *
 * Context: Process context.  May sleep.
 * Return: 0; -EFAULT if @gpa is not guest RAM; -ENOMEM if the pin limit or
 * memory is exhausted; -EBUSY or -EAGAIN for a transient failure (the
 * engine stops the walk so that the caller retries).
 */
int s390_shadow_pin_frame(void *priv, u64 gpa, bool write, u64 *hpa);

/**
 * s390_shadow_unpin_frame() - drop a pin taken by s390_shadow_pin_frame()
 * @priv: the user's context (s390_shadow_init())
 * @hpa: host physical address returned by s390_shadow_pin_frame()
 * @dirty: the pin was writable, so the device may have written the page
 *
 * Uncharges and unpins the page.
 *
 * Context: Process context.  May sleep.
 */
void s390_shadow_unpin_frame(void *priv, u64 hpa, bool dirty);

/**
 * s390_shadow_alloc_table() - allocate a shadow region/segment table
 * @priv: the user's context (s390_shadow_init())
 *
 * Allocates 16 KiB, 16 KiB aligned, reachable by the device at its
 * virt_to_phys() address (the engine initializes the contents).
 *
 * Context: Process context.  May sleep.
 * Return: the table, or NULL on failure.
 */
u64 *s390_shadow_alloc_table(void *priv);

/**
 * s390_shadow_free_table() - free a table from s390_shadow_alloc_table()
 * @priv: the user's context (s390_shadow_init())
 * @table: the table (the device no longer reaches it)
 *
 * Context: Process context.  May sleep.
 */
void s390_shadow_free_table(void *priv, u64 *table);

/**
 * s390_shadow_alloc_pt() - allocate a shadow page table
 * @priv: the user's context (s390_shadow_init())
 *
 * Allocates 4 KiB, 4 KiB aligned, reachable by the device at its
 * virt_to_phys() address: the first 2 KiB hold the 256 hardware PTEs, the
 * second 2 KiB the engine's bookkeeping (the engine initializes both).
 *
 * Context: Process context.  May sleep.
 * Return: the page table, or NULL on failure.
 */
u64 *s390_shadow_alloc_pt(void *priv);

/**
 * s390_shadow_free_pt() - free a page table from s390_shadow_alloc_pt()
 * @priv: the user's context (s390_shadow_init())
 * @pt: the page table (the device no longer reaches it)
 *
 * Context: Process context.  May sleep.
 */
void s390_shadow_free_pt(void *priv, u64 *pt);

/**
 * struct s390_shadow_result - what one refresh/set_iota call changed
 * @changed: at least one shadow entry was written; @start/@end are valid
 * @removed: a previously valid shadow entry was cleared or replaced, so
 *	the host RPCIT is needed even if the function does not require
 *	refresh for newly valid entries
 * @start: first IOVA (bytes, inclusive) covered by a changed entry
 * @end: last IOVA (bytes, inclusive) covered by a changed entry
 * @pinned: guest pages pinned by this call
 * @unpinned: guest pages whose unpin this call queued for release
 * @visited: guest table entries examined (all levels)
 * @reads: calls of s390_shadow_read_guest()
 * @next: s390_shadow_refresh(): first IOVA not processed yet (page
 *	aligned); the resume point after -EAGAIN or -EBUSY
 * @nomem: s390_shadow_refresh() met -ENOMEM (pin or allocation) in this
 *	call and made no new translation after it; set whenever it returns
 *	-ENOMEM, and possibly with -EAGAIN, -EINVAL or -EFAULT
 */
struct s390_shadow_result {
	bool changed;
	bool removed;
	u64 start;
	u64 end;
	u64 pinned;
	u64 unpinned;
	u64 visited;
	u64 reads;
	u64 next;
	bool nomem;
};

/**
 * struct s390_shadow - shadow of one guest I/O translation table
 * @priv: first argument of every call of the user's services
 * @root: shadow region-third table (hardware format, 2048 entries)
 * @iota: guest IOTA as set by s390_shadow_set_iota() (0: none)
 * @has_iota: @iota designates a guest table
 * @reach: IOVAs below this are translatable with @iota (bytes)
 * @buf_rt: scratch buffer for guest region-third table slices
 * @buf_st: scratch buffer for guest segment table slices
 * @buf_pt: scratch buffer for guest page table slices
 * @gather: deferred releases (encoded address | type)
 * @nr_gather: used entries in @gather
 * @max_gather: capacity of @gather
 * @nr_ste: per root entry: valid entries of the shadow segment table it
 *	links (0 when the root entry is invalid); 2048 counts
 * @nr_pinned: guest pages pinned now (mapped and pending release)
 * @nr_tables: shadow region/segment tables allocated, root included
 *	(linked or pending release; scratch buffers not counted)
 * @nr_pts: shadow page tables allocated (linked or pending release)
 * @max_visit: work bound of one s390_shadow_refresh() call in guest table
 *	entries examined (0: unlimited); set by the user after
 *	s390_shadow_init(), which clears it
 */
struct s390_shadow {
	void *priv;
	u64 *root;
	u64 iota;
	bool has_iota;
	u64 reach;
	void *buf_rt;
	void *buf_st;
	void *buf_pt;
	u64 *gather;
	unsigned long nr_gather;
	unsigned long max_gather;
	u16 *nr_ste;
	unsigned long nr_pinned;
	unsigned long nr_tables;
	unsigned long nr_pts;
	unsigned long max_visit;
};

int s390_shadow_init(struct s390_shadow *sh, void *priv);
void s390_shadow_destroy(struct s390_shadow *sh);
int s390_shadow_set_iota(struct s390_shadow *sh, u64 iota,
			 struct s390_shadow_result *res);
int s390_shadow_refresh(struct s390_shadow *sh, u64 iova, u64 len,
			struct s390_shadow_result *res);
unsigned long s390_shadow_release(struct s390_shadow *sh);
bool s390_shadow_lookup(struct s390_shadow *sh, u64 iova, u64 *hpa,
			bool *prot);
u64 s390_shadow_root_phys(struct s390_shadow *sh);
int s390_shadow_for_each(struct s390_shadow *sh, u64 start, u64 last,
			 int (*fn)(void *arg, u64 iova, u64 hpa, bool prot),
			 void *arg);
int s390_shadow_unmap_gpa(struct s390_shadow *sh, u64 first, u64 last,
			  struct s390_shadow_result *res);

#endif /* _S390_KVM_SHADOW_H */
