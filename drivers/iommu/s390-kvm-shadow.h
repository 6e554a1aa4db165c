/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shadow I/O translation tables for s390 zPCI functions owned by a KVM guest.
 *
 * API summary (details in the kernel-doc of s390-kvm-shadow.c):
 *
 *   int  s390_shadow_init(struct s390_shadow *sh,
 *                         const struct s390_shadow_ops *ops, void *priv);
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
 * and table memory are reached through struct s390_shadow_ops, so the same
 * file also builds host-native under tools/testing/s390-kvm-shadow/.
 */
#ifndef _S390_KVM_SHADOW_H
#define _S390_KVM_SHADOW_H

#include <linux/types.h>

/**
 * struct s390_shadow_ops - services the shadow engine needs from its user
 * @read: copy @len bytes of guest memory at guest-physical @gpa to @buf.
 *	Returns 0 or -EFAULT if any byte is not backed by guest RAM.  May sleep.
 * @pin: pin the 4 KiB guest page at @gpa (writable unless @write is false)
 *	and charge it; store its host physical address in @hpa.  Returns 0,
 *	-EFAULT (not guest RAM) or -ENOMEM (limit or memory exhausted).
 *	May sleep.
 * @unpin: uncharge and unpin a page returned by @pin; @dirty is true when
 *	the device could write it.  May sleep.
 * @alloc_table: allocate a 16 KiB, 16 KiB aligned region/segment table
 *	(contents undefined).  Returns NULL on failure.  May sleep.
 * @free_table: free a table from @alloc_table.
 * @alloc_pt: allocate a 4 KiB, 4 KiB aligned shadow page table (first
 *	2 KiB: 256 hardware PTEs, second 2 KiB: engine bookkeeping).
 *	Returns NULL on failure.  May sleep.
 * @free_pt: free a table from @alloc_pt.
 * @virt_to_phys: physical (device visible) address of a table.
 * @phys_to_virt: inverse of @virt_to_phys.
 * @realloc: kvrealloc()-like: resize @p (NULL: allocate) to @size bytes,
 *	keeping the contents; NULL on failure with @p untouched.  May sleep.
 * @free: free memory from @realloc (NULL is allowed).
 */
struct s390_shadow_ops {
	int (*read)(void *priv, u64 gpa, void *buf, size_t len);
	int (*pin)(void *priv, u64 gpa, bool write, u64 *hpa);
	void (*unpin)(void *priv, u64 hpa, bool dirty);
	u64 *(*alloc_table)(void *priv);
	void (*free_table)(void *priv, u64 *table);
	u64 *(*alloc_pt)(void *priv);
	void (*free_pt)(void *priv, u64 *pt);
	u64 (*virt_to_phys)(void *priv, void *virt);
	void *(*phys_to_virt)(void *priv, u64 phys);
	void *(*realloc)(void *priv, void *p, size_t size);
	void (*free)(void *priv, void *p);
};

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
 * @reads: calls of ops->read
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
 * @ops: services, see struct s390_shadow_ops
 * @priv: first argument of every @ops call
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
 * @nr_pinned: guest pages pinned now (mapped and pending release)
 * @nr_tables: shadow region/segment tables allocated, root included
 *	(linked or pending release; scratch buffers not counted)
 * @nr_pts: shadow page tables allocated (linked or pending release)
 * @max_visit: work bound of one s390_shadow_refresh() call in guest table
 *	entries examined (0: unlimited); set by the user after
 *	s390_shadow_init(), which clears it
 */
struct s390_shadow {
	const struct s390_shadow_ops *ops;
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
	unsigned long nr_pinned;
	unsigned long nr_tables;
	unsigned long nr_pts;
	unsigned long max_visit;
};

int s390_shadow_init(struct s390_shadow *sh, const struct s390_shadow_ops *ops,
		     void *priv);
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
