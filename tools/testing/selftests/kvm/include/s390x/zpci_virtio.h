/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Minimal virtio-blk driver over VFIO for the s390 zPCI RPCIT selftests.
 *
 * The emulated host's zPCI function is a modern virtio-blk device
 * (1af4:1042) with VIRTIO_F_ACCESS_PLATFORM, so every DMA it does goes
 * through the s390 IOMMU: the rings, the request header, the data buffers
 * and the status byte are all addressed by IOVA. The caller owns the memory
 * (guest pages behind guest IOVAs) and tells the driver, for each of the
 * four ring pages, the IOVA the device uses and the host address the test
 * reads and writes. One request is in flight at a time.
 *
 * The driver also knows how to bring a zPCI function back from the error
 * state a DMA fault leaves it in (zv_recover()).
 */
#ifndef SELFTEST_KVM_S390_ZPCI_VIRTIO_H
#define SELFTEST_KVM_S390_ZPCI_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#define ZV_QSIZE		16
#define ZV_SECTOR		512
#define ZV_DISK_SIZE		(16 * 0x100000ULL)	/* function 0's disk image */

/* the four pages the queue lives in */
enum { ZV_DESC, ZV_AVAIL, ZV_USED, ZV_HDR, ZV_RING_PAGES };
#define ZV_STATUS_OFF		0x100	/* status byte inside the header page */

struct zv_page {
	uint64_t iova;		/* what the device uses */
	void *host;		/* what the test reads and writes */
};

struct zv_cap {
	bool present;
	uint8_t bar;
	uint32_t off;
	uint32_t len;
};

struct zv_blk {
	int devfd;
	uint64_t cfg_off;
	uint64_t bar_off[6];
	struct zv_cap common, notify, isr, devcfg;
	uint32_t notify_mult;
	uint16_t qsize;
	uint16_t notify_off;
	uint16_t avail_idx;
	uint16_t used_last;
	uint64_t features;	/* offered by the device */
	bool flush;		/* VIRTIO_BLK_F_FLUSH negotiated */
	struct zv_page ring[ZV_RING_PAGES];
	char err[256];		/* reason of the last failure */
};

struct zv_seg {
	uint64_t iova;
	uint32_t len;
};

enum zv_req { ZV_DONE, ZV_TIMEOUT, ZV_DEVICE_ERROR };

/*
 * Find the virtio-pci capabilities of the (bound) vfio device and enable
 * memory space + bus mastering. 0 or -errno (reason in v->err).
 */
int zv_probe(struct zv_blk *v, int devfd);
/*
 * Reset the device, negotiate VERSION_1 | ACCESS_PLATFORM (| FLUSH) and
 * set up queue 0 in the given pages (zeroed here). 0 or -errno.
 */
int zv_start(struct zv_blk *v, const struct zv_page ring[ZV_RING_PAGES]);
/* device_status, 0xff when the function does not answer */
uint8_t zv_status(struct zv_blk *v);
/* best effort: device_status = 0 */
void zv_reset(struct zv_blk *v);
/*
 * Submit one request of type VIRTIO_BLK_T_* (header, nseg data segments,
 * status byte) and poll for its completion; *blk_status gets the status
 * byte the device wrote (0xff if none).
 */
enum zv_req zv_request(struct zv_blk *v, uint32_t type, uint64_t sector,
		       const struct zv_seg *segs, int nseg, int timeout_ms,
		       uint8_t *blk_status);
const char *zv_req_name(enum zv_req r);

/*
 * Kernel log watcher: zv_kmsg_open() positions a /dev/kmsg reader at the
 * end of the log; zv_kmsg_wait() waits up to timeout_ms for a new record
 * containing @needle (copied to @line), then for quiet_ms without further
 * records containing @needle. 0, -ETIMEDOUT or -errno.
 */
int zv_kmsg_open(void);
int zv_kmsg_wait(int fd, const char *needle, int timeout_ms, int quiet_ms,
		 char *line, size_t line_len);

/* PCI address (e.g. "0001:00:00.0") behind a vfio cdev path; 0 or -errno */
int zv_cdev_bdf(const char *cdev, char *bdf, size_t len);
/*
 * Bring the zPCI function behind the (closed) vfio cdev back after a DMA
 * fault left it in the error state: wait for the host to have handled the
 * error event (kmsg_fd from zv_kmsg_open() before the fault, or -1), write
 * 1 to its sysfs "recover" attribute (the function is disabled, re-enabled
 * and rescanned), bind the new PCI device to vfio-pci again and wait for the
 * same cdev to reappear. 0 or -errno (reason in err).
 */
int zv_recover(const char *cdev, int kmsg_fd, char *err, size_t err_len);
/*
 * The function behind the vfio cdev can be bound and its virtio registers
 * answer (device status not 0xff): 0, or -errno with the reason in why.
 */
int zv_healthy(const char *cdev, char *why, size_t len);

#endif
