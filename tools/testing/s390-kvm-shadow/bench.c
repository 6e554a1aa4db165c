// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks of the s390 KVM shadow engine (host-native, no sanitizers).
 * The shim's pin is trivial, so the figures are the engine's own cost.
 * Prints figures only; never asserts on time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "guest.h"

static u64 rnd_state = 0x5390beefULL;

static u64 rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int setup(struct fake_guest *fg, struct s390_shadow *sh, u64 ram,
		 u64 *iota)
{
	struct s390_shadow_result r;

	if (fg_init(fg, ram) || s390_shadow_init(sh, &fake_ops, fg))
		return -1;
	fg->trivial_pin = true;
	/* data pages in the first 16 MiB (a PTE of frame 0 would be 0: an
	 * error), guest tables above
	 */
	fg->data_end = 16ULL << 20;
	fg->table_next = fg->data_end;
	*iota = fg_new_root(fg, ZPCI_IOTA_RTTO);
	return s390_shadow_set_iota(sh, *iota, &r);
}

static double timed_refresh(struct s390_shadow *sh, u64 iova, u64 len,
			    struct s390_shadow_result *r)
{
	double t = now_ns();
	int rc = s390_shadow_refresh(sh, iova, len, r);

	t = now_ns() - t;
	if (rc) {
		fprintf(stderr, "refresh failed: %d\n", rc);
		exit(1);
	}
	return t;
}

/* per-page cost of a dense mapping, refreshed in RPCIT-sized ranges */
static void bench_per_page(u64 npages, u64 chunk)
{
	struct s390_shadow_result r;
	struct fake_guest fg;
	struct s390_shadow sh;
	double tmap = 0, tsame = 0, tunmap = 0, trel;
	u64 iota, i, visited = 0;

	if (setup(&fg, &sh, 64ULL << 20, &iota))
		exit(1);
	for (i = 0; i < npages; i++)
		fg_map(&fg, iota, i * G_PAGE, (i % 4096 + 1) * G_PAGE, i & 1);
	for (i = 0; i < npages; i += chunk)
		tmap += timed_refresh(&sh, i * G_PAGE, chunk * G_PAGE, &r);
	for (i = 0; i < npages; i += chunk) {
		tsame += timed_refresh(&sh, i * G_PAGE, chunk * G_PAGE, &r);
		visited += r.visited;
	}
	for (i = 0; i < npages; i++)
		fg_unmap(&fg, iota, i * G_PAGE);
	for (i = 0; i < npages; i += chunk)
		tunmap += timed_refresh(&sh, i * G_PAGE, chunk * G_PAGE, &r);
	trel = now_ns();
	s390_shadow_release(&sh);
	trel = now_ns() - trel;
	printf("per page (%llu pages, refresh %llu pages per call): map %.1f ns, unchanged %.1f ns, unmap %.1f ns + release %.1f ns\n",
	       (unsigned long long)npages, (unsigned long long)chunk,
	       tmap / npages, tsame / npages, tunmap / npages, trel / npages);
	s390_shadow_destroy(&sh);
	fg_destroy(&fg);
}

/* global refresh over the whole 4 TiB RTTO aperture */
static void bench_global(u64 nvalid)
{
	struct s390_shadow_result r;
	struct fake_guest fg;
	struct s390_shadow sh;
	u64 iota, i, *iovas;
	double t;

	/* guest tables: up to one 2 KiB page table per page, plus 2048 STs */
	if (setup(&fg, &sh, nvalid * 4096 + 2048 * 65536 + (32ULL << 20),
		  &iota))
		exit(1);
	iovas = calloc(nvalid, sizeof(*iovas));
	for (i = 0; i < nvalid; i++) {
		iovas[i] = (rnd() % (G_REACH / G_PAGE)) * G_PAGE;
		fg_map(&fg, iota, iovas[i], (i % 4096 + 1) * G_PAGE, false);
	}
	t = timed_refresh(&sh, 0, G_REACH, &r);
	printf("global refresh, %6llu valid pages in 4 TiB: populate %10.0f ns (%8llu guest entries, %6llu reads)",
	       (unsigned long long)nvalid, t, (unsigned long long)r.visited,
	       (unsigned long long)r.reads);
	t = timed_refresh(&sh, 0, G_REACH, &r);
	printf(", unchanged %10.0f ns (%8llu entries)", t,
	       (unsigned long long)r.visited);
	/* lazy unmap: the guest invalidated every PTE, then one global RPCIT */
	for (i = 0; i < nvalid; i++)
		fg_unmap(&fg, iota, iovas[i]);
	t = timed_refresh(&sh, 0, G_REACH, &r);
	printf(", all unmapped %10.0f ns (%8llu entries)\n", t,
	       (unsigned long long)r.visited);
	s390_shadow_release(&sh);
	s390_shadow_destroy(&sh);
	fg_destroy(&fg);
	free(iovas);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("shadow engine benchmarks (trivial pin, figures only)\n");
	bench_per_page(262144, 1);
	bench_per_page(262144, 256);
	bench_per_page(262144, 262144);
	bench_global(10);
	bench_global(1000);
	bench_global(100000);
	printf("naive page-by-page walk of the aperture: %llu guest PTEs\n",
	       (unsigned long long)(G_REACH / G_PAGE));
	return 0;
}
