// SPDX-License-Identifier: GPL-2.0-only
/*
 * Minimal virtio-blk driver over VFIO (modern virtio-pci, ACCESS_PLATFORM)
 * for the s390 zPCI RPCIT selftests, and recovery of a zPCI function from
 * the error state. See zpci_virtio.h.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "zpci_lib.h"
#include "zpci_virtio.h"

static long zv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void zv_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void zv_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

#define ZV_FAIL(v, ret, ...) ({ zv_err((v)->err, sizeof((v)->err), __VA_ARGS__); (ret); })

/* ------------------------------------------------------------ VFIO access */

static int zv_region(struct zv_blk *v, uint32_t index, uint64_t *off)
{
	struct vfio_region_info ri;

	memset(&ri, 0, sizeof(ri));
	ri.argsz = sizeof(ri);
	ri.index = index;
	if (ioctl(v->devfd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	*off = ri.offset;
	return 0;
}

static int zv_rd(struct zv_blk *v, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(v->devfd, buf, len, off);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static int zv_wr(struct zv_blk *v, uint64_t off, const void *buf, size_t len)
{
	ssize_t n = pwrite(v->devfd, buf, len, off);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static uint8_t cfg_r8(struct zv_blk *v, uint32_t o)
{
	uint8_t val = 0xff;

	zv_rd(v, v->cfg_off + o, &val, 1);
	return val;
}

static uint16_t cfg_r16(struct zv_blk *v, uint32_t o)
{
	uint16_t val = 0xffff;

	zv_rd(v, v->cfg_off + o, &val, 2);
	return le16toh(val);
}

static uint32_t cfg_r32(struct zv_blk *v, uint32_t o)
{
	uint32_t val = 0xffffffff;

	zv_rd(v, v->cfg_off + o, &val, 4);
	return le32toh(val);
}

static int cfg_w16(struct zv_blk *v, uint32_t o, uint16_t val)
{
	uint16_t le = htole16(val);

	return zv_wr(v, v->cfg_off + o, &le, 2);
}

/*
 * common cfg (little-endian device registers, byte-stream VFIO semantics),
 * addressed by the offset of a struct virtio_pci_common_cfg field
 */
#define COMMON(field) offsetof(struct virtio_pci_common_cfg, field)

static uint64_t com_addr(struct zv_blk *v, uint64_t field_off)
{
	return v->bar_off[v->common.bar] + v->common.off + field_off;
}

static int com_r8(struct zv_blk *v, uint64_t a, uint8_t *val)
{
	return zv_rd(v, com_addr(v, a), val, 1);
}

static int com_w8(struct zv_blk *v, uint64_t a, uint8_t val)
{
	return zv_wr(v, com_addr(v, a), &val, 1);
}

static int com_r16(struct zv_blk *v, uint64_t a, uint16_t *val)
{
	int ret = zv_rd(v, com_addr(v, a), val, 2);

	*val = le16toh(*val);
	return ret;
}

static int com_w16(struct zv_blk *v, uint64_t a, uint16_t val)
{
	val = htole16(val);
	return zv_wr(v, com_addr(v, a), &val, 2);
}

static int com_r32(struct zv_blk *v, uint64_t a, uint32_t *val)
{
	int ret = zv_rd(v, com_addr(v, a), val, 4);

	*val = le32toh(*val);
	return ret;
}

static int com_w32(struct zv_blk *v, uint64_t a, uint32_t val)
{
	val = htole32(val);
	return zv_wr(v, com_addr(v, a), &val, 4);
}

static int com_w64(struct zv_blk *v, uint64_t lo_addr, uint64_t val)
{
	int ret = com_w32(v, lo_addr, (uint32_t)val);

	return ret ? ret : com_w32(v, lo_addr + 4, (uint32_t)(val >> 32));
}

uint8_t zv_status(struct zv_blk *v)
{
	uint8_t s = 0xff;

	if (!v->common.present || com_r8(v, COMMON(device_status), &s))
		return 0xff;
	return s;
}

void zv_reset(struct zv_blk *v)
{
	if (v->common.present && v->devfd >= 0)
		com_w8(v, COMMON(device_status), 0);
}

int zv_probe(struct zv_blk *v, int devfd)
{
	uint16_t vendor, devid;
	uint8_t pos;
	int guard = 0;
	int ret, i;

	memset(v, 0, sizeof(*v));
	v->devfd = devfd;
	ret = zv_region(v, VFIO_PCI_CONFIG_REGION_INDEX, &v->cfg_off);
	if (ret)
		return ZV_FAIL(v, ret, "config region info: %s", strerror(-ret));
	vendor = cfg_r16(v, PCI_VENDOR_ID);
	devid = cfg_r16(v, PCI_DEVICE_ID);
	if (vendor != 0x1af4 || devid != 0x1042)
		return ZV_FAIL(v, -ENODEV,
			       "PCI function %04x:%04x is not a modern virtio-blk (1af4:1042)",
			       vendor, devid);
	if (cfg_w16(v, PCI_COMMAND, cfg_r16(v, PCI_COMMAND) | PCI_COMMAND_MEMORY |
		    PCI_COMMAND_MASTER))
		return ZV_FAIL(v, -EIO, "enable memory + bus master in PCI_COMMAND");
	if (!(cfg_r16(v, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return ZV_FAIL(v, -ENODEV, "no PCI capability list");
	for (pos = cfg_r8(v, PCI_CAPABILITY_LIST) & ~3; pos && guard < 48;
	     pos = cfg_r8(v, pos + PCI_CAP_LIST_NEXT) & ~3, guard++) {
		struct zv_cap *c = NULL;
		uint8_t type;

		if (cfg_r8(v, pos + PCI_CAP_LIST_ID) != PCI_CAP_ID_VNDR)
			continue;
		type = cfg_r8(v, pos + VIRTIO_PCI_CAP_CFG_TYPE);
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			c = &v->common;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			c = &v->notify;
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			c = &v->isr;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			c = &v->devcfg;
			break;
		default:
			break;
		}
		if (!c || c->present)
			continue;
		c->bar = cfg_r8(v, pos + VIRTIO_PCI_CAP_BAR);
		if (c->bar > 5)
			continue;
		c->off = cfg_r32(v, pos + VIRTIO_PCI_CAP_OFFSET);
		c->len = cfg_r32(v, pos + VIRTIO_PCI_CAP_LENGTH);
		c->present = true;
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			v->notify_mult = cfg_r32(v, pos + sizeof(struct virtio_pci_cap));
	}
	if (!v->common.present || !v->notify.present || !v->isr.present ||
	    !v->devcfg.present)
		return ZV_FAIL(v, -ENODEV,
			       "virtio-pci capabilities missing (common %d notify %d isr %d device %d)",
			       v->common.present, v->notify.present, v->isr.present,
			       v->devcfg.present);
	for (i = 0; i < 6; i++)
		if (zv_region(v, VFIO_PCI_BAR0_REGION_INDEX + i, &v->bar_off[i]))
			v->bar_off[i] = 0;
	return 0;
}

int zv_start(struct zv_blk *v, const struct zv_page ring[ZV_RING_PAGES])
{
	uint8_t ok = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	uint32_t lo = 0, hi = 0;
	uint16_t qmax = 0;
	uint64_t want;
	int ret = 0, i;
	uint8_t s;
	long t0;

	for (i = 0; i < ZV_RING_PAGES; i++) {
		v->ring[i] = ring[i];
		memset(ring[i].host, 0, 4096);
	}
	com_w8(v, COMMON(device_status), 0);
	t0 = zv_now_ms();
	while ((s = zv_status(v)) != 0) {
		if (zv_now_ms() - t0 > 2000)
			return ZV_FAIL(v, -EIO, "virtio reset: status stays 0x%x", s);
		zv_sleep_ms(1);
	}
	ret |= com_w8(v, COMMON(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	ret |= com_w8(v, COMMON(device_status), ok);
	ret |= com_w32(v, COMMON(device_feature_select), 0);
	ret |= com_r32(v, COMMON(device_feature), &lo);
	ret |= com_w32(v, COMMON(device_feature_select), 1);
	ret |= com_r32(v, COMMON(device_feature), &hi);
	if (ret)
		return ZV_FAIL(v, -EIO, "virtio common cfg access failed");
	v->features = ((uint64_t)hi << 32) | lo;
	if (!(v->features & (1ULL << VIRTIO_F_VERSION_1)))
		return ZV_FAIL(v, -ENODEV, "device does not offer VIRTIO_F_VERSION_1");
	if (!(v->features & (1ULL << VIRTIO_F_ACCESS_PLATFORM)))
		return ZV_FAIL(v, -ENODEV,
			       "no VIRTIO_F_ACCESS_PLATFORM: device DMA would bypass the IOMMU");
	want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_ACCESS_PLATFORM);
	v->flush = false;
	if (v->features & (1ULL << VIRTIO_BLK_F_FLUSH)) {
		want |= 1ULL << VIRTIO_BLK_F_FLUSH;
		v->flush = true;
	}
	ret |= com_w32(v, COMMON(guest_feature_select), 0);
	ret |= com_w32(v, COMMON(guest_feature), (uint32_t)want);
	ret |= com_w32(v, COMMON(guest_feature_select), 1);
	ret |= com_w32(v, COMMON(guest_feature), (uint32_t)(want >> 32));
	ok |= VIRTIO_CONFIG_S_FEATURES_OK;
	ret |= com_w8(v, COMMON(device_status), ok);
	s = zv_status(v);
	if (ret || !(s & VIRTIO_CONFIG_S_FEATURES_OK))
		return ZV_FAIL(v, -EIO, "FEATURES_OK not accepted (status 0x%x)", s);

	ret |= com_w16(v, COMMON(msix_config), 0xffff);
	ret |= com_w16(v, COMMON(queue_select), 0);
	ret |= com_r16(v, COMMON(queue_size), &qmax);
	if (ret || qmax == 0)
		return ZV_FAIL(v, -EIO, "queue 0 not available (size %u)", qmax);
	v->qsize = qmax < ZV_QSIZE ? qmax : ZV_QSIZE;
	ret |= com_w16(v, COMMON(queue_size), v->qsize);
	ret |= com_w16(v, COMMON(queue_msix_vector), 0xffff);
	ret |= com_w64(v, COMMON(queue_desc_lo), ring[ZV_DESC].iova);
	ret |= com_w64(v, COMMON(queue_avail_lo), ring[ZV_AVAIL].iova);
	ret |= com_w64(v, COMMON(queue_used_lo), ring[ZV_USED].iova);
	ret |= com_r16(v, COMMON(queue_notify_off), &v->notify_off);
	ret |= com_w16(v, COMMON(queue_enable), 1);
	ok |= VIRTIO_CONFIG_S_DRIVER_OK;
	ret |= com_w8(v, COMMON(device_status), ok);
	s = zv_status(v);
	if (ret || !(s & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (s & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)))
		return ZV_FAIL(v, -EIO, "DRIVER_OK: status 0x%x", s);
	v->avail_idx = 0;
	v->used_last = 0;
	return 0;
}

enum zv_req zv_request(struct zv_blk *v, uint32_t type, uint64_t sector,
		       const struct zv_seg *segs, int nseg, int timeout_ms,
		       uint8_t *blk_status)
{
	struct vring_desc *desc = v->ring[ZV_DESC].host;
	struct vring_avail *avail = v->ring[ZV_AVAIL].host;
	struct vring_used *used = v->ring[ZV_USED].host;
	struct virtio_blk_outhdr *hdr = v->ring[ZV_HDR].host;
	uint8_t *st = (uint8_t *)v->ring[ZV_HDR].host + ZV_STATUS_OFF;
	uint64_t notify = v->bar_off[v->notify.bar] + v->notify.off +
			  (uint64_t)v->notify_off * v->notify_mult;
	uint16_t qidx = htole16(0);
	int i, n = 0, spins = 0;
	long t0;

	*blk_status = 0xff;
	if (nseg + 2 > v->qsize) {
		zv_err(v->err, sizeof(v->err), "%d segments do not fit the queue", nseg);
		return ZV_DEVICE_ERROR;
	}

	hdr->type = htole32(type);
	hdr->ioprio = 0;
	hdr->sector = htole64(sector);
	*st = 0xff;

	desc[n].addr = htole64(v->ring[ZV_HDR].iova);
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
	desc[n].addr = htole64(v->ring[ZV_HDR].iova + ZV_STATUS_OFF);
	desc[n].len = htole32(1);
	desc[n].flags = htole16(VRING_DESC_F_WRITE);
	desc[n].next = 0;

	avail->ring[v->avail_idx % v->qsize] = htole16(0);
	__sync_synchronize();
	v->avail_idx++;
	avail->idx = htole16(v->avail_idx);
	__sync_synchronize();

	if (zv_wr(v, notify, &qidx, sizeof(qidx))) {
		zv_err(v->err, sizeof(v->err), "queue notify write failed");
		return ZV_DEVICE_ERROR;
	}

	t0 = zv_now_ms();
	for (;;) {
		/* the device writes used->idx behind our back */
		uint16_t uidx = le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE));

		if (uidx != v->used_last) {
			__sync_synchronize();
			v->used_last++;
			if (le32toh(used->ring[(uint16_t)(v->used_last - 1) % v->qsize].id)) {
				zv_err(v->err, sizeof(v->err), "used ring: unexpected id");
				return ZV_DEVICE_ERROR;
			}
			*blk_status = __atomic_load_n(st, __ATOMIC_ACQUIRE);
			return ZV_DONE;
		}
		if (zv_now_ms() - t0 > timeout_ms) {
			zv_err(v->err, sizeof(v->err), "no completion after %d ms", timeout_ms);
			return ZV_TIMEOUT;
		}
		if (++spins % 64 == 0) {
			uint8_t s = zv_status(v);

			if (s == 0xff || (s & VIRTIO_CONFIG_S_NEEDS_RESET)) {
				zv_err(v->err, sizeof(v->err), "device status 0x%x", s);
				return ZV_DEVICE_ERROR;
			}
		}
		usleep(200);
	}
}

const char *zv_req_name(enum zv_req r)
{
	return r == ZV_DONE ? "done" : r == ZV_TIMEOUT ? "timeout" : "device error";
}

/* ------------------------------------------------------------ kmsg */

int zv_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* next record's text, 1; 0 when none is pending; -errno */
static int zv_kmsg_next(int fd, char *text, size_t len)
{
	char rec[1024];
	ssize_t n;
	char *p;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten records: go on */
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		rec[n] = 0;
		p = strchr(rec, ';');	/* "prio,seq,usec,flags;text\n" */
		p = p ? p + 1 : rec;
		p[strcspn(p, "\n")] = 0;
		snprintf(text, len, "%s", p);
		return 1;
	}
}

int zv_kmsg_wait(int fd, const char *needle, int timeout_ms, int quiet_ms,
		 char *line, size_t line_len)
{
	long t0 = zv_now_ms(), last = -1;
	char text[1024];
	int ret;

	for (;;) {
		ret = zv_kmsg_next(fd, text, sizeof(text));
		if (ret < 0)
			return ret;
		if (ret > 0) {
			if (strstr(text, needle)) {
				if (last < 0 && line)
					snprintf(line, line_len, "%s", text);
				last = zv_now_ms();
			}
			continue;
		}
		if (last >= 0 && zv_now_ms() - last >= quiet_ms)
			return 0;
		if (last < 0 && zv_now_ms() - t0 > timeout_ms)
			return -ETIMEDOUT;
		zv_sleep_ms(20);
	}
}

/* ------------------------------------------------------------ recovery */

int zv_cdev_bdf(const char *cdev, char *bdf, size_t len)
{
	const char *name = strrchr(cdev, '/');
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	char *b;

	name = name ? name + 1 : cdev;
	snprintf(path, sizeof(path), "/sys/class/vfio-dev/%s/device", name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	b = strrchr(target, '/');
	snprintf(bdf, len, "%s", b ? b + 1 : target);
	return 0;
}

/* the vfio-dev name of the PCI device, e.g. "vfio0"; 0 or -ENOENT */
static int zv_bdf_vfio_name(const char *bdf, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(name, len, "%s", de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

static bool zv_bound_to_vfio(const char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(strrchr(target, '/') ? strrchr(target, '/') + 1 : target, "vfio-pci");
}

int zv_healthy(const char *cdev, char *why, size_t len)
{
	struct zv_blk v;
	struct zdev d;
	int ret;

	ret = zdev_open(&d, cdev);
	if (ret) {
		snprintf(why, len, "open %s: %s", cdev, strerror(-ret));
		return ret;
	}
	ret = zv_probe(&v, d.devfd);
	if (!ret && zv_status(&v) == 0xff) {
		snprintf(v.err, sizeof(v.err), "device status 0xff");
		ret = -EIO;
	}
	if (ret)
		snprintf(why, len, "%s", v.err);
	zdev_close(&d);
	return ret;
}

int zv_recover(const char *cdev, int kmsg_fd, char *err, size_t err_len)
{
	const char *want = strrchr(cdev, '/') ? strrchr(cdev, '/') + 1 : cdev;
	char bdf[64], path[PATH_MAX], name[256], line[256];
	struct stat st;
	long t0;
	int ret;

	ret = zv_cdev_bdf(cdev, bdf, sizeof(bdf));
	if (ret) {
		zv_err(err, err_len, "no PCI device behind %s: %s", cdev, strerror(-ret));
		return ret;
	}
	/*
	 * The host handles the function's error event asynchronously (and
	 * leaves the device in the permanent-failure state vfio-pci cannot
	 * recover from); recovering before that would let a late event hit
	 * the re-added device.
	 */
	if (kmsg_fd >= 0)	/* no event within 5 s: recover anyway */
		zv_kmsg_wait(kmsg_fd, "reports an error for PCI function", 5000, 300,
			     line, sizeof(line));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/recover", bdf);
	ret = zfile_write_str(path, "1");
	if (ret) {
		zv_err(err, err_len, "write 1 to %s: %s", path, strerror(-ret));
		return ret;
	}
	/* recover_store removes the PCI device, re-enables the function and rescans */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	for (t0 = zv_now_ms(); stat(path, &st); zv_sleep_ms(20)) {
		if (zv_now_ms() - t0 > 5000) {
			zv_err(err, err_len, "%s did not come back after recover", bdf);
			return -ENODEV;
		}
	}
	if (!zv_bound_to_vfio(bdf)) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
		ret = zfile_write_str(path, "vfio-pci");
		if (ret) {
			zv_err(err, err_len, "driver_override of %s: %s", bdf, strerror(-ret));
			return ret;
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		if (!access(path, W_OK))
			zfile_write_str(path, bdf);
		ret = zfile_write_str("/sys/bus/pci/drivers/vfio-pci/bind", bdf);
		if (ret && !zv_bound_to_vfio(bdf)) {
			zv_err(err, err_len, "bind %s to vfio-pci: %s", bdf, strerror(-ret));
			return ret;
		}
	}
	for (t0 = zv_now_ms(); zv_bdf_vfio_name(bdf, name, sizeof(name)) ||
	     stat(cdev, &st); zv_sleep_ms(20)) {
		if (zv_now_ms() - t0 > 5000) {
			zv_err(err, err_len, "no vfio cdev for %s after recover", bdf);
			return -ENODEV;
		}
	}
	if (strcmp(name, want)) {
		zv_err(err, err_len, "%s came back as %s, not %s", bdf, name, want);
		return -EXDEV;
	}
	return 0;
}
