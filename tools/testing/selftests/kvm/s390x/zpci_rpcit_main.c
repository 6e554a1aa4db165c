// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_main - end-to-end check of in-kernel RPCIT handling, in the
 * three ways a VMM can give a guest's zPCI function DMA (one boot).
 *
 * A KVM VM (test-only mode without SIE) owns the guest memory; the zPCI
 * virtio-blk function vfio0 is driven through VFIO (modern virtio-pci,
 * ACCESS_PLATFORM) with rings, headers, buffers and status bytes all in
 * guest memory behind guest IOVAs: sectors are read into guest pages and
 * compared with the disk pattern, one page is written and read back, and the
 * whole disk is streamed through short-lived buffers.
 *
 * on-demand      the guest's I/O translation tables in guest memory, an s390
 *                KVM nested hwpt (flags 0) on the nest parent; every table
 *                change is followed by an RPCIT intercept that KVM handles in
 *                the kernel, pinning each guest frame it maps. Runs last: its
 *                final step unmaps a data page in the guest table and makes
 *                the device fault on it (the function stays in the error
 *                state).
 * pinned-parent  the same guest tables and RPCITs, nested hwpt with
 *                IOMMU_HWPT_S390_KVM_PINNED_PARENT; the guest's DMA pages sit
 *                in a data memslot inside the host aperture that the parent's
 *                IOAS maps at IOVA = GPA, so refreshes pin nothing.
 * direct-map     no guest tables, no RPCIT: the device is attached to the
 *                parent itself and uses IOVA = GPA in that data memslot.
 *
 * Every configuration writes the same 4096 bytes at disk offset 0x100000
 * (what the harness' write-back check expects). Last lines:
 *   main job [on-demand]: R rpcit handled in kernel, P pages pinned,
 *                         B bytes verified by DMA, U exits to userspace
 *   main job [pinned-parent]: (the same)
 *   main job [direct-map]: 0 rpcit, G guest pages pinned, B bytes verified by DMA
 * or "main job [<config>]: FAILED (<first failure>) ..." for a configuration
 * that did not pass.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "zpci_lib.h"
#include "zpci_virtio.h"

#define MEM_SIZE	(64 * ZPCI_MIB)
#define DATA_SLOT_SIZE	(16 * ZPCI_MIB)	/* pinned-parent / direct-map guest DMA pages */
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define REQ_TIMEOUT_MS	10000
#define DENY_TIMEOUT_MS	3000
#define DISK_SIZE	ZV_DISK_SIZE
#define WRITE_OFF	0x100000ULL
#define SECTOR		ZV_SECTOR
#define MIN_VERIFIED	(64 * 1024ULL)

#define A_PAGES		32	/* data region A: crosses a page-table (1 MiB) boundary */
#define B_PAGES		16	/* data region B: crosses a region-third entry (2 GiB) */

/* streaming phase: the whole disk through short-lived, lazily unmapped buffers */
#define S_SLOTS		8
#define S_PAGES		32	/* one 128 KiB request per slot */
#define S_IOVA_OFF	(16 * ZPCI_MIB)

enum config { ON_DEMAND, PINNED_PARENT, DIRECT_MAP, NCONFIGS };

static const char *const config_name[NCONFIGS] = {
	[ON_DEMAND] = "on-demand",
	[PINNED_PARENT] = "pinned-parent",
	[DIRECT_MAP] = "direct-map",
};

/* run order: the on-demand configuration's last step makes the device fault */
static const enum config run_order[NCONFIGS] = { DIRECT_MAP, PINNED_PARENT, ON_DEMAND };

struct result {
	bool ran;
	bool good;
	long R;			/* RPCITs handled in the kernel */
	long P;			/* pages pinned by refreshes (peak) */
	long U;			/* RPCITs that exited to userspace */
	long G;			/* pages pinned by the parent's IOAS map */
	long rpcit_fail;
	uint64_t B;		/* bytes read/written by the device and checked */
	int failures;
	char why[160];		/* first failure */
};

static struct result results[NCONFIGS];
static struct result *cur;
static enum config cfg;
static int global_failures;

/* per configuration state */
static struct zvm vm;
static struct ztables tbl;
static struct zdev dev;
static struct zv_blk vb;
static uint32_t hwpt_id;
static bool attached, have_hwpt;
static uint64_t pba, pal;
static long pin_pre_kb, foll_pre;	/* before the configuration */
static long pin_base_kb, foll_base;	/* after the parent's IOAS map */
static long pin_peak_kb, foll_peak;
static long mapped_pages;
static uint64_t dm_next;		/* direct-map: GPA-contiguous allocator */

/* guest layout: IOVAs and GPAs */
struct region {
	uint64_t iova;
	int n;
	uint64_t gpa[A_PAGES];
};

static struct zv_page rings[ZV_RING_PAGES];
static uint64_t ring_gpa[ZV_RING_PAGES];
static struct region reg_a, reg_b, reg_w;
static bool have_b;
static bool disk_written;	/* by an earlier configuration too */
static uint64_t gpa_s[S_SLOTS * S_PAGES];

static void ok(const char *fmt, ...)
{
	va_list ap;

	printf("[ OK ] ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (cur) {
		if (!cur->failures++) {
			va_start(ap, fmt);
			vsnprintf(cur->why, sizeof(cur->why), fmt, ap);
			va_end(ap);
		}
	} else {
		global_failures++;
	}
	printf("[FAIL] ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void info(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static bool translated(void)
{
	return cfg != DIRECT_MAP;
}

/* pins a refresh takes per mapped guest page */
static long pins_per_page(void)
{
	return cfg == ON_DEMAND ? 1 : 0;
}

static void note_pins(void)
{
	long kb = zpin_vmpin_kb(), foll = zpin_foll_pinned();

	if (kb > pin_peak_kb)
		pin_peak_kb = kb;
	if (foll > foll_peak)
		foll_peak = foll;
}

/* ------------------------------------------------------------ memory */

/* one zeroed data page: scattered (translated) or GPA-contiguous (direct-map) */
static uint64_t data_pages(int n)
{
	uint64_t gpa;

	if (translated())
		return n == 1 ? zvm_alloc_scattered_page(&vm) : 0;
	if (dm_next + n * ZPCI_PAGE_SIZE > vm.hi_gpa + vm.hi_size)
		return 0;
	gpa = dm_next;
	dm_next += n * ZPCI_PAGE_SIZE;
	memset(zvm_ptr(&vm, gpa), 0, n * ZPCI_PAGE_SIZE);
	return gpa;
}

static bool map_range(uint64_t iova, const uint64_t *gpas, int n, bool ro)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = zt_map(&tbl, iova + i * ZPCI_PAGE_SIZE, gpas[i], ro);
		if (ret) {
			fail("guest table map 0x%llx: %s",
			     (unsigned long long)(iova + i * ZPCI_PAGE_SIZE), strerror(-ret));
			return false;
		}
		mapped_pages++;
	}
	return true;
}

/*
 * n pages behind IOVA iova (translated: scattered guest pages mapped in the
 * guest table; direct-map: n contiguous pages, IOVA = GPA, iova ignored)
 */
static bool region_alloc(struct region *r, uint64_t iova, int n, bool ro)
{
	int i;

	r->n = n;
	if (!translated()) {
		r->iova = data_pages(n);
		if (!r->iova) {
			fail("direct-map: out of guest pages");
			return false;
		}
		for (i = 0; i < n; i++)
			r->gpa[i] = r->iova + i * ZPCI_PAGE_SIZE;
		return true;
	}
	r->iova = iova;
	for (i = 0; i < n; i++) {
		r->gpa[i] = data_pages(1);
		if (!r->gpa[i]) {
			fail("out of guest pages");
			return false;
		}
	}
	return map_range(iova, r->gpa, n, ro);
}

static bool in_region(const struct region *r, uint64_t iova)
{
	return r->n && iova >= r->iova && iova < r->iova + r->n * ZPCI_PAGE_SIZE;
}

/* the guest page behind a data-region IOVA */
static uint64_t gpa_of(uint64_t iova)
{
	if (in_region(&reg_a, iova))
		return reg_a.gpa[(iova - reg_a.iova) / ZPCI_PAGE_SIZE] + (iova & 0xfff);
	if (have_b && in_region(&reg_b, iova))
		return reg_b.gpa[(iova - reg_b.iova) / ZPCI_PAGE_SIZE] + (iova & 0xfff);
	if (in_region(&reg_w, iova))
		return reg_w.gpa[0] + (iova & 0xfff);
	return 0;
}

/* ------------------------------------------------------------ RPCIT */

/* RPCIT [iova, iova + len) for the bound fh; must be handled in the kernel with cc 0 */
static bool rpcit_ok(const char *what, uint64_t iova, uint64_t len)
{
	struct zrpcit r;
	int ret;

	if (!translated())
		return true;
	ret = zvm_rpcit(&vm, ZPCI_GUEST_FH, iova, len, &r);
	if (ret) {
		cur->rpcit_fail++;
		fail("RPCIT %s: KVM_RUN/intercept ioctl failed: %s", what, strerror(-ret));
		return false;
	}
	if (r.exit_reason == KVM_EXIT_S390_SIEIC) {
		cur->U++;
		if (r.vmm)
			fail("RPCIT %s: handed to the VMM, its %s answered cc %d status %d", what,
			     "IOMMU_HWPT_INVALIDATE", r.cc, r.status);
		else
			fail("RPCIT %s: exited to userspace (icptcode %u ipa 0x%04x ipb 0x%08x)",
			     what, r.icptcode, r.ipa, r.ipb);
		return false;
	}
	if (r.exit_reason != KVM_EXIT_INTR) {
		cur->rpcit_fail++;
		fail("RPCIT %s: unexpected exit reason %u (%s)", what, r.exit_reason,
		     zvm_exit_name(r.exit_reason));
		return false;
	}
	cur->R++;
	if (r.cc != 0 || r.status != 0) {
		fail("RPCIT %s [0x%llx, +0x%llx): cc %d status %d, want cc 0", what,
		     (unsigned long long)iova, (unsigned long long)len, r.cc, r.status);
		return false;
	}
	note_pins();
	return true;
}

/* the pins must follow the mapped pages exactly (on-demand) or not move at all */
static bool check_pins(const char *what)
{
	long want_kb = pin_base_kb + mapped_pages * pins_per_page() * 4;
	long want_foll = foll_base + mapped_pages * pins_per_page();

	if (!zpin_wait(want_kb, want_foll, 1000)) {
		fail("%s: VmPin %ld kB (want %ld), foll pins %+ld (want %+ld)", what,
		     zpin_vmpin_kb(), want_kb, zpin_foll_pinned() - foll_base,
		     want_foll - foll_base);
		return false;
	}
	note_pins();
	return true;
}

/* ------------------------------------------------------------ requests */

static void poison(const struct zv_seg *segs, int nseg)
{
	int i;
	uint32_t o;

	for (i = 0; i < nseg; i++)
		for (o = 0; o < segs[i].len; o += ZPCI_PAGE_SIZE)
			memset(zvm_ptr(&vm, gpa_of(segs[i].iova + o)), 0x5a,
			       segs[i].len - o < ZPCI_PAGE_SIZE ? segs[i].len - o : ZPCI_PAGE_SIZE);
}

static void mismatch(const char *what, uint64_t pos, uint64_t disk_off, uint64_t iova,
		     uint8_t got, uint8_t want)
{
	fail("%s: byte %llu (disk 0x%llx, IOVA 0x%llx, GPA 0x%llx): 0x%02x, want 0x%02x",
	     what, (unsigned long long)pos, (unsigned long long)(disk_off + pos),
	     (unsigned long long)iova, (unsigned long long)gpa_of(iova), got, want);
}

/* what the disk holds at off now */
static uint8_t disk_byte(uint64_t off)
{
	if (disk_written && off >= WRITE_OFF && off < WRITE_OFF + ZPCI_PAGE_SIZE)
		return zdisk_write_byte(off - WRITE_OFF);
	return zdisk_pattern_byte(off);
}

static uint64_t disk_u64(uint64_t off)
{
	uint64_t v = 0;
	int i;

	if (!disk_written || off + 8 <= WRITE_OFF || off >= WRITE_OFF + ZPCI_PAGE_SIZE)
		return zdisk_pattern_u64(off);
	for (i = 0; i < 8; i++)
		v = (v << 8) | disk_byte(off + i);
	return v;
}

/* compare the guest pages behind segs with the disk contents at disk_off */
static bool verify(const struct zv_seg *segs, int nseg, uint64_t disk_off, const char *what)
{
	uint64_t pos = 0;
	int i;
	uint32_t o;

	for (i = 0; i < nseg; i++) {
		for (o = 0; o < segs[i].len; o++, pos++) {
			uint64_t iova = segs[i].iova + o;
			uint8_t got = *(uint8_t *)zvm_ptr(&vm, gpa_of(iova));
			uint8_t want = disk_byte(disk_off + pos);

			if (got != want) {
				mismatch(what, pos, disk_off, iova, got, want);
				return false;
			}
		}
	}
	cur->B += pos;
	return true;
}

static bool do_read(const char *what, uint64_t disk_off, const struct zv_seg *segs, int nseg)
{
	uint64_t total = 0;
	enum zv_req r;
	uint8_t bs;
	int i;

	for (i = 0; i < nseg; i++)
		total += segs[i].len;
	poison(segs, nseg);
	r = zv_request(&vb, VIRTIO_BLK_T_IN, disk_off / SECTOR, segs, nseg, REQ_TIMEOUT_MS, &bs);
	if (r != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
		fail("%s: read of %llu bytes at disk 0x%llx: %s, blk status %u, device status 0x%x",
		     what, (unsigned long long)total, (unsigned long long)disk_off,
		     zv_req_name(r), bs, zv_status(&vb));
		return false;
	}
	if (!verify(segs, nseg, disk_off, what))
		return false;
	ok("%s: %llu bytes at disk 0x%llx read by DMA and verified", what,
	   (unsigned long long)total, (unsigned long long)disk_off);
	return true;
}

/* ------------------------------------------------------------ phases */

static bool setup_device(void)
{
	int ret;

	ret = zvm_create(&vm, MEM_SIZE);
	if (ret) {
		fail("create VM with a %llu MiB memslot: %s",
		     (unsigned long long)(MEM_SIZE >> 20), strerror(-ret));
		return false;
	}
	ret = zdev_open(&dev, ZPCI_VFIO_DEV);
	if (ret) {
		fail("open/bind %s to iommufd, nest parent: %s", ZPCI_VFIO_DEV, strerror(-ret));
		return false;
	}
	zdev_aperture(&dev, &pba, &pal);
	info("zPCI base info: %s start_dma 0x%llx end_dma 0x%llx host fh 0x%x",
	     dev.have_zpci_info ? "" : "(missing)",
	     (unsigned long long)dev.start_dma, (unsigned long long)dev.end_dma,
	     dev.host_fh);
	if (cfg == ON_DEMAND) {
		ok("VM: %llu MiB memslot at GPA 0, 1 vCPU; nest parent hwpt %u (IOAS %u, empty)",
		   (unsigned long long)(vm.mem_size >> 20), dev.parent_id, dev.ioas_id);
		return true;
	}

	/* guest DMA pages inside the host aperture, mapped by the parent at IOVA = GPA */
	if (!dev.have_zpci_info) {
		fail("no zPCI base info: host DMA aperture unknown");
		return false;
	}
	ret = zvm_add_data_slot(&vm, dev.start_dma, DATA_SLOT_SIZE);
	if (ret) {
		fail("data memslot at GPA 0x%llx (%llu MiB): %s",
		     (unsigned long long)dev.start_dma,
		     (unsigned long long)(DATA_SLOT_SIZE >> 20), strerror(-ret));
		return false;
	}
	dm_next = vm.hi_gpa;
	ok("VM: %llu MiB at GPA 0 + %llu MiB data memslot at GPA 0x%llx",
	   (unsigned long long)(vm.mem_size >> 20), (unsigned long long)(vm.hi_size >> 20),
	   (unsigned long long)vm.hi_gpa);
	return true;
}

/*
 * Pinned-parent, direct-map: the parent's IOAS maps the data memslot at IOVA
 * = GPA. After the attach: the emulated IBM Z only translates what the host
 * refreshed (RPCIT) while the IOAT is registered, and the host refreshes a
 * paging domain's new mappings for the devices attached to it when it maps
 * them, not when a device attaches to an already populated domain.
 */
static bool map_parent(void)
{
	long kb0, foll0;
	int ret;

	kb0 = zpin_vmpin_kb();
	foll0 = zpin_foll_pinned();
	ret = zdev_parent_map(&dev, vm.hi_mem, vm.hi_gpa, vm.hi_size);
	if (ret) {
		fail("IOMMU_IOAS_MAP of the data memslot at IOVA = GPA 0x%llx: %s",
		     (unsigned long long)vm.hi_gpa, strerror(-ret));
		return false;
	}
	zpin_settle(200, 3000);
	pin_base_kb = zpin_vmpin_kb();
	foll_base = zpin_foll_pinned();
	pin_peak_kb = pin_base_kb;
	foll_peak = foll_base;
	cur->G = foll_base - foll0;
	if (cur->G != (long)(DATA_SLOT_SIZE / ZPCI_PAGE_SIZE) ||
	    pin_base_kb - kb0 != cur->G * 4) {
		fail("parent IOAS map of %llu pages: foll pins %+ld, VmPin %+ld kB",
		     (unsigned long long)(DATA_SLOT_SIZE / ZPCI_PAGE_SIZE), cur->G,
		     pin_base_kb - kb0);
		return false;
	}
	ok("data memslot mapped by the parent (IOAS %u) at IOVA = GPA: %ld pages pinned",
	   dev.ioas_id, cur->G);
	return true;
}

static bool setup_domain(void)
{
	uint32_t flags = cfg == PINNED_PARENT ? IOMMU_HWPT_S390_KVM_PINNED_PARENT : 0;
	int ret;

	if (cfg == DIRECT_MAP) {
		ret = zdev_attach(&dev, dev.parent_id);
		if (ret) {
			fail("attach the device to the parent hwpt %u: %s", dev.parent_id,
			     strerror(-ret));
			return false;
		}
		attached = true;
		ok("device attached to the parent hwpt %u: DMA at IOVA = GPA, no guest tables",
		   dev.parent_id);
		return true;
	}
	if (zt_init(&tbl, &vm)) {
		fail("allocate the region-third table");
		return false;
	}
	ok("guest aperture [0x%llx, 0x%llx], IOTA 0x%llx (RTTO)",
	   (unsigned long long)pba, (unsigned long long)pal,
	   (unsigned long long)zt_iota(&tbl));
	ret = zdev_hwpt_alloc_flags(&dev, vm.vm_fd, ZPCI_GUEST_FH, flags, zt_iota(&tbl),
				    pba, pal, &hwpt_id);
	if (ret) {
		fail("IOMMU_HWPT_ALLOC(S390_KVM, flags 0x%x) on parent %u: %s", flags,
		     dev.parent_id, strerror(-ret));
		return false;
	}
	have_hwpt = true;
	ret = zdev_attach(&dev, hwpt_id);
	if (ret) {
		fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT(hwpt %u): %s", hwpt_id, strerror(-ret));
		return false;
	}
	attached = true;
	/* the VMM completes what KVM hands over: it must never have to here */
	ret = zvm_serve_fh(&vm, ZPCI_GUEST_FH, dev.iommufd, hwpt_id);
	if (ret) {
		fail("serve fh 0x%x with hwpt %u: %s", ZPCI_GUEST_FH, hwpt_id, strerror(-ret));
		return false;
	}
	ok("s390 KVM nested hwpt %u (fh 0x%x, %s) allocated on parent %u and attached",
	   hwpt_id, ZPCI_GUEST_FH, config_name[cfg], dev.parent_id);
	return true;
}

/* rings, request header/status and the write buffer */
static bool setup_rings(void)
{
	uint64_t base;
	int i;

	if (translated()) {
		for (i = 0; i < ZV_RING_PAGES; i++) {
			ring_gpa[i] = data_pages(1);
			rings[i].iova = pba + i * ZPCI_PAGE_SIZE;
		}
		if (!map_range(pba, ring_gpa, ZV_RING_PAGES, false))
			return false;
	} else {
		base = data_pages(ZV_RING_PAGES);
		for (i = 0; i < ZV_RING_PAGES; i++) {
			ring_gpa[i] = base + i * ZPCI_PAGE_SIZE;
			rings[i].iova = ring_gpa[i];
		}
	}
	for (i = 0; i < ZV_RING_PAGES; i++) {
		if (!ring_gpa[i]) {
			fail("out of guest pages for the rings");
			return false;
		}
		rings[i].host = zvm_ptr(&vm, ring_gpa[i]);
	}
	/* the device only reads the write buffer: read-only PTE */
	if (!region_alloc(&reg_w, pba + ZV_RING_PAGES * ZPCI_PAGE_SIZE, 1, true))
		return false;
	if (!rpcit_ok("rings", pba, (ZV_RING_PAGES + 1) * ZPCI_PAGE_SIZE) ||
	    (translated() && !check_pins("rings")))
		return false;
	if (translated())
		ok("rings + header + write buffer mapped (5 pages, 1 read-only): pins %+ld",
		   mapped_pages * pins_per_page());
	return true;
}

static bool start_virtio(void)
{
	int ret = zv_probe(&vb, dev.devfd);

	if (ret) {
		fail("%s", vb.err);
		return false;
	}
	ok("virtio-pci caps: common bar%u+0x%x notify bar%u+0x%x (mult %u) isr, device cfg",
	   vb.common.bar, vb.common.off, vb.notify.bar, vb.notify.off, vb.notify_mult);
	ret = zv_start(&vb, rings);
	if (ret) {
		fail("%s", vb.err);
		return false;
	}
	ok("virtqueue 0: %u entries at IOVA 0x%llx/0x%llx/0x%llx, features 0x%016llx%s, DRIVER_OK",
	   vb.qsize, (unsigned long long)rings[ZV_DESC].iova,
	   (unsigned long long)rings[ZV_AVAIL].iova, (unsigned long long)rings[ZV_USED].iova,
	   (unsigned long long)vb.features, vb.flush ? " (FLUSH)" : "");
	return true;
}

static bool setup_regions(void)
{
	uint64_t iova_a, iova_b;

	/* region A: 32 scattered pages straddling the 1 MiB page-table boundary */
	iova_a = pba + ZPCI_MIB - (A_PAGES / 2) * ZPCI_PAGE_SIZE;
	if (!region_alloc(&reg_a, iova_a, A_PAGES, false))
		return false;
	/* two RPCITs, one per page table */
	if (!rpcit_ok("region A low", iova_a, (A_PAGES / 2) * ZPCI_PAGE_SIZE) ||
	    !rpcit_ok("region A high", pba + ZPCI_MIB, (A_PAGES / 2) * ZPCI_PAGE_SIZE) ||
	    (translated() && !check_pins("region A")))
		return false;
	ok("region A: %d %s pages at IOVA 0x%llx (GPA 0x%llx, 0x%llx, ...)",
	   A_PAGES, translated() ? "scattered" : "contiguous",
	   (unsigned long long)reg_a.iova, (unsigned long long)reg_a.gpa[0],
	   (unsigned long long)reg_a.gpa[1]);

	if (!translated()) {
		have_b = region_alloc(&reg_b, 0, B_PAGES, false);
		return have_b;
	}
	/*
	 * region B: straddles a 2 GiB boundary (two region-third entries, two
	 * segment tables) when the aperture allows, else a page-table boundary
	 * in the upper half of the aperture (another part of the segment table)
	 */
	iova_b = ((pba >> ZT_RT_SHIFT) + 1) << ZT_RT_SHIFT;
	iova_b -= (B_PAGES / 2) * ZPCI_PAGE_SIZE;
	if (iova_b + B_PAGES * ZPCI_PAGE_SIZE - 1 > pal) {
		iova_b = pba + ((pal - pba + 1) / 2 & ~(ZPCI_MIB - 1)) + 5 * ZPCI_MIB;
		iova_b -= (B_PAGES / 2) * ZPCI_PAGE_SIZE;
	}
	if (iova_b > pba + 8 * ZPCI_MIB && iova_b + B_PAGES * ZPCI_PAGE_SIZE - 1 <= pal) {
		if (!region_alloc(&reg_b, iova_b, B_PAGES, false))
			return false;
		have_b = true;
	} else {
		info("aperture too small for region B, skipped");
	}
	/* the lazy-unmap guest way: one global refresh over the aperture */
	if (!rpcit_ok("global refresh", pba, pal - pba + 1) ||
	    !check_pins("global refresh"))
		return false;
	/* a second global refresh must not pin anything twice */
	if (!rpcit_ok("global refresh again", pba, pal - pba + 1) ||
	    !check_pins("global refresh again"))
		return false;
	if (have_b)
		ok("region B: %d pages at IOVA 0x%llx%s, shadowed by 2 global refreshes",
		   B_PAGES, (unsigned long long)reg_b.iova,
		   (reg_b.iova >> ZT_RT_SHIFT) !=
		   ((reg_b.iova + B_PAGES * ZPCI_PAGE_SIZE) >> ZT_RT_SHIFT) ?
		   " across a region-third entry" : " across a page-table boundary");
	else
		ok("2 global refreshes over the aperture: pins unchanged");
	return true;
}

static bool phase_reads(void)
{
	static const uint64_t offs[] = { 0, 0x20000, 0x7e0000, DISK_SIZE - A_PAGES * 4096 };
	struct zv_seg s[4];
	bool good = true;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		s[0].iova = reg_a.iova;
		s[0].len = A_PAGES * ZPCI_PAGE_SIZE;
		good &= do_read("read region A", offs[i], s, 1);
	}
	/* unaligned inside the buffer: starts mid-page, crosses the page table boundary */
	s[0].iova = reg_a.iova + (A_PAGES / 2 - 3) * ZPCI_PAGE_SIZE + 0x200;
	s[0].len = 5 * ZPCI_PAGE_SIZE;
	good &= do_read("read mid-page", 0x212200, s, 1);
	if (have_b) {
		s[0].iova = reg_b.iova;
		s[0].len = B_PAGES * ZPCI_PAGE_SIZE;
		good &= do_read("read region B", 0x300000, s, 1);
		/* scatter-gather over both regions */
		s[0].iova = reg_a.iova + 3 * ZPCI_PAGE_SIZE;
		s[0].len = 2 * ZPCI_PAGE_SIZE;
		s[1].iova = reg_b.iova + (B_PAGES / 2 - 1) * ZPCI_PAGE_SIZE;
		s[1].len = 2 * ZPCI_PAGE_SIZE;
		s[2].iova = reg_a.iova + (A_PAGES - 1) * ZPCI_PAGE_SIZE;
		s[2].len = ZPCI_PAGE_SIZE;
		good &= do_read("read scatter-gather A/B/A", 0x400000, s, 3);
	}
	return good;
}

/* every configuration writes the same bytes: what the write-back check expects */
static bool phase_write(void)
{
	uint8_t *w = zvm_ptr(&vm, reg_w.gpa[0]);
	struct zv_seg s;
	enum zv_req r;
	uint8_t bs;
	uint64_t i;

	for (i = 0; i < ZPCI_PAGE_SIZE; i++)
		w[i] = zdisk_write_byte(i);
	s.iova = reg_w.iova;
	s.len = ZPCI_PAGE_SIZE;
	r = zv_request(&vb, VIRTIO_BLK_T_OUT, WRITE_OFF / SECTOR, &s, 1, REQ_TIMEOUT_MS, &bs);
	if (r != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
		fail("write 4096 bytes at disk 0x%llx: %s, blk status %u",
		     (unsigned long long)WRITE_OFF, zv_req_name(r), bs);
		return false;
	}
	if (vb.flush) {
		r = zv_request(&vb, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, REQ_TIMEOUT_MS, &bs);
		if (r != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
			fail("flush: %s, blk status %u", zv_req_name(r), bs);
			return false;
		}
	}
	disk_written = true;
	ok("wrote 4096 bytes at disk 0x%llx (device read them%s)%s",
	   (unsigned long long)WRITE_OFF,
	   translated() ? " through a protected PTE" : " at IOVA = GPA",
	   vb.flush ? ", flushed" : "");

	s.iova = reg_a.iova + 7 * ZPCI_PAGE_SIZE;
	s.len = ZPCI_PAGE_SIZE;
	poison(&s, 1);
	r = zv_request(&vb, VIRTIO_BLK_T_IN, WRITE_OFF / SECTOR, &s, 1, REQ_TIMEOUT_MS, &bs);
	if (r != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
		fail("read back disk 0x%llx: %s, blk status %u", (unsigned long long)WRITE_OFF,
		     zv_req_name(r), bs);
		return false;
	}
	if (!verify(&s, 1, WRITE_OFF, "write read-back"))
		return false;
	ok("read back 4096 bytes at disk 0x%llx by DMA: match", (unsigned long long)WRITE_OFF);
	return true;
}

static bool verify_page(uint64_t gpa, uint64_t disk_off, uint64_t iova)
{
	const uint64_t *p = zvm_ptr(&vm, gpa);
	unsigned int w;

	for (w = 0; w < ZPCI_PAGE_SIZE / 8; w++) {
		uint64_t want = disk_u64(disk_off + w * 8);
		uint64_t got = be64toh(p[w]);

		if (got != want) {
			fail("stream: disk 0x%llx (IOVA 0x%llx, GPA 0x%llx): %016llx, want %016llx",
			     (unsigned long long)(disk_off + w * 8),
			     (unsigned long long)(iova + w * 8),
			     (unsigned long long)(gpa + w * 8),
			     (unsigned long long)got, (unsigned long long)want);
			return false;
		}
	}
	return true;
}

/* the guest page behind page i of stream slot 'slot' in round 'round' */
static uint64_t stream_gpa(unsigned int slot, unsigned int i, unsigned int round)
{
	if (!translated())
		return gpa_s[slot * S_PAGES + i];
	return gpa_s[slot * S_PAGES + (i + round * 5) % S_PAGES];
}

/*
 * Read the whole disk the way a Linux guest with lazy unmap does DMA: each
 * request gets a freshly mapped 128 KiB buffer (new IOVA -> guest page
 * pairs, RPCIT of just that range), buffers are unmapped by invalidating
 * their PTEs without an RPCIT, and once every slot was used a global
 * refresh (the flush queue) releases them all before the IOVAs are reused.
 * Direct-map: the same reads into 8 fixed buffers at IOVA = GPA.
 */
static bool phase_stream(void)
{
	uint64_t base = pba + S_IOVA_OFF, off, chunk = S_PAGES * ZPCI_PAGE_SIZE;
	unsigned int c = 0, round = 0, slot, i;
	long static_pages = mapped_pages;
	struct zv_seg sg;

	if (translated() && base + S_SLOTS * chunk - 1 > pal) {
		info("aperture too small for the streaming phase, skipped");
		return true;
	}
	for (slot = 0; slot < S_SLOTS; slot++) {
		uint64_t contig = translated() ? 0 : data_pages(S_PAGES);

		for (i = 0; i < S_PAGES; i++) {
			gpa_s[slot * S_PAGES + i] = translated() ? data_pages(1) :
						    contig + i * ZPCI_PAGE_SIZE;
			if (!gpa_s[slot * S_PAGES + i] || (!translated() && !contig)) {
				fail("stream: out of guest pages");
				return false;
			}
		}
	}
	for (off = 0; off < DISK_SIZE; off += chunk, c++) {
		uint64_t iova;
		enum zv_req res;
		uint8_t bs;

		slot = c % S_SLOTS;
		iova = translated() ? base + slot * chunk : gpa_s[slot * S_PAGES];
		if (slot == 0 && c) {
			/* flush queue full: global refresh, every stream pin goes */
			round++;
			if (!rpcit_ok("stream global refresh", pba, pal - pba + 1) ||
			    (translated() && !check_pins("stream global refresh")))
				return false;
		}
		/* a different guest page behind every IOVA in every round */
		for (i = 0; i < S_PAGES; i++) {
			uint64_t gpa = stream_gpa(slot, i, round);

			if (translated() && zt_map(&tbl, iova + i * ZPCI_PAGE_SIZE, gpa, false)) {
				fail("stream: guest table map");
				return false;
			}
			memset(zvm_ptr(&vm, gpa), 0x5a, ZPCI_PAGE_SIZE);
		}
		if (translated())
			mapped_pages += S_PAGES;
		if (!rpcit_ok("stream map", iova, chunk))
			return false;

		sg.iova = iova;
		sg.len = chunk;
		res = zv_request(&vb, VIRTIO_BLK_T_IN, off / SECTOR, &sg, 1, REQ_TIMEOUT_MS, &bs);
		if (res != ZV_DONE || bs != VIRTIO_BLK_S_OK) {
			fail("stream: read at disk 0x%llx: %s, blk status %u",
			     (unsigned long long)off, zv_req_name(res), bs);
			return false;
		}
		for (i = 0; i < S_PAGES; i++) {
			if (!verify_page(stream_gpa(slot, i, round), off + i * ZPCI_PAGE_SIZE,
					 iova + i * ZPCI_PAGE_SIZE))
				return false;
		}
		cur->B += chunk;

		if (!translated())
			continue;
		/* lazy unmap: PTEs invalid now, the hypervisor hears of it later */
		for (i = 0; i < S_PAGES; i++)
			zt_unmap(&tbl, iova + i * ZPCI_PAGE_SIZE);
		mapped_pages -= S_PAGES;
	}
	if (!rpcit_ok("stream final global refresh", pba, pal - pba + 1) ||
	    (translated() && !check_pins("stream final global refresh")))
		return false;
	if (mapped_pages != static_pages) {
		fail("stream: bookkeeping");
		return false;
	}
	if (translated())
		ok("stream: whole disk (%llu MiB) read via %u lazily unmapped buffers, %u flushes",
		   (unsigned long long)(DISK_SIZE >> 20), c, round + 1);
	else
		ok("stream: whole disk (%llu MiB) read via %u requests, 8 buffers at IOVA = GPA",
		   (unsigned long long)(DISK_SIZE >> 20), c);
	return true;
}

/*
 * Remap one IOVA to another guest page: after the RPCIT the device must write
 * into the new page only (no stale translation), and the pins do not move.
 */
static bool phase_remap(void)
{
	int idx = 11;
	uint64_t iova = reg_a.iova + idx * ZPCI_PAGE_SIZE;
	uint64_t old = reg_a.gpa[idx], new_gpa = data_pages(1);
	uint8_t *oldp = zvm_ptr(&vm, old);
	long kb0 = zpin_vmpin_kb(), foll0 = zpin_foll_pinned();
	struct zv_seg s;
	int i;

	if (!new_gpa) {
		fail("remap: out of guest pages");
		return false;
	}
	if (zt_map(&tbl, iova, new_gpa, false)) {
		fail("remap: guest table update");
		return false;
	}
	reg_a.gpa[idx] = new_gpa;
	if (!rpcit_ok("remap one page", iova, ZPCI_PAGE_SIZE))
		return false;
	if (!zpin_wait(kb0, foll0, 1000)) {
		fail("remap: pins changed: VmPin %ld kB (want %ld), foll %+ld (want 0)",
		     zpin_vmpin_kb(), kb0, zpin_foll_pinned() - foll0);
		return false;
	}
	for (i = 0; i < (int)ZPCI_PAGE_SIZE; i++)
		oldp[i] = (uint8_t)(0x3c ^ i);
	s.iova = iova;
	s.len = ZPCI_PAGE_SIZE;
	if (!do_read("read into remapped page", 0x600000, &s, 1))
		return false;
	for (i = 0; i < (int)ZPCI_PAGE_SIZE; i++) {
		if (oldp[i] != (uint8_t)(0x3c ^ i)) {
			fail("remap: device still wrote the old page GPA 0x%llx (stale)",
			     (unsigned long long)old);
			return false;
		}
	}
	ok("remap of IOVA 0x%llx from GPA 0x%llx to 0x%llx: DMA lands in the new page only",
	   (unsigned long long)iova, (unsigned long long)old, (unsigned long long)new_gpa);
	return true;
}

/* last (on-demand): unmap a data page in the guest table; the device must lose access */
static bool phase_unmap(void)
{
	uint64_t iova = reg_a.iova + 9 * ZPCI_PAGE_SIZE;
	uint64_t gpa = gpa_of(iova);
	uint8_t *page = zvm_ptr(&vm, gpa);
	long kb0, foll0;
	enum zv_req r;
	struct zv_seg s;
	uint8_t bs, ds;
	bool good = true;
	int i, ret;

	kb0 = zpin_vmpin_kb();
	foll0 = zpin_foll_pinned();
	ret = zt_unmap(&tbl, iova);
	if (ret) {
		fail("guest table unmap: %s", strerror(-ret));
		return false;
	}
	mapped_pages--;
	if (!rpcit_ok("unmap one page", iova, ZPCI_PAGE_SIZE))
		return false;
	if (!zpin_wait(kb0 - 4, foll0 - 1, 1000)) {
		fail("after unmap + RPCIT: VmPin %ld kB (want %ld), foll pins %+ld (want -1)",
		     zpin_vmpin_kb(), kb0 - 4, zpin_foll_pinned() - foll0);
		good = false;
	} else {
		ok("unmap + RPCIT of IOVA 0x%llx released exactly one pin (VmPin -4 kB, foll -1)",
		   (unsigned long long)iova);
	}
	if (!check_pins("after unmap"))
		good = false;

	for (i = 0; i < (int)ZPCI_PAGE_SIZE; i++)
		page[i] = (uint8_t)(0xa5 ^ i);
	s.iova = iova;
	s.len = ZPCI_PAGE_SIZE;
	r = zv_request(&vb, VIRTIO_BLK_T_IN, 0x500000 / SECTOR, &s, 1, DENY_TIMEOUT_MS, &bs);
	ds = zv_status(&vb);
	for (i = 0; i < (int)ZPCI_PAGE_SIZE; i++) {
		if (page[i] != (uint8_t)(0xa5 ^ i)) {
			fail("unmapped page GPA 0x%llx written by the device (byte %d = 0x%02x)",
			     (unsigned long long)gpa, i, page[i]);
			return false;
		}
	}
	if (r == ZV_DONE && bs == VIRTIO_BLK_S_OK) {
		fail("read into an unmapped IOVA completed successfully");
		return false;
	}
	ok("read into unmapped IOVA 0x%llx: %s, blk status %u, device status 0x%x; canary intact",
	   (unsigned long long)iova, zv_req_name(r), bs, ds);
	return good;
}

static void cleanup(bool faulted)
{
	int ret;

	if (dev.devfd >= 0)
		zv_reset(&vb);		/* best effort: may be fenced */
	zvm_unserve_fh(&vm, ZPCI_GUEST_FH);
	if (attached) {
		ret = zdev_detach(&dev);
		if (ret)
			fail("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", strerror(-ret));
		attached = false;
	}
	if (faulted && dev.devfd >= 0) {
		ret = ioctl(dev.devfd, VFIO_DEVICE_RESET) ? -errno : 0;
		info("VFIO_DEVICE_RESET after the fault: %s", ret ? strerror(-ret) : "ok");
	}
	if (have_hwpt) {
		ret = zdev_destroy_obj(&dev, hwpt_id);
		if (ret)
			fail("IOMMU_DESTROY(hwpt): %s", strerror(-ret));
		have_hwpt = false;
	}
	zdev_close(&dev);
	zvm_destroy(&vm);
	if (!zpin_wait(pin_pre_kb, foll_pre, 3000))
		fail("after closing everything: VmPin %ld kB (before %ld), foll pins %+ld",
		     zpin_vmpin_kb(), pin_pre_kb, zpin_foll_pinned() - foll_pre);
	else
		ok("all pins released after teardown");
}

static void reset_state(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = -1;
	vm.vm_fd = -1;
	vm.vcpu_fd = -1;
	memset(&dev, 0, sizeof(dev));
	dev.devfd = -1;
	dev.iommufd = -1;
	memset(&vb, 0, sizeof(vb));
	vb.devfd = -1;
	memset(&tbl, 0, sizeof(tbl));
	memset(&reg_a, 0, sizeof(reg_a));
	memset(&reg_b, 0, sizeof(reg_b));
	memset(&reg_w, 0, sizeof(reg_w));
	memset(rings, 0, sizeof(rings));
	attached = false;
	have_hwpt = false;
	have_b = false;
	mapped_pages = 0;
	dm_next = 0;
}

static bool run_config(enum config c, bool last)
{
	struct result *r = &results[c];
	bool good, faulted = false;

	cfg = c;
	cur = r;
	r->ran = true;
	reset_state();
	printf("# ---- configuration %s ----\n", config_name[c]);
	if (!zpin_settle(400, 10000))
		info("nr_foll_pin_* still moving after 10 s; measuring anyway");
	pin_pre_kb = zpin_vmpin_kb();
	foll_pre = zpin_foll_pinned();
	pin_base_kb = pin_pre_kb;
	foll_base = foll_pre;
	pin_peak_kb = pin_base_kb;
	foll_peak = foll_base;

	good = setup_device() && setup_domain() && (c == ON_DEMAND || map_parent()) &&
	       setup_rings() && start_virtio() && setup_regions();
	if (good) {
		good &= phase_reads();
		good &= phase_write();
		good &= phase_stream();
		if (translated())
			good &= phase_remap();
		else
			info("direct-map: no guest tables, remap not applicable");
		/* a DMA fault leaves the function in the error state: only last */
		if (c == ON_DEMAND && last) {
			if (good) {
				faulted = true;
				good &= phase_unmap();
			} else {
				fail("unmap phase not run (earlier failures)");
			}
		}
	}
	cleanup(faulted);

	if (c == ON_DEMAND || c == PINNED_PARENT) {
		long kb = (pin_peak_kb - pin_base_kb) / 4, foll = foll_peak - foll_base;

		r->P = kb > foll ? kb : foll;
		if (r->P < 0)
			r->P = 0;
	}
	if (r->U)
		fail("%ld RPCIT(s) for the bound fh exited to userspace", r->U);
	if (r->rpcit_fail)
		fail("%ld RPCIT(s) failed outright", r->rpcit_fail);
	if (c == PINNED_PARENT && r->P)
		fail("pinned-parent: refreshes pinned %ld pages, want 0", r->P);
	if (c == DIRECT_MAP && r->R)
		fail("direct-map: %ld RPCITs issued, want 0", r->R);
	if (r->B < MIN_VERIFIED)
		fail("only %llu bytes verified by DMA (want >= %llu)",
		     (unsigned long long)r->B, MIN_VERIFIED);
	r->good = good && !r->failures;
	cur = NULL;
	return r->good;
}

/* vfio0 can be bound and its virtio registers answer */
static bool function_answers(void)
{
	struct zv_blk v;
	struct zdev d;
	bool good;

	if (zdev_open(&d, ZPCI_VFIO_DEV))
		return false;
	good = !zv_probe(&v, d.devfd) && zv_status(&v) != 0xff;
	zdev_close(&d);
	return good;
}

/* the lines the harness looks for */
static void summary_line(enum config c)
{
	struct result *r = &results[c];
	char head[256];

	if (r->good)
		snprintf(head, sizeof(head), "main job [%s]: ", config_name[c]);
	else
		snprintf(head, sizeof(head), "main job [%s]: FAILED (%s): ", config_name[c],
			 r->ran ? (r->why[0] ? r->why : "see above") : "not run");
	if (c == DIRECT_MAP) {
		printf("%s%ld rpcit, %ld guest pages pinned, %llu bytes verified by DMA\n",
		       head, r->R, r->G, (unsigned long long)r->B);
	} else {
		printf("%s%ld rpcit handled in kernel, %ld pages pinned, ", head, r->R, r->P);
		printf("%llu bytes verified by DMA, %ld exits to userspace\n",
		       (unsigned long long)r->B, r->U);
	}
	fflush(stdout);
}

int main(void)
{
	bool all = true;
	unsigned int i;
	int kmsg;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (zpin_vmpin_kb() < 0 || zpin_foll_pinned() == LONG_MIN) {
		fail("VmPin or nr_foll_pin_* not available");
		for (i = 0; i < NCONFIGS; i++)
			summary_line(i);
		return 1;
	}
	/* an earlier program may have left the function in the error state */
	if (!function_answers()) {
		char err[256];
		int ret = zv_recover(ZPCI_VFIO_DEV, -1, err, sizeof(err));

		info("%s does not answer: recovering the function: %s", ZPCI_VFIO_DEV,
		     ret ? err : "ok");
	}
	for (i = 0; i < NCONFIGS; i++) {
		bool last = i == NCONFIGS - 1;

		kmsg = zv_kmsg_open();
		if (!run_config(run_order[i], last)) {
			all = false;
			/* an unexpected device fault would fail the next configurations too */
			if (!last) {
				char err[256];
				int ret = zv_recover(ZPCI_VFIO_DEV, kmsg, err, sizeof(err));

				info("%s failed: recovering the function: %s",
				     config_name[run_order[i]], ret ? err : "ok");
			}
		}
		if (kmsg >= 0)
			close(kmsg);
	}
	for (i = 0; i < NCONFIGS; i++)
		summary_line(i);
	return all && !global_failures ? 0 : 1;
}
