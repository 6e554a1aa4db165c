// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_main - end-to-end check of in-kernel RPCIT handling.
 *
 * A KVM VM (test-only mode without SIE) owns guest I/O translation tables in
 * its memory; the zPCI virtio-blk function vfio0 is attached to an iommufd
 * IOMMU_HWPT_DATA_S390_KVM hwpt built from them. Every table change is
 * followed by an RPCIT intercept that KVM must handle in the kernel. The
 * device is then driven through VFIO (modern virtio-pci, ACCESS_PLATFORM) with
 * rings, headers, buffers and status bytes all in guest memory behind guest
 * IOVAs: sectors are read into scattered guest pages and compared with the
 * disk pattern, one page is written and read back, and finally a data page is
 * unmapped in the guest table and must become unreachable for the device.
 *
 * Last line: "main job: R rpcit handled in kernel, P pages pinned,
 *             B bytes verified by DMA, U exits to userspace"
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

#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "zpci_lib.h"

#define MEM_SIZE	(64 * ZPCI_MIB)
#define QSIZE		16
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define REQ_TIMEOUT_MS	10000
#define DENY_TIMEOUT_MS	3000
#define DISK_SIZE	(16 * ZPCI_MIB)
#define WRITE_OFF	0x100000ULL
#define SECTOR		512

#define A_PAGES		32	/* data region A: crosses a page-table (1 MiB) boundary */
#define B_PAGES		16	/* data region B: crosses a region-third entry (2 GiB) */

/* streaming phase: the whole disk through short-lived, lazily unmapped buffers */
#define S_SLOTS		8
#define S_PAGES		32	/* one 128 KiB request per slot */
#define S_IOVA_OFF	(16 * ZPCI_MIB)

struct vcap {
	bool present;
	uint8_t bar;
	uint32_t off;
	uint32_t len;
};

static struct zvm vm;
static struct ztables tbl;
static struct zdev dev;
static uint32_t hwpt_id;
static bool attached, have_hwpt;
static uint64_t pba, pal;

static long cnt_R, cnt_U, cnt_rpcit_fail;
static uint64_t cnt_B;
static long pin_base_kb, pin_peak_kb, foll_base;
static long mapped_pages;
static int failures;

/* virtio */
static uint64_t cfg_off;
static uint64_t bar_off[6];
static struct vcap c_common, c_notify, c_isr, c_dev;
static uint32_t notify_mult;
static uint16_t qsize, q_notify_off;
static bool neg_flush;
static uint16_t avail_idx, used_last;

/* guest layout: IOVAs and GPAs */
static uint64_t iova_desc, iova_avail, iova_used, iova_hdr, iova_status, iova_wbuf;
static uint64_t gpa_desc, gpa_avail, gpa_used, gpa_hdr, gpa_wbuf;
static uint64_t iova_a, iova_b;
static uint64_t gpa_a[A_PAGES], gpa_b[B_PAGES];
static bool have_b;
static bool disk_written;
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

	failures++;
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

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void note_pins(void)
{
	long kb = zpin_vmpin_kb();

	if (kb > pin_peak_kb)
		pin_peak_kb = kb;
}

/* ------------------------------------------------------------ RPCIT */

/* RPCIT [iova, iova + len) for the bound fh; must be handled in the kernel with cc 0 */
static bool rpcit_ok(const char *what, uint64_t iova, uint64_t len)
{
	struct zrpcit r;
	int ret = zvm_rpcit(&vm, ZPCI_GUEST_FH, iova, len, &r);

	if (ret) {
		cnt_rpcit_fail++;
		fail("RPCIT %s: KVM_RUN/intercept ioctl failed: %s", what, strerror(-ret));
		return false;
	}
	if (r.exit_reason == KVM_EXIT_S390_SIEIC) {
		cnt_U++;
		fail("RPCIT %s: exited to userspace (icptcode %u ipa 0x%04x ipb 0x%08x)",
		     what, r.icptcode, r.ipa, r.ipb);
		return false;
	}
	if (r.exit_reason != KVM_EXIT_INTR) {
		cnt_rpcit_fail++;
		fail("RPCIT %s: unexpected exit reason %u (%s)", what, r.exit_reason,
		     zvm_exit_name(r.exit_reason));
		return false;
	}
	cnt_R++;
	if (r.cc != 0 || r.status != 0) {
		fail("RPCIT %s [0x%llx, +0x%llx): cc %d status %d, want cc 0", what,
		     (unsigned long long)iova, (unsigned long long)len, r.cc, r.status);
		return false;
	}
	note_pins();
	return true;
}

/* the number of pinned pages must follow the number of mapped pages exactly */
static bool check_pins(const char *what)
{
	long want_kb = pin_base_kb + mapped_pages * 4;
	long want_foll = foll_base + mapped_pages;

	if (!zpin_wait(want_kb, want_foll, 1000)) {
		fail("%s: VmPin %ld kB (want %ld), foll pins %+ld (want %+ld)", what,
		     zpin_vmpin_kb(), want_kb, zpin_foll_pinned() - foll_base,
		     mapped_pages);
		return false;
	}
	note_pins();
	return true;
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

/* ------------------------------------------------------------ VFIO access */

static int region_offset(uint32_t index, uint64_t *off, uint64_t *size)
{
	struct vfio_region_info ri;

	memset(&ri, 0, sizeof(ri));
	ri.argsz = sizeof(ri);
	ri.index = index;
	if (ioctl(dev.devfd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	*off = ri.offset;
	if (size)
		*size = ri.size;
	return 0;
}

static int dev_rd(uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(dev.devfd, buf, len, off);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static int dev_wr(uint64_t off, const void *buf, size_t len)
{
	ssize_t n = pwrite(dev.devfd, buf, len, off);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static uint8_t cfg_r8(uint32_t o)
{
	uint8_t v = 0xff;

	dev_rd(cfg_off + o, &v, 1);
	return v;
}

static uint16_t cfg_r16(uint32_t o)
{
	uint16_t v = 0xffff;

	dev_rd(cfg_off + o, &v, 2);
	return le16toh(v);
}

static uint32_t cfg_r32(uint32_t o)
{
	uint32_t v = 0xffffffff;

	dev_rd(cfg_off + o, &v, 4);
	return le32toh(v);
}

static int cfg_w16(uint32_t o, uint16_t val)
{
	uint16_t v = htole16(val);

	return dev_wr(cfg_off + o, &v, 2);
}

/* common cfg accessors (little-endian device registers, byte-stream VFIO semantics) */
#define COMMON(field) (bar_off[c_common.bar] + c_common.off + \
		       offsetof(struct virtio_pci_common_cfg, field))

static int com_r8(uint64_t a, uint8_t *v) { return dev_rd(a, v, 1); }
static int com_w8(uint64_t a, uint8_t v) { return dev_wr(a, &v, 1); }

static int com_r16(uint64_t a, uint16_t *v)
{
	int ret = dev_rd(a, v, 2);

	*v = le16toh(*v);
	return ret;
}

static int com_w16(uint64_t a, uint16_t v)
{
	v = htole16(v);
	return dev_wr(a, &v, 2);
}

static int com_r32(uint64_t a, uint32_t *v)
{
	int ret = dev_rd(a, v, 4);

	*v = le32toh(*v);
	return ret;
}

static int com_w32(uint64_t a, uint32_t v)
{
	v = htole32(v);
	return dev_wr(a, &v, 4);
}

static int com_w64(uint64_t lo_addr, uint64_t v)
{
	int ret = com_w32(lo_addr, (uint32_t)v);

	return ret ? ret : com_w32(lo_addr + 4, (uint32_t)(v >> 32));
}

static uint8_t dev_status(void)
{
	uint8_t s = 0xff;

	if (com_r8(COMMON(device_status), &s))
		return 0xff;
	return s;
}

static bool find_caps(void)
{
	uint16_t vendor, devid, status;
	uint8_t pos;
	int guard = 0;
	int ret, i;

	ret = region_offset(VFIO_PCI_CONFIG_REGION_INDEX, &cfg_off, NULL);
	if (ret) {
		fail("config region info: %s", strerror(-ret));
		return false;
	}
	vendor = cfg_r16(PCI_VENDOR_ID);
	devid = cfg_r16(PCI_DEVICE_ID);
	info("PCI function %04x:%04x", vendor, devid);
	if (vendor != 0x1af4 || devid != 0x1042) {
		fail("vfio0 is not a modern virtio-blk function (want 1af4:1042)");
		return false;
	}
	if (cfg_w16(PCI_COMMAND, cfg_r16(PCI_COMMAND) | PCI_COMMAND_MEMORY |
		    PCI_COMMAND_MASTER)) {
		fail("enable memory + bus master in PCI_COMMAND");
		return false;
	}
	status = cfg_r16(PCI_STATUS);
	if (!(status & PCI_STATUS_CAP_LIST)) {
		fail("no PCI capability list");
		return false;
	}
	for (pos = cfg_r8(PCI_CAPABILITY_LIST) & ~3; pos && guard < 48;
	     pos = cfg_r8(pos + PCI_CAP_LIST_NEXT) & ~3, guard++) {
		struct vcap *c = NULL;
		uint8_t type;

		if (cfg_r8(pos + PCI_CAP_LIST_ID) != PCI_CAP_ID_VNDR)
			continue;
		type = cfg_r8(pos + VIRTIO_PCI_CAP_CFG_TYPE);
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			c = &c_common;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			c = &c_notify;
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			c = &c_isr;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			c = &c_dev;
			break;
		default:
			break;
		}
		if (!c || c->present)
			continue;
		c->bar = cfg_r8(pos + VIRTIO_PCI_CAP_BAR);
		if (c->bar > 5)
			continue;
		c->off = cfg_r32(pos + VIRTIO_PCI_CAP_OFFSET);
		c->len = cfg_r32(pos + VIRTIO_PCI_CAP_LENGTH);
		c->present = true;
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			notify_mult = cfg_r32(pos + sizeof(struct virtio_pci_cap));
	}
	if (!c_common.present || !c_notify.present || !c_isr.present || !c_dev.present) {
		fail("virtio-pci capabilities missing (common %d notify %d isr %d device %d)",
		     c_common.present, c_notify.present, c_isr.present, c_dev.present);
		return false;
	}
	for (i = 0; i < 6; i++) {
		uint64_t size = 0;

		if (region_offset(VFIO_PCI_BAR0_REGION_INDEX + i, &bar_off[i], &size))
			bar_off[i] = 0;
	}
	ok("virtio-pci caps: common bar%u+0x%x notify bar%u+0x%x (mult %u) %s",
	   c_common.bar, c_common.off, c_notify.bar, c_notify.off, notify_mult,
	   "isr, device cfg");
	return true;
}

static bool virtio_init(void)
{
	uint32_t lo = 0, hi = 0;
	uint64_t feat, want;
	uint16_t qmax = 0;
	uint8_t s;
	long t0;
	int ret = 0;

	/* reset */
	ret |= com_w8(COMMON(device_status), 0);
	t0 = now_ms();
	while ((s = dev_status()) != 0) {
		if (now_ms() - t0 > 2000) {
			fail("virtio reset: status stays 0x%x", s);
			return false;
		}
		sleep_ms(1);
	}
	ret |= com_w8(COMMON(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	ret |= com_w8(COMMON(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE |
		      VIRTIO_CONFIG_S_DRIVER);
	ret |= com_w32(COMMON(device_feature_select), 0);
	ret |= com_r32(COMMON(device_feature), &lo);
	ret |= com_w32(COMMON(device_feature_select), 1);
	ret |= com_r32(COMMON(device_feature), &hi);
	if (ret) {
		fail("virtio common cfg access failed");
		return false;
	}
	feat = ((uint64_t)hi << 32) | lo;
	info("device features 0x%016llx", (unsigned long long)feat);
	if (!(feat & (1ULL << VIRTIO_F_VERSION_1))) {
		fail("device does not offer VIRTIO_F_VERSION_1");
		return false;
	}
	if (!(feat & (1ULL << VIRTIO_F_ACCESS_PLATFORM))) {
		fail("no VIRTIO_F_ACCESS_PLATFORM: device DMA would bypass the IOMMU");
		return false;
	}
	want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_ACCESS_PLATFORM);
	if (feat & (1ULL << VIRTIO_BLK_F_FLUSH)) {
		want |= 1ULL << VIRTIO_BLK_F_FLUSH;
		neg_flush = true;
	}
	ret |= com_w32(COMMON(guest_feature_select), 0);
	ret |= com_w32(COMMON(guest_feature), (uint32_t)want);
	ret |= com_w32(COMMON(guest_feature_select), 1);
	ret |= com_w32(COMMON(guest_feature), (uint32_t)(want >> 32));
	ret |= com_w8(COMMON(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE |
		      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	s = dev_status();
	if (ret || !(s & VIRTIO_CONFIG_S_FEATURES_OK)) {
		fail("FEATURES_OK not accepted (status 0x%x)", s);
		return false;
	}
	ok("negotiated features 0x%016llx (VERSION_1 | ACCESS_PLATFORM%s)",
	   (unsigned long long)want, neg_flush ? " | FLUSH" : "");

	ret |= com_w16(COMMON(msix_config), 0xffff);
	ret |= com_w16(COMMON(queue_select), 0);
	ret |= com_r16(COMMON(queue_size), &qmax);
	if (ret || qmax == 0) {
		fail("queue 0 not available (size %u)", qmax);
		return false;
	}
	qsize = qmax < QSIZE ? qmax : QSIZE;
	ret |= com_w16(COMMON(queue_size), qsize);
	ret |= com_w16(COMMON(queue_msix_vector), 0xffff);
	ret |= com_w64(COMMON(queue_desc_lo), iova_desc);
	ret |= com_w64(COMMON(queue_avail_lo), iova_avail);
	ret |= com_w64(COMMON(queue_used_lo), iova_used);
	ret |= com_r16(COMMON(queue_notify_off), &q_notify_off);
	ret |= com_w16(COMMON(queue_enable), 1);
	ret |= com_w8(COMMON(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE |
		      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		      VIRTIO_CONFIG_S_DRIVER_OK);
	s = dev_status();
	if (ret || !(s & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (s & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED))) {
		fail("DRIVER_OK: status 0x%x", s);
		return false;
	}
	avail_idx = 0;
	used_last = 0;
	ok("virtqueue 0: %u entries, desc/avail/used at IOVA 0x%llx/0x%llx/0x%llx, DRIVER_OK",
	   qsize, (unsigned long long)iova_desc, (unsigned long long)iova_avail,
	   (unsigned long long)iova_used);
	return true;
}

/* ------------------------------------------------------------ requests */

struct seg {
	uint64_t iova;
	uint32_t len;
};

enum req_result { REQ_DONE, REQ_TIMEOUT, REQ_DEVICE_ERROR };

/*
 * Submit one request (header, data segments, status) and poll for it.
 * *blk_status gets the status byte the device wrote.
 */
static enum req_result blk_request(uint32_t type, uint64_t sector,
				   const struct seg *segs, int nseg,
				   int timeout_ms, uint8_t *blk_status)
{
	struct vring_desc *desc = zvm_ptr(&vm, gpa_desc);
	struct vring_avail *avail = zvm_ptr(&vm, gpa_avail);
	struct vring_used *used = zvm_ptr(&vm, gpa_used);
	struct virtio_blk_outhdr *hdr = zvm_ptr(&vm, gpa_hdr);
	uint8_t *st = zvm_ptr(&vm, gpa_hdr + (iova_status - iova_hdr));
	uint64_t notify = bar_off[c_notify.bar] + c_notify.off +
			  (uint64_t)q_notify_off * notify_mult;
	uint16_t qidx = htole16(0);
	int i, n = 0, spins = 0;
	long t0;

	*blk_status = 0xff;
	if (nseg + 2 > qsize)
		return REQ_DEVICE_ERROR;

	hdr->type = htole32(type);
	hdr->ioprio = 0;
	hdr->sector = htole64(sector);
	*st = 0xff;

	desc[n].addr = htole64(iova_hdr);
	desc[n].len = htole32(sizeof(*hdr));
	desc[n].flags = htole16(VRING_DESC_F_NEXT);
	desc[n].next = htole16(n + 1);
	n++;
	for (i = 0; i < nseg; i++, n++) {
		desc[n].addr = htole64(segs[i].iova);
		desc[n].len = htole32(segs[i].len);
		desc[n].flags = htole16(VRING_DESC_F_NEXT |
					(type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0));
		desc[n].next = htole16(n + 1);
	}
	desc[n].addr = htole64(iova_status);
	desc[n].len = htole32(1);
	desc[n].flags = htole16(VRING_DESC_F_WRITE);
	desc[n].next = 0;

	avail->ring[avail_idx % qsize] = htole16(0);
	__sync_synchronize();
	avail_idx++;
	avail->idx = htole16(avail_idx);
	__sync_synchronize();

	if (dev_wr(notify, &qidx, sizeof(qidx)))
		return REQ_DEVICE_ERROR;

	t0 = now_ms();
	for (;;) {
		/* the device writes used->idx behind our back */
		uint16_t uidx = le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE));

		if (uidx != used_last) {
			__sync_synchronize();
			used_last++;
			if (le32toh(used->ring[(uint16_t)(used_last - 1) % qsize].id) != 0)
				return REQ_DEVICE_ERROR;
			*blk_status = __atomic_load_n(st, __ATOMIC_ACQUIRE);
			return REQ_DONE;
		}
		if (now_ms() - t0 > timeout_ms)
			return REQ_TIMEOUT;
		if (++spins % 64 == 0) {
			uint8_t s = dev_status();

			if (s == 0xff || (s & VIRTIO_CONFIG_S_NEEDS_RESET))
				return REQ_DEVICE_ERROR;
		}
		usleep(200);
	}
}

static const char *req_name(enum req_result r)
{
	return r == REQ_DONE ? "done" : r == REQ_TIMEOUT ? "timeout" : "device error";
}

/* the guest page behind a data-region IOVA */
static uint64_t gpa_of(uint64_t iova)
{
	if (iova >= iova_a && iova < iova_a + A_PAGES * ZPCI_PAGE_SIZE)
		return gpa_a[(iova - iova_a) / ZPCI_PAGE_SIZE] + (iova & 0xfff);
	if (have_b && iova >= iova_b && iova < iova_b + B_PAGES * ZPCI_PAGE_SIZE)
		return gpa_b[(iova - iova_b) / ZPCI_PAGE_SIZE] + (iova & 0xfff);
	return 0;
}

static void poison(const struct seg *segs, int nseg)
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

/* compare the guest pages behind segs with expected(disk_off + i) */
static bool verify(const struct seg *segs, int nseg, uint64_t disk_off, bool written,
		   const char *what)
{
	uint64_t pos = 0;
	int i;
	uint32_t o;

	for (i = 0; i < nseg; i++) {
		for (o = 0; o < segs[i].len; o++, pos++) {
			uint64_t iova = segs[i].iova + o;
			uint8_t got = *(uint8_t *)zvm_ptr(&vm, gpa_of(iova));
			uint8_t want = written ? zdisk_write_byte(pos) :
						 zdisk_pattern_byte(disk_off + pos);

			if (got != want) {
				mismatch(what, pos, disk_off, iova, got, want);
				return false;
			}
		}
	}
	cnt_B += pos;
	return true;
}

static bool do_read(const char *what, uint64_t disk_off, const struct seg *segs, int nseg)
{
	uint64_t total = 0;
	enum req_result r;
	uint8_t bs;
	int i;

	for (i = 0; i < nseg; i++)
		total += segs[i].len;
	poison(segs, nseg);
	r = blk_request(VIRTIO_BLK_T_IN, disk_off / SECTOR, segs, nseg, REQ_TIMEOUT_MS, &bs);
	if (r != REQ_DONE || bs != VIRTIO_BLK_S_OK) {
		fail("%s: read of %llu bytes at disk 0x%llx: %s, blk status %u, device status 0x%x",
		     what, (unsigned long long)total, (unsigned long long)disk_off,
		     req_name(r), bs, dev_status());
		return false;
	}
	if (!verify(segs, nseg, disk_off, false, what))
		return false;
	ok("%s: %llu bytes at disk 0x%llx read by DMA and verified", what,
	   (unsigned long long)total, (unsigned long long)disk_off);
	return true;
}

/* ------------------------------------------------------------ phases */

static bool setup_vm_and_hwpt(void)
{
	uint64_t pages[4];
	int ret, i;

	ret = zvm_create(&vm, MEM_SIZE);
	if (ret) {
		fail("create VM with a %llu MiB memslot: %s",
		     (unsigned long long)(MEM_SIZE >> 20), strerror(-ret));
		return false;
	}
	ok("VM: %llu MiB memslot at GPA 0, 1 vCPU",
	   (unsigned long long)(vm.mem_size >> 20));
	if (zt_init(&tbl, &vm)) {
		fail("allocate the region-third table");
		return false;
	}

	ret = zdev_open(&dev, ZPCI_VFIO_DEV);
	if (ret) {
		fail("open/bind %s to iommufd: %s", ZPCI_VFIO_DEV, strerror(-ret));
		return false;
	}
	zdev_aperture(&dev, &pba, &pal);
	info("zPCI base info: %s start_dma 0x%llx end_dma 0x%llx host fh 0x%x",
	     dev.have_zpci_info ? "" : "(missing)",
	     (unsigned long long)dev.start_dma, (unsigned long long)dev.end_dma,
	     dev.host_fh);
	ok("guest aperture [0x%llx, 0x%llx], IOTA 0x%llx (RTTO)",
	   (unsigned long long)pba, (unsigned long long)pal,
	   (unsigned long long)zt_iota(&tbl));

	ret = zdev_hwpt_alloc(&dev, vm.vm_fd, ZPCI_GUEST_FH, zt_iota(&tbl), pba, pal,
			      &hwpt_id);
	if (ret) {
		fail("IOMMU_HWPT_ALLOC(S390_KVM): %s", strerror(-ret));
		return false;
	}
	have_hwpt = true;
	ret = zdev_attach(&dev, hwpt_id);
	if (ret) {
		fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT(hwpt %u): %s", hwpt_id, strerror(-ret));
		return false;
	}
	attached = true;
	ok("s390 KVM hwpt %u (fh 0x%x) allocated and attached", hwpt_id, ZPCI_GUEST_FH);

	/* rings, request header/status and the write buffer: 5 pages at pba */
	iova_desc = pba;
	iova_avail = pba + 0x1000;
	iova_used = pba + 0x2000;
	iova_hdr = pba + 0x3000;
	iova_status = iova_hdr + 0x100;
	iova_wbuf = pba + 0x4000;
	for (i = 0; i < 4; i++)
		pages[i] = zvm_alloc_scattered_page(&vm);
	gpa_desc = pages[0];
	gpa_avail = pages[1];
	gpa_used = pages[2];
	gpa_hdr = pages[3];
	gpa_wbuf = zvm_alloc_scattered_page(&vm);
	if (!map_range(pba, pages, 4, false) ||
	    !map_range(iova_wbuf, &gpa_wbuf, 1, true))	/* device only reads it */
		return false;
	if (!rpcit_ok("rings", pba, 5 * ZPCI_PAGE_SIZE) || !check_pins("rings"))
		return false;
	ok("rings + header + write buffer mapped (5 pages, 1 read-only): pins +%ld",
	   mapped_pages);

	/* region A: 32 scattered pages straddling the 1 MiB page-table boundary */
	iova_a = pba + ZPCI_MIB - (A_PAGES / 2) * ZPCI_PAGE_SIZE;
	for (i = 0; i < A_PAGES; i++)
		gpa_a[i] = zvm_alloc_scattered_page(&vm);
	if (!map_range(iova_a, gpa_a, A_PAGES, false))
		return false;
	/* two RPCITs, one per page table */
	if (!rpcit_ok("region A low", iova_a, (A_PAGES / 2) * ZPCI_PAGE_SIZE) ||
	    !rpcit_ok("region A high", pba + ZPCI_MIB, (A_PAGES / 2) * ZPCI_PAGE_SIZE) ||
	    !check_pins("region A"))
		return false;
	ok("region A: %d scattered pages at IOVA 0x%llx (GPA 0x%llx, 0x%llx, ...)",
	   A_PAGES, (unsigned long long)iova_a, (unsigned long long)gpa_a[0],
	   (unsigned long long)gpa_a[1]);

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
		for (i = 0; i < B_PAGES; i++)
			gpa_b[i] = zvm_alloc_scattered_page(&vm);
		if (!map_range(iova_b, gpa_b, B_PAGES, false))
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
		   B_PAGES, (unsigned long long)iova_b,
		   (iova_b >> ZT_RT_SHIFT) != ((iova_b + B_PAGES * ZPCI_PAGE_SIZE) >> ZT_RT_SHIFT) ?
		   " across a region-third entry" : " across a page-table boundary");
	else
		ok("2 global refreshes over the aperture: pins unchanged");
	return true;
}

static bool phase_reads(void)
{
	struct seg s[4];
	bool good = true;
	static const uint64_t offs[] = { 0, 0x20000, 0x7e0000, DISK_SIZE - A_PAGES * 4096 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		s[0].iova = iova_a;
		s[0].len = A_PAGES * ZPCI_PAGE_SIZE;
		good &= do_read("read region A", offs[i], s, 1);
	}
	/* unaligned inside the buffer: starts mid-page, crosses the page table boundary */
	s[0].iova = iova_a + (A_PAGES / 2 - 3) * ZPCI_PAGE_SIZE + 0x200;
	s[0].len = 5 * ZPCI_PAGE_SIZE;
	good &= do_read("read mid-page", 0x212200, s, 1);
	if (have_b) {
		s[0].iova = iova_b;
		s[0].len = B_PAGES * ZPCI_PAGE_SIZE;
		good &= do_read("read region B", 0x300000, s, 1);
		/* scatter-gather over both regions */
		s[0].iova = iova_a + 3 * ZPCI_PAGE_SIZE;
		s[0].len = 2 * ZPCI_PAGE_SIZE;
		s[1].iova = iova_b + (B_PAGES / 2 - 1) * ZPCI_PAGE_SIZE;
		s[1].len = 2 * ZPCI_PAGE_SIZE;
		s[2].iova = iova_a + (A_PAGES - 1) * ZPCI_PAGE_SIZE;
		s[2].len = ZPCI_PAGE_SIZE;
		good &= do_read("read scatter-gather A/B/A", 0x400000, s, 3);
	}
	return good;
}

static bool phase_write(void)
{
	uint8_t *w = zvm_ptr(&vm, gpa_wbuf);
	struct seg s;
	enum req_result r;
	uint8_t bs;
	uint64_t i;

	for (i = 0; i < ZPCI_PAGE_SIZE; i++)
		w[i] = zdisk_write_byte(i);
	s.iova = iova_wbuf;
	s.len = ZPCI_PAGE_SIZE;
	r = blk_request(VIRTIO_BLK_T_OUT, WRITE_OFF / SECTOR, &s, 1, REQ_TIMEOUT_MS, &bs);
	if (r != REQ_DONE || bs != VIRTIO_BLK_S_OK) {
		fail("write 4096 bytes at disk 0x%llx from a read-only IOVA: %s, blk status %u",
		     (unsigned long long)WRITE_OFF, req_name(r), bs);
		return false;
	}
	if (neg_flush) {
		r = blk_request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, REQ_TIMEOUT_MS, &bs);
		if (r != REQ_DONE || bs != VIRTIO_BLK_S_OK) {
			fail("flush: %s, blk status %u", req_name(r), bs);
			return false;
		}
	}
	disk_written = true;
	ok("wrote 4096 bytes at disk 0x%llx (device read them through a protected PTE)%s",
	   (unsigned long long)WRITE_OFF, neg_flush ? ", flushed" : "");

	s.iova = iova_a + 7 * ZPCI_PAGE_SIZE;
	s.len = ZPCI_PAGE_SIZE;
	poison(&s, 1);
	r = blk_request(VIRTIO_BLK_T_IN, WRITE_OFF / SECTOR, &s, 1, REQ_TIMEOUT_MS, &bs);
	if (r != REQ_DONE || bs != VIRTIO_BLK_S_OK) {
		fail("read back disk 0x%llx: %s, blk status %u", (unsigned long long)WRITE_OFF,
		     req_name(r), bs);
		return false;
	}
	if (!verify(&s, 1, WRITE_OFF, true, "write read-back"))
		return false;
	ok("read back 4096 bytes at disk 0x%llx by DMA: match", (unsigned long long)WRITE_OFF);
	return true;
}

/* what the disk holds at off now */
static uint64_t disk_u64(uint64_t off)
{
	uint64_t v = 0;
	int i;

	if (!disk_written || off + 8 <= WRITE_OFF || off >= WRITE_OFF + ZPCI_PAGE_SIZE)
		return zdisk_pattern_u64(off);
	for (i = 0; i < 8; i++)
		v = (v << 8) | zdisk_write_byte(off + i - WRITE_OFF);
	return v;
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

/*
 * Read the whole disk the way a Linux guest with lazy unmap does DMA: each
 * request gets a freshly mapped 128 KiB buffer (new IOVA -> guest page
 * pairs, RPCIT of just that range), buffers are unmapped by invalidating
 * their PTEs without an RPCIT, and once every slot was used a global
 * refresh (the flush queue) releases them all before the IOVAs are reused.
 */
static bool phase_stream(void)
{
	uint64_t base = pba + S_IOVA_OFF, off, chunk = S_PAGES * ZPCI_PAGE_SIZE;
	unsigned int c = 0, round = 0, slot, i;
	long static_pages = mapped_pages;
	struct seg sg;

	if (base + S_SLOTS * chunk - 1 > pal) {
		info("aperture too small for the streaming phase, skipped");
		return true;
	}
	for (i = 0; i < S_SLOTS * S_PAGES; i++) {
		gpa_s[i] = zvm_alloc_scattered_page(&vm);
		if (!gpa_s[i]) {
			fail("stream: out of guest pages");
			return false;
		}
	}
	for (off = 0; off < DISK_SIZE; off += chunk, c++) {
		uint64_t iova;
		enum req_result res;
		uint8_t bs;

		slot = c % S_SLOTS;
		iova = base + slot * chunk;
		if (slot == 0 && c) {
			/* flush queue full: global refresh, every stream pin goes */
			round++;
			if (!rpcit_ok("stream global refresh", pba, pal - pba + 1) ||
			    !check_pins("stream global refresh"))
				return false;
		}
		/* a different guest page behind every IOVA in every round */
		for (i = 0; i < S_PAGES; i++) {
			uint64_t gpa = gpa_s[slot * S_PAGES + (i + round * 5) % S_PAGES];

			if (zt_map(&tbl, iova + i * ZPCI_PAGE_SIZE, gpa, false)) {
				fail("stream: guest table map");
				return false;
			}
			memset(zvm_ptr(&vm, gpa), 0x5a, ZPCI_PAGE_SIZE);
		}
		mapped_pages += S_PAGES;
		if (!rpcit_ok("stream map", iova, chunk))
			return false;

		sg.iova = iova;
		sg.len = chunk;
		res = blk_request(VIRTIO_BLK_T_IN, off / SECTOR, &sg, 1, REQ_TIMEOUT_MS, &bs);
		if (res != REQ_DONE || bs != VIRTIO_BLK_S_OK) {
			fail("stream: read at disk 0x%llx: %s, blk status %u",
			     (unsigned long long)off, req_name(res), bs);
			return false;
		}
		for (i = 0; i < S_PAGES; i++) {
			uint64_t gpa = gpa_s[slot * S_PAGES + (i + round * 5) % S_PAGES];

			if (!verify_page(gpa, off + i * ZPCI_PAGE_SIZE, iova + i * ZPCI_PAGE_SIZE))
				return false;
		}
		cnt_B += chunk;

		/* lazy unmap: PTEs invalid now, the hypervisor hears of it later */
		for (i = 0; i < S_PAGES; i++)
			zt_unmap(&tbl, iova + i * ZPCI_PAGE_SIZE);
		mapped_pages -= S_PAGES;
	}
	if (!rpcit_ok("stream final global refresh", pba, pal - pba + 1) ||
	    !check_pins("stream final global refresh"))
		return false;
	if (mapped_pages != static_pages) {
		fail("stream: bookkeeping");
		return false;
	}
	ok("stream: whole disk (%llu MiB) read via %u lazily unmapped 128 KiB buffers, %u flushes",
	   (unsigned long long)(DISK_SIZE >> 20), c, round + 1);
	return true;
}

/*
 * Remap one IOVA to another guest page: after the RPCIT the device must write
 * into the new page only (no stale translation), and the pin moves along.
 */
static bool phase_remap(void)
{
	int idx = 11;
	uint64_t iova = iova_a + idx * ZPCI_PAGE_SIZE;
	uint64_t old = gpa_a[idx], new_gpa = zvm_alloc_scattered_page(&vm);
	uint8_t *oldp = zvm_ptr(&vm, old);
	long kb0 = zpin_vmpin_kb(), foll0 = zpin_foll_pinned();
	struct seg s;
	int i;

	if (!new_gpa) {
		fail("remap: out of guest pages");
		return false;
	}
	if (zt_map(&tbl, iova, new_gpa, false)) {
		fail("remap: guest table update");
		return false;
	}
	gpa_a[idx] = new_gpa;
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

/* last: unmap a data page in the guest table; the device must lose access */
static bool phase_unmap(void)
{
	uint64_t iova = iova_a + 9 * ZPCI_PAGE_SIZE;
	uint64_t gpa = gpa_of(iova);
	uint8_t *page = zvm_ptr(&vm, gpa);
	long kb0, foll0;
	enum req_result r;
	struct seg s;
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
	r = blk_request(VIRTIO_BLK_T_IN, 0x500000 / SECTOR, &s, 1, DENY_TIMEOUT_MS, &bs);
	ds = dev_status();
	for (i = 0; i < (int)ZPCI_PAGE_SIZE; i++) {
		if (page[i] != (uint8_t)(0xa5 ^ i)) {
			fail("unmapped page GPA 0x%llx written by the device (byte %d = 0x%02x)",
			     (unsigned long long)gpa, i, page[i]);
			return false;
		}
	}
	if (r == REQ_DONE && bs == VIRTIO_BLK_S_OK) {
		fail("read into an unmapped IOVA completed successfully");
		return false;
	}
	ok("read into unmapped IOVA 0x%llx: %s, blk status %u, device status 0x%x; canary intact",
	   (unsigned long long)iova, req_name(r), bs, ds);
	return good;
}

static void cleanup(void)
{
	int ret;

	if (c_common.present && dev.devfd >= 0)
		com_w8(COMMON(device_status), 0);	/* best effort: may be fenced */
	if (attached) {
		ret = zdev_detach(&dev);
		if (ret)
			fail("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", strerror(-ret));
		attached = false;
	}
	if (dev.devfd >= 0) {
		/* recover the function from the error state the last phase caused */
		ret = ioctl(dev.devfd, VFIO_DEVICE_RESET) ? -errno : 0;
		info("VFIO_DEVICE_RESET: %s", ret ? strerror(-ret) : "ok");
	}
	if (have_hwpt) {
		ret = zdev_destroy_obj(&dev, hwpt_id);
		if (ret)
			fail("IOMMU_DESTROY(hwpt): %s", strerror(-ret));
		have_hwpt = false;
	}
	zdev_close(&dev);
	zvm_destroy(&vm);
	if (!zpin_wait(pin_base_kb, foll_base, 3000))
		fail("after closing everything: VmPin %ld kB (base %ld), foll pins %+ld",
		     zpin_vmpin_kb(), pin_base_kb, zpin_foll_pinned() - foll_base);
	else
		ok("all pins released after teardown");
}

/* the one line the harness looks for */
static void summary_line(void)
{
	long pinned = pin_peak_kb > pin_base_kb ? (pin_peak_kb - pin_base_kb) / 4 : 0;

	printf("main job: %ld rpcit handled in kernel, %ld pages pinned, ", cnt_R, pinned);
	printf("%llu bytes verified by DMA, %ld exits to userspace\n",
	       (unsigned long long)cnt_B, cnt_U);
	fflush(stdout);
}

int main(void)
{
	bool good;

	setvbuf(stdout, NULL, _IOLBF, 0);
	dev.devfd = -1;
	dev.iommufd = -1;
	vm.kvm_fd = -1;
	vm.vm_fd = -1;
	vm.vcpu_fd = -1;
	if (!zpin_settle(400, 10000))
		info("nr_foll_pin_* still moving after 10 s; measuring anyway");
	pin_base_kb = zpin_vmpin_kb();
	foll_base = zpin_foll_pinned();
	pin_peak_kb = pin_base_kb;
	if (pin_base_kb < 0 || foll_base == LONG_MIN) {
		fail("VmPin or nr_foll_pin_* not available");
		summary_line();
		return 1;
	}

	good = setup_vm_and_hwpt();
	if (good)
		good = find_caps() && virtio_init();
	if (good) {
		good &= phase_reads();
		good &= phase_write();
		good &= phase_stream();
		good &= phase_remap();
		/* last: a DMA fault leaves the function in the error state */
		if (good)
			good &= phase_unmap();
		else
			fail("unmap phase not run (earlier failures)");
	}
	cleanup();

	if (cnt_U)
		fail("%ld RPCIT(s) for the bound fh exited to userspace", cnt_U);
	if (cnt_rpcit_fail)
		fail("%ld RPCIT(s) failed outright", cnt_rpcit_fail);
	summary_line();
	return (good && !failures && !cnt_U) ? 0 : 1;
}
