// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks of the s390 KVM shadow engine (host-native, no sanitizers).
 * The fake's pin is trivial, so the figures are the engine's own cost.
 * Prints figures only; never asserts on time.
 *
 *   bench_shadow [INSN]           time every case; with INSN (written by the
 *                                 instruction pass) print its counts too
 *   bench_shadow --insn INSN OUT  instruction pass, run under
 *                                 valgrind --tool=callgrind
 *                                 --callgrind-out-file=OUT
 *                                 --collect-atstart=no
 *                                 --toggle-collect=s390_shadow_refresh
 *                                 --toggle-collect=s390_shadow_release
 *                                 --toggle-collect=s390_shadow_read_guest:
 *                                 writes the Ir per unit of every case to INSN
 *
 * Both passes run the same cases in the same order.  What is measured is
 * the engine calls of the caller's protocol only: s390_shadow_refresh()
 * followed by s390_shadow_release(), with the fake's trivial pin and its
 * table allocations; the fake's memcpy() guest reads are timed but not
 * counted.  The guest-side table updates between the phases are not
 * measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>
#include "guest.h"

#define NS_ROUNDS	3
#define MAX_CASES	32

struct bench_case {
	char label[64];
	bool per_page;		/* per 4 KiB page, else per refresh call */
	double ns;		/* best of the rounds */
	double insn;		/* from the instruction pass, < 0: none */
};

static struct bench_case cases[MAX_CASES];
static unsigned int nr_cases;
static bool insn_mode;
static const char *cg_out;
static unsigned int cg_dumps;
static double phase_t0;

static u64 rnd_state;

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

/* Ir total of the callgrind dump just written (OUT.N) */
static double cg_last_total(void)
{
	char path[4096], line[256];
	double v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s.%u", cg_out, ++cg_dumps);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "bench: cannot open %s\n", path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "totals:", 7))
			v = strtod(line + 7, NULL);
	fclose(f);
	remove(path);
	if (v < 0) {
		fprintf(stderr, "bench: no totals in %s\n", path);
		exit(1);
	}
	return v;
}

static void phase_begin(void)
{
	if (insn_mode)
		CALLGRIND_ZERO_STATS;
	phase_t0 = now_ns();
}

/* End of the measured phase of case @label, @units pages or refreshes */
static void phase_end(const char *label, bool per_page, double units)
{
	double t = now_ns() - phase_t0, insn = -1;
	struct bench_case *c;
	unsigned int i;

	if (insn_mode) {
		CALLGRIND_DUMP_STATS_AT(label);
		insn = cg_last_total() / units;
	}
	for (i = 0; i < nr_cases; i++)
		if (!strcmp(cases[i].label, label))
			break;
	c = &cases[i];
	if (i == nr_cases) {
		if (nr_cases == MAX_CASES)
			exit(1);
		nr_cases++;
		snprintf(c->label, sizeof(c->label), "%s", label);
		c->per_page = per_page;
		c->ns = t / units;
		c->insn = insn;
	} else if (t / units < c->ns) {
		c->ns = t / units;
	}
}

static int setup(struct fake_guest *fg, struct s390_shadow *sh, u64 ram,
		 u64 *iota)
{
	struct s390_shadow_result r;

	if (fg_init(fg, ram) || s390_shadow_init(sh, fg))
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

/* one refresh + release as the caller's protocol does it */
static void refresh_release(struct s390_shadow *sh, u64 iova, u64 len)
{
	struct s390_shadow_result r;
	int rc = s390_shadow_refresh(sh, iova, len, &r);

	if (rc) {
		fprintf(stderr, "refresh failed: %d\n", rc);
		exit(1);
	}
	s390_shadow_release(sh);
}

static void refresh_all(struct s390_shadow *sh, u64 npages, u64 chunk)
{
	u64 i;

	for (i = 0; i < npages; i += chunk)
		refresh_release(sh, i * G_PAGE, chunk * G_PAGE);
}

/* per-page cost of a dense mapping, refreshed in RPCIT-sized ranges */
static void bench_per_page(u64 npages, u64 chunk)
{
	struct fake_guest fg;
	struct s390_shadow sh;
	char label[64];
	u64 iota, i;

	if (setup(&fg, &sh, 64ULL << 20, &iota))
		exit(1);
	for (i = 0; i < npages; i++)
		fg_map(&fg, iota, i * G_PAGE, (i % 4096 + 1) * G_PAGE, i & 1);

	snprintf(label, sizeof(label), "map       %6llu page%s/refresh:",
		 (unsigned long long)chunk, chunk > 1 ? "s" : "");
	phase_begin();
	refresh_all(&sh, npages, chunk);
	phase_end(label, true, npages);

	snprintf(label, sizeof(label), "unchanged %6llu page%s/refresh:",
		 (unsigned long long)chunk, chunk > 1 ? "s" : "");
	phase_begin();
	refresh_all(&sh, npages, chunk);
	phase_end(label, true, npages);

	for (i = 0; i < npages; i++)
		fg_unmap(&fg, iota, i * G_PAGE);
	snprintf(label, sizeof(label), "unmap     %6llu page%s/refresh:",
		 (unsigned long long)chunk, chunk > 1 ? "s" : "");
	phase_begin();
	refresh_all(&sh, npages, chunk);
	phase_end(label, true, npages);

	if (sh.nr_pinned || sh.nr_pts || sh.nr_tables != 1) {
		fprintf(stderr, "bench: shadow not empty after unmap\n");
		exit(1);
	}
	s390_shadow_destroy(&sh);
	fg_destroy(&fg);
}

/* global refresh over the whole 4 TiB RTTO aperture */
static void bench_global(u64 nvalid)
{
	struct fake_guest fg;
	struct s390_shadow sh;
	u64 iota, i, *iovas;
	char label[64];

	/* guest tables: up to one 2 KiB page table per page, plus 2048 STs */
	if (setup(&fg, &sh, nvalid * 4096 + 2048 * 65536 + (32ULL << 20),
		  &iota))
		exit(1);
	iovas = calloc(nvalid, sizeof(*iovas));
	if (!iovas)
		exit(1);
	rnd_state = 0x5390beefULL;
	for (i = 0; i < nvalid; i++) {
		iovas[i] = (rnd() % (G_REACH / G_PAGE)) * G_PAGE;
		fg_map(&fg, iota, iovas[i], (i % 4096 + 1) * G_PAGE, false);
	}
	snprintf(label, sizeof(label), "global 4 TiB, %6llu valid, map:",
		 (unsigned long long)nvalid);
	phase_begin();
	refresh_release(&sh, 0, G_REACH);
	phase_end(label, false, 1);

	snprintf(label, sizeof(label), "global 4 TiB, %6llu valid, unchanged:",
		 (unsigned long long)nvalid);
	phase_begin();
	refresh_release(&sh, 0, G_REACH);
	phase_end(label, false, 1);

	/* lazy unmap: the guest invalidated every PTE, then one global RPCIT */
	for (i = 0; i < nvalid; i++)
		fg_unmap(&fg, iota, iovas[i]);
	snprintf(label, sizeof(label), "global 4 TiB, %6llu valid, unmap:",
		 (unsigned long long)nvalid);
	phase_begin();
	refresh_release(&sh, 0, G_REACH);
	phase_end(label, false, 1);

	s390_shadow_destroy(&sh);
	fg_destroy(&fg);
	free(iovas);
}

static void run_all(void)
{
	static const u64 chunks[] = { 1, 256, 262144 };
	static const u64 nvalid[] = { 10, 1000, 100000 };
	unsigned int i;

	for (i = 0; i < 3; i++)
		bench_per_page(262144, chunks[i]);
	for (i = 0; i < 3; i++)
		bench_global(nvalid[i]);
}

static int write_insn(const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f)
		return -1;
	for (i = 0; i < nr_cases; i++)
		fprintf(f, "%.1f %s\n", cases[i].insn, cases[i].label);
	return fclose(f);
}

/* Merge the counts of the instruction pass; false if there are none */
static bool read_insn(const char *path)
{
	char line[256];
	unsigned int i, n = 0;
	FILE *f;

	f = path ? fopen(path, "r") : NULL;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *label, *nl = strchr(line, '\n');
		double v = strtod(line, &label);

		if (nl)
			*nl = 0;
		if (*label == ' ')
			label++;
		for (i = 0; i < nr_cases; i++) {
			if (!strcmp(cases[i].label, label)) {
				cases[i].insn = v;
				n++;
			}
		}
	}
	fclose(f);
	return n == nr_cases;
}

int main(int argc, char **argv)
{
	bool have_insn;
	unsigned int i;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "--insn")) {
		if (!RUNNING_ON_VALGRIND) {
			fprintf(stderr, "bench: --insn needs valgrind --tool=callgrind\n");
			return 1;
		}
		insn_mode = true;
		cg_out = argv[3];
		run_all();
		return write_insn(argv[2]) ? 1 : 0;
	}
	for (r = 0; r < NS_ROUNDS; r++)
		run_all();
	have_insn = read_insn(argc > 1 ? argv[1] : NULL);
	printf("engine: counted: inside %s only: %s; %s\n",
	       "s390_shadow_refresh() + s390_shadow_release()",
	       "the engine with a trivial fake pin/unpin and malloc() tables (instructions: callgrind Ir without the fake's memcpy() guest reads; ns: with them)",
	       "the KVM side's pin, guest reads and host RPCIT are not included");
	for (i = 0; i < nr_cases; i++) {
		struct bench_case *c = &cases[i];
		bool pp = c->per_page;
		double t = pp ? c->ns : c->ns / 1000;

		if (have_insn)
			printf("engine: %-38s %10.1f %s %12.*f insn per %s\n",
			       c->label, t, pp ? "ns" : "us", pp ? 1 : 0,
			       c->insn, pp ? "page" : "refresh");
		else
			printf("engine: %-38s %10.1f %s per %s\n", c->label, t,
			       pp ? "ns" : "us", pp ? "page" : "refresh");
	}
	if (!have_insn)
		printf("engine: instruction counts need valgrind (apt-get install valgrind)\n");
	return 0;
}
