// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest table builder, host helpers and replaying VMM for zpci_rpcit_replay
 * and zpci_rpcit_bench (see zpci_trace.h); the trace reader is in
 * zpci_trace_parse.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zpci_trace.h"

/* ------------------------------------------------------ table allocator */

bool zgt_in_ram(const struct zgt_alloc *a, uint64_t gpa, uint64_t len)
{
	return gpa >= a->ram_base && gpa < a->ram_end && len <= a->ram_end - gpa;
}

static void ga_mark(struct zgt_alloc *a, uint64_t gpa, uint64_t len)
{
	uint64_t p, end;

	if (gpa < a->ram_base || gpa >= a->ram_end)
		return;
	end = gpa + len > gpa ? gpa + len : ~0ULL;
	for (p = (gpa - a->ram_base) >> 12;
	     p < (end - a->ram_base + 0xfff) >> 12 && p < a->npages; p++)
		a->used[p] = 1;
}

int zgt_alloc_init(struct zgt_alloc *a, struct zvm *vm, const struct ztrace *t)
{
	uint32_t i;

	memset(a, 0, sizeof(*a));
	a->vm = vm;
	if (vm->hi_mem) {
		a->ram_base = vm->hi_gpa;
		a->ram_end = vm->hi_gpa + vm->hi_size;
	} else {
		a->ram_base = 0;
		a->ram_end = vm->mem_size;
	}
	a->npages = (a->ram_end - a->ram_base) >> 12;
	a->used = calloc(a->npages, 1);
	if (!a->used)
		return -ENOMEM;
	/* the lowcore of the traced guest (its own, if relocated) */
	ga_mark(a, a->ram_base, 2 * ZPCI_PAGE_SIZE);
	for (i = 0; i < t->nptes; i++)
		ga_mark(a, t->ptes[i].entry & ZT_PTE_ADDR_MASK, ZPCI_PAGE_SIZE);
	for (i = 0; i < t->nrecs; i++)
		if (t->recs[i].type == ZTR_IOAT && t->recs[i].iota)
			ga_mark(a, t->recs[i].iota & ~0x3fffULL, ZT_TABLE_SIZE);
	a->next = a->npages;
	return 0;
}

void zgt_alloc_free(struct zgt_alloc *a)
{
	free(a->used);
	a->used = NULL;
}

/* npages free pages, naturally aligned, counting down from the top of RAM */
static uint64_t ga_get(struct zgt_alloc *a, uint64_t npages)
{
	uint64_t p, k;

	p = a->next & ~(npages - 1);
	while (p >= npages) {
		p -= npages;
		for (k = 0; k < npages; k++)
			if (a->used[p + k])
				break;
		if (k == npages) {
			ga_mark(a, a->ram_base + (p << 12), npages << 12);
			a->next = p;
			return a->ram_base + (p << 12);
		}
	}
	return 0;
}

uint64_t zgt_alloc_frames(struct zgt_alloc *a, uint64_t npages)
{
	return ga_get(a, npages);
}

static uint64_t *gpa_ptr(struct zgt *g, uint64_t gpa)
{
	return (uint64_t *)zvm_ptr(g->a->vm, gpa);
}

/* the zt_*() table allocator of a zgt: a region/segment table or a page table */
static uint64_t zgt_new_table(void *priv, bool pt)
{
	struct zgt *g = priv;
	struct zgt_alloc *a = g->a;
	uint64_t gpa;

	if (!pt)
		return ga_get(a, 4);
	if (!a->chunk_left) {
		a->chunk = ga_get(a, 1);
		if (!a->chunk)
			return 0;
		a->chunk_left = 2;
	}
	gpa = a->chunk + (2 - a->chunk_left) * ZT_PT_SIZE;
	a->chunk_left--;
	if (g->npts < ZGT_MAX_PT)
		g->pts[g->npts++] = gpa;
	return gpa;
}

/* ------------------------------------------------------ guest tables */

int zgt_set_iota(struct zgt *g, struct zgt_alloc *a, uint64_t iota, char *err,
		 size_t errlen)
{
	uint64_t origin = iota & ~0x3fffULL;
	int ret;

	if (g->a && g->iota == iota)
		return 0;	/* re-registration of the same tables */
	g->a = a;
	g->iota = iota;
	g->npts = 0;
	ret = zt_init_at(&g->t, a->vm, origin, (iota >> 2) & 3, a->ram_base, a->ram_end);
	g->t.alloc = zgt_new_table;
	g->t.priv = g;
	if (ret) {
		snprintf(err, errlen, "table origin 0x%llx outside guest RAM [0x%llx, 0x%llx)",
			 (unsigned long long)origin, (unsigned long long)a->ram_base,
			 (unsigned long long)a->ram_end);
		return -1;
	}
	return 0;
}

/* the entry for iova in the level-to table (-1: the PTE), NULL if unreachable */
static uint64_t *zgt_walk(struct zgt *g, uint64_t iova, int to, bool create,
			  int *fail_level)
{
	uint64_t *e;

	return zt_walk(&g->t, iova, to, create, &e, fail_level) ? NULL : e;
}

int zgt_write_pte(struct zgt *g, uint64_t iova, uint64_t entry, char *err,
		  size_t errlen)
{
	if (zt_write_pte(&g->t, iova, entry)) {
		snprintf(err, errlen,
			 "no room for guest tables for iova 0x%llx (guest RAM [0x%llx, 0x%llx), DT %d)",
			 (unsigned long long)iova, (unsigned long long)g->a->ram_base,
			 (unsigned long long)g->a->ram_end, g->t.dt);
		return -1;
	}
	return 0;
}

int zgt_invalidate_upper(struct zgt *g, uint64_t iova, uint64_t len, int level,
			 char *err, size_t errlen)
{
	if (zt_invalidate_upper(&g->t, iova, len, level)) {
		snprintf(err, errlen, "inv level %s above the IOTA's top level (DT %d)",
			 level ? "rt" : "st", g->t.dt);
		return -1;
	}
	return 0;
}

void zgt_invalidate_all(struct zgt *g)
{
	uint64_t *e, v;
	uint32_t i, k;

	for (i = 0; i < g->npts; i++) {
		e = gpa_ptr(g, g->pts[i]);
		for (k = 0; k < ZT_PT_ENTRIES; k++) {
			v = zt_get(&e[k]);
			if (!(v & ZT_PTE_INVALID))
				zt_set(&e[k], v | ZT_PTE_INVALID);
		}
	}
}

bool zgt_lookup(struct zgt *g, uint64_t iova, uint64_t *pte)
{
	uint64_t *e = zgt_walk(g, iova, -1, false, NULL);

	if (!e)
		return false;
	*pte = zt_get(e);
	return !(*pte & ZT_PTE_INVALID);
}

int zgt_apply(struct zgt *g, const struct ztrace *t, const struct ztr_rec *r,
	      char *err, size_t errlen)
{
	uint64_t last = r->iova + r->len - 1;
	const struct ztr_pte *p;
	const struct ztr_inv *v;
	uint32_t i;

	if (!g->a) {
		snprintf(err, errlen, "no IOAT registered for fh 0x%x before this RPCIT",
			 r->fh);
		return -1;
	}
	if (r->global)
		zgt_invalidate_all(g);
	for (i = 0; i < r->npte; i++) {
		p = &t->ptes[r->pte0 + i];
		if (p->iova < r->iova || p->iova > last) {
			snprintf(err, errlen, "pte iova=0x%llx outside the RPCIT range",
				 (unsigned long long)p->iova);
			return -1;
		}
		if (zgt_write_pte(g, p->iova, p->entry, err, errlen))
			return -1;
	}
	for (i = 0; i < r->ninv; i++) {
		v = &t->invs[r->inv0 + i];
		if (zgt_invalidate_upper(g, v->iova, v->len, v->level, err, errlen))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------ host helpers */

uint64_t zhpa_of(const void *hva)
{
	static int fd = -1;
	uint64_t ent;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &ent, 8, ((uintptr_t)hva >> 12) * 8) != 8)
		return 0;
	if (!(ent & (1ULL << 63)))
		return 0;
	return (ent & ((1ULL << 55) - 1)) << 12;
}

long zhost_rpcits(const char *vfio_cdev)
{
	char path[320], link[256], line[256];
	const char *name = strrchr(vfio_cdev, '/');
	long total = 0;
	bool any = false;
	ssize_t n;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/sys/class/vfio-dev/%s/device",
		 name ? name + 1 : vfio_cdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = 0;
	p = strrchr(link, '/');
	snprintf(path, sizeof(path), "/sys/kernel/debug/pci/%s/statistics",
		 p ? p + 1 : link);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		p = strchr(line, ':');
		if (!p)
			continue;
		if (strstr(line, "Global RPCITs") || strstr(line, "Sync Map RPCITs") ||
		    strstr(line, "Sync RPCITs")) {
			total += strtol(p + 1, NULL, 10);
			any = true;
		}
	}
	fclose(f);
	return any ? total : -1;
}

void zraise_memlock(void)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	setrlimit(RLIMIT_MEMLOCK, &rl);
}

/* ------------------------------------------------------ replaying VMM */

static int zovercommit_saved = -1;

static void zset_overcommit(int mode)
{
	const char *p = "/proc/sys/vm/overcommit_memory";
	char buf[16];
	int fd, n;

	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0 && zovercommit_saved < 0) {
		buf[n] = 0;
		zovercommit_saved = atoi(buf);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", mode);
	if (pwrite(fd, buf, n, 0) != n)
		fprintf(stderr, "note: cannot set %s\n", p);
	close(fd);
}

struct zrep_fn *zrep_fn_of(struct zrep *rep, uint32_t fh)
{
	int i;

	for (i = 0; i < rep->nfn; i++)
		if (rep->fn[i].fh == fh)
			return &rep->fn[i];
	return NULL;
}

/* MemAvailable of the host, bytes; 0 if unknown */
static uint64_t zmem_available(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static int cmp_gpa(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Pinned-parent mode: map guest RAM into every function's parent IOAS at
 * IOVA = GPA (iommufd pins it there). All of it if the host can pin that
 * much, else the traced DMA frames, in runs of contiguous pages.
 */
static int zrep_map_parents(struct zrep *rep, bool frames_only)
{
	struct ztrace *t = rep->t;
	uint64_t ram = rep->a.ram_end - rep->a.ram_base, *fr, start, len;
	uint32_t i, n = 0, k;
	int ret, j;

	rep->parent_all = !frames_only && zmem_available() > ram + 256 * ZPCI_MIB;
	fr = calloc(t->nptes + 1, sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	if (rep->parent_all) {
		fr[n++] = rep->a.ram_base;
	} else {
		for (i = 0; i < t->nptes; i++) {
			uint64_t f = t->ptes[i].entry & ZT_PTE_ADDR_MASK;

			if (zgt_in_ram(&rep->a, f, ZPCI_PAGE_SIZE))
				fr[n++] = f;
		}
		qsort(fr, n, sizeof(*fr), cmp_gpa);
	}
	rep->parent_pages = 0;
	rep->parent_runs = 0;
	for (i = 0; i < n; i = k) {
		start = fr[i];
		if (rep->parent_all) {
			len = ram;
			k = n;
		} else {
			len = ZPCI_PAGE_SIZE;
			for (k = i + 1; k < n && fr[k] <= start + len; k++)
				if (fr[k] == start + len)
					len += ZPCI_PAGE_SIZE;
		}
		for (j = 0; j < rep->nfn; j++) {
			ret = zdev_parent_map(&rep->fn[j].d, zvm_ptr(&rep->vm, start), start,
					      len);
			if (ret) {
				printf("ERROR: %s: parent IOAS map [0x%llx, 0x%llx]: %s\n",
				       rep->fn[j].cdev, (unsigned long long)start,
				       (unsigned long long)(start + len - 1), strerror(-ret));
				free(fr);
				return ret;
			}
		}
		rep->parent_pages += len / ZPCI_PAGE_SIZE;
		rep->parent_runs++;
	}
	free(fr);
	return 0;
}

int zrep_init(struct zrep *rep, struct ztrace *t)
{
	return zrep_init_flags(rep, t, 0);
}

int zrep_init_flags(struct zrep *rep, struct ztrace *t, unsigned int flags)
{
	bool pinned_parent = flags & ZREP_PINNED_PARENT;
	uint64_t mem, fr, base = 0, end = ~0ULL;
	struct zrep_fn *f;
	uint32_t i;
	int k, ret;

	memset(rep, 0, sizeof(*rep));
	rep->t = t;
	rep->vm.kvm_fd = -1;
	rep->vm.vm_fd = -1;
	rep->vm.vcpu_fd = -1;
	rep->hwpt_flags = pinned_parent ? IOMMU_HWPT_S390_KVM_PINNED_PARENT : 0;
	for (k = 0; k < ZTR_MAX_FH; k++) {
		rep->fn[k].d.iommufd = -1;
		rep->fn[k].d.devfd = -1;
	}
	if (access("/dev/kvm", R_OK | W_OK) || access("/dev/iommu", R_OK | W_OK)) {
		printf("SKIP: /dev/kvm or /dev/iommu missing\n");
		return 4;
	}
	for (k = 0; k < t->nfh; k++) {
		f = &rep->fn[k];
		f->fh = t->fhs[k];
		snprintf(f->cdev, sizeof(f->cdev), "/dev/vfio/devices/vfio%d", k);
		if (access(f->cdev, R_OK | W_OK)) {
			printf("ERROR: trace %s uses %d fh (0x%x is number %d): %s missing: %s%d\n",
			       t->path, t->nfh, f->fh, k + 1, f->cdev,
			       "boot the emulated host with ZPCI_FUNCS=", t->nfh);
			return 1;
		}
	}
	zraise_memlock();
	zpin_settle(400, 10000);
	rep->kb0 = zpin_vmpin_kb();
	rep->foll0 = zpin_foll_pinned();

	/* the functions first: their aperture places guest RAM in pinned-parent mode */
	for (k = 0; k < t->nfh; k++) {
		uint64_t pba, pal;

		f = &rep->fn[k];
		ret = zdev_open(&f->d, f->cdev);
		if (ret) {
			printf("ERROR: %s: open/bind/nest parent: %s\n", f->cdev,
			       strerror(-ret));
			return 1;
		}
		rep->nfn = k + 1;
		snprintf(f->dbg, sizeof(f->dbg),
			 "/sys/kernel/debug/s390-kvm-iommu/%d-%08x", getpid(), f->fh);
		zdev_aperture(&f->d, &pba, &pal);
		if (pba > base)
			base = pba;
		if (pal < end)
			end = pal;
	}

	mem = t->guest_ram;
	if (!mem)
		mem = t->max_gpa + 16 * ZPCI_MIB;
	mem = (mem + ZPCI_MIB - 1) & ~(ZPCI_MIB - 1);
	if (t->max_gpa > mem)
		printf("note: traced frames or tables above guest RAM 0x%llx: %s\n",
		       (unsigned long long)mem, "those RPCITs must fail as traced");
	/*
	 * The memslot is as large as the traced guest's RAM, which may be as
	 * large as the emulated host's: only the traced frames and the tables
	 * get touched, so let the sparse mapping past the overcommit heuristic.
	 */
	zset_overcommit(1);
	if (pinned_parent) {
		/*
		 * The parent IOAS maps IOVA = GPA and iommufd only maps IOVAs
		 * inside the host function's DMA aperture: relocate the
		 * traced guest RAM to GPA start_dma (1 MiB aligned), a memslot
		 * of its own; slot 0 keeps only the vCPU's lowcore.
		 */
		base = (base + ZPCI_MIB - 1) & ~(ZPCI_MIB - 1);
		if (base + mem - 1 < base || base + mem - 1 > end) {
			printf("ERROR: pinned-parent: guest RAM 0x%llx %s 0x%llx %s 0x%llx): %s\n",
			       (unsigned long long)mem, "relocated to",
			       (unsigned long long)base,
			       "does not fit the host aperture (last",
			       (unsigned long long)end,
			       "give the emulated host more memory (MEM=)");
			return 1;
		}
		ztrace_relocate(t, base);
		ret = zvm_create(&rep->vm, 0);
		if (!ret)
			ret = zvm_add_data_slot(&rep->vm, base, mem);
	} else {
		ret = zvm_create(&rep->vm, mem);
	}
	if (ret) {
		printf("ERROR: VM with 0x%llx bytes of guest RAM: %s\n",
		       (unsigned long long)mem, strerror(-ret));
		return 1;
	}
	if (zgt_alloc_init(&rep->a, &rep->vm, t)) {
		printf("ERROR: out of memory\n");
		return 1;
	}
	/* a guest's DMA buffers are real memory: touch every traced frame */
	for (i = 0; i < t->nptes; i++) {
		fr = t->ptes[i].entry & ZT_PTE_ADDR_MASK;
		if (zgt_in_ram(&rep->a, fr, ZPCI_PAGE_SIZE))
			__atomic_store_n((uint64_t *)zvm_ptr(&rep->vm, fr), fr | 1,
					 __ATOMIC_RELAXED);
	}
	if (pinned_parent) {
		if (zrep_map_parents(rep, flags & ZREP_PARENT_FRAMES))
			return 1;
		zpin_settle(400, 10000);
		rep->kb_parent = zpin_vmpin_kb();
		rep->foll_parent = zpin_foll_pinned();
	}
	return 0;
}

static int zrep_unmap_all(struct zrep_fn *f)
{
	struct iommu_ioas_unmap u;

	if (!f->have_paging_ioas)
		return 0;
	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	u.ioas_id = f->paging_ioas;
	u.iova = 0;
	u.length = UINT64_MAX;
	if (f->iotlb)
		memset(f->iotlb, 0, f->iotlb_pages * sizeof(*f->iotlb));
	if (ioctl(f->d.iommufd, IOMMU_IOAS_UNMAP, &u) && errno != ENOENT)
		return -errno;
	return 0;
}

void zrep_fini(struct zrep *rep)
{
	struct zrep_fn *f;
	int k;

	for (k = 0; k < rep->nfn; k++) {
		f = &rep->fn[k];
		if (f->kvm_attached || f->user_attached)
			zdev_detach(&f->d);
		zrep_unmap_all(f);
		if (f->have_hwpt)
			zdev_destroy_obj(&f->d, f->hwpt);
		if (f->have_paging_ioas)
			zdev_destroy_obj(&f->d, f->paging_ioas);
		zdev_close(&f->d);
		free(f->iotlb);
		memset(f, 0, sizeof(*f));
	}
	rep->nfn = 0;
	zvm_destroy(&rep->vm);
	zgt_alloc_free(&rep->a);
	if (zovercommit_saved >= 0) {
		zset_overcommit(zovercommit_saved);
		zovercommit_saved = -1;
	}
}

/*
 * The guest registered (or re-registered) its IOAT: a new nested hwpt with
 * it, attached in place of the current one (a replace), which is then
 * destroyed (its shadow and pins go with it)
 */
static int zrep_register(struct zrep *rep, struct zrep_fn *f)
{
	uint32_t id;
	int ret;

	ret = zdev_hwpt_alloc_attach(&f->d, rep->vm.vm_fd, f->fh, rep->hwpt_flags,
				     f->g.iota, f->pba, f->pal, &id);
	if (ret)
		return ret;
	f->kvm_attached = true;
	if (f->have_hwpt)
		zdev_destroy_obj(&f->d, f->hwpt);
	f->hwpt = id;
	f->have_hwpt = true;
	return 0;
}

/* deregistration: detach (the hwpt keeps its shadow until destroyed) */
static int zrep_deregister(struct zrep_fn *f)
{
	int ret;

	if (!f->kvm_attached)
		return 0;
	ret = zdev_detach(&f->d);
	if (!ret)
		f->kvm_attached = false;
	return ret;
}

int zrep_ioat(struct zrep *rep, const struct ztr_rec *r, char *err, size_t errlen)
{
	struct zrep_fn *f = zrep_fn_of(rep, r->fh);
	uint64_t pages;
	int ret;

	if (!f) {
		snprintf(err, errlen, "fh 0x%x has no function", r->fh);
		return -1;
	}
	if (r->op == ZTR_DEREG) {
		f->has_ioat = false;
	} else {
		if (f->d.have_zpci_info &&
		    (r->pba < f->d.start_dma || r->pal > f->d.end_dma)) {
			snprintf(err, errlen,
				 "guest aperture [0x%llx, 0x%llx] not inside the host function's [0x%llx, 0x%llx] (give the emulated host more memory: MEM)",
				 (unsigned long long)r->pba, (unsigned long long)r->pal,
				 (unsigned long long)f->d.start_dma,
				 (unsigned long long)f->d.end_dma);
			return -1;
		}
		if (zgt_set_iota(&f->g, &rep->a, r->iota, err, errlen))
			return -1;
		pages = ((r->pal - r->pba) >> 12) + 1;
		if (!f->iotlb || f->pba != r->pba || f->pal != r->pal) {
			if (f->user_attached)
				zrep_unmap_all(f);
			free(f->iotlb);
			f->iotlb = NULL;
			f->iotlb_pages = 0;
			if (pages <= (1ULL << 22)) {
				f->iotlb = calloc(pages, sizeof(*f->iotlb));
				f->iotlb_pages = f->iotlb ? pages : 0;
			}
			f->iotlb_base = r->pba;
		}
		f->pba = r->pba;
		f->pal = r->pal;
		f->has_ioat = true;
	}
	if (rep->user_mode)
		return 0;
	ret = f->has_ioat ? zrep_register(rep, f) : zrep_deregister(f);
	if (ret) {
		snprintf(err, errlen, "%s: %s", f->has_ioat ?
			 "nested hwpt (IOMMU_HWPT_ALLOC + attach)" : "detach",
			 strerror(-ret));
		return -1;
	}
	return 0;
}

int zrep_guest_writes(struct zrep *rep, const struct ztr_rec *r, char *err,
		      size_t errlen)
{
	struct zrep_fn *f = zrep_fn_of(rep, r->fh);

	if (!f || !f->has_ioat) {
		snprintf(err, errlen, "no IOAT registered for fh 0x%x before this RPCIT",
			 r->fh);
		return -1;
	}
	return zgt_apply(&f->g, rep->t, r, err, errlen);
}

/* ---- the userspace path, as QEMU's rpcit_service_call does it */

static int zrep_user_map(struct zrep *rep, struct zrep_fn *f, uint64_t iova,
			 uint64_t pte)
{
	struct iommu_ioas_map m;

	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
	if (!(pte & ZT_PROTECTED))
		m.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	m.ioas_id = f->paging_ioas;
	m.user_va = (uintptr_t)zvm_ptr(&rep->vm, pte & ZT_PTE_ADDR_MASK);
	m.length = ZPCI_PAGE_SIZE;
	m.iova = iova;
	f->user_maps++;
	return ioctl(f->d.iommufd, IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

static int zrep_user_unmap(struct zrep_fn *f, uint64_t iova)
{
	struct iommu_ioas_unmap u;

	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	u.ioas_id = f->paging_ioas;
	u.iova = iova;
	u.length = ZPCI_PAGE_SIZE;
	f->user_unmaps++;
	return ioctl(f->d.iommufd, IOMMU_IOAS_UNMAP, &u) ? -errno : 0;
}

/* one page: bring the IOTLB entry in line with the guest PTE (0: invalid) */
static int zrep_user_page(struct zrep *rep, struct zrep_fn *f, uint64_t iova,
			  uint64_t pte, bool valid)
{
	uint64_t *slot = &f->iotlb[(iova - f->iotlb_base) >> 12];
	uint64_t want = valid ? (pte & (ZT_PTE_ADDR_MASK | ZT_PROTECTED)) | 1 : 0;
	int ret;

	if (*slot == want)
		return 0;
	if (*slot) {
		ret = zrep_user_unmap(f, iova);
		*slot = 0;
		if (ret)
			return ret;
	}
	if (!valid)
		return 0;
	if (!zgt_in_ram(&rep->a, pte & ZT_PTE_ADDR_MASK, ZPCI_PAGE_SIZE))
		return -EFAULT;
	ret = zrep_user_map(rep, f, iova, pte);
	if (!ret)
		*slot = want;
	return ret;
}

static void zrep_user_rpcit(struct zrep *rep, uint32_t ipb, int *cc, int *status)
{
	__u64 *gprs = rep->vm.run->s.regs.gprs;
	int r1 = (ipb >> 20) & 0xf, r2 = (ipb >> 16) & 0xf, fl, ret = 0;
	uint64_t iova, len, end, cur, next, p, *e;
	struct zrep_fn *f;

	*status = 0;
	f = zrep_fn_of(rep, gprs[r1] >> 32);
	if (!f || !f->user_attached) {
		*cc = 3;
		return;
	}
	iova = gprs[r2];
	len = gprs[r2 + 1];
	end = iova + len;
	if (!f->has_ioat || !f->iotlb || !len || end - 1 < iova ||
	    iova < f->pba || end - 1 > f->pal) {
		*cc = 1;
		*status = ZPCI_STATUS_ERROR;
		return;
	}
	for (cur = iova & ~0xfffULL; cur < end && !ret; cur = next) {
		fl = -1;
		e = zgt_walk(&f->g, cur, -1, false, &fl);
		if (e) {
			uint64_t pte = zt_get(e);

			ret = zrep_user_page(rep, f, cur, pte,
					     !(pte & ZT_PTE_INVALID));
			next = cur + ZPCI_PAGE_SIZE;
			continue;
		}
		/*
		 * An invalid region/segment entry: like QEMU 7.2, step on one
		 * 4 KiB page at a time (each walked from the top again).
		 */
		next = cur + ZPCI_PAGE_SIZE;
		p = cur;
		if (f->iotlb[(p - f->iotlb_base) >> 12])
			ret = zrep_user_page(rep, f, p, 0, false);
	}
	if (!ret) {
		*cc = 0;
	} else {
		*cc = 1;
		*status = (ret == -ENOMEM || ret == -E2BIG) ? ZPCI_STATUS_RESOURCES :
			ZPCI_STATUS_ERROR;
	}
}

/*
 * In-kernel path: KVM handed the RPCIT to the VMM (an error only the VMM can
 * answer: QEMU's cc 1 status 8 with the error state and a PCI error event).
 * The VMM completes it with IOMMU_HWPT_INVALIDATE of the same (iova, len) on
 * the function's nested hwpt and answers what the entry says. false: no
 * attached nested hwpt serves the fh (the VMM has nothing to complete).
 */
static bool zrep_vmm_rpcit(struct zrep *rep, uint32_t ipb, int *cc, int *status, int *err)
{
	__u64 *gprs = rep->vm.run->s.regs.gprs;
	int r1 = (ipb >> 20) & 0xf, r2 = (ipb >> 16) & 0xf;
	struct zrep_fn *f = zrep_fn_of(rep, gprs[r1] >> 32);

	if (!f || !f->kvm_attached || !f->have_hwpt || (r2 & 1))
		return false;
	*err = zdev_refresh(&f->d, f->hwpt, gprs[r2], gprs[r2 + 1], cc, status);
	return true;
}

/* what QEMU does before re-entering: cc into the PSW, status into r1 */
static void zrep_vmm_answer(struct kvm_run *run, int cc, int status)
{
	run->psw_mask = zrpcit_answer_psw(run->psw_mask, cc);
	run->s.regs.gprs[1] = zrpcit_answer_r1(run->s.regs.gprs[1], cc, status);
	run->kvm_dirty_regs = KVM_SYNC_GPRS;
}

static void zrep_rpcit_once(struct zrep *rep, const struct ztr_rec *r, struct zrep_res *res)
{
	struct kvm_run *run = rep->vm.run;
	int cc, status, err = 0, ret;
	struct zrpcit zr;
	uint64_t t2, t3;

	/* fresh registers: a handler that does nothing leaves cc 3, status 0xff */
	ret = zvm_rpcit_issue(&rep->vm, 1, 2, r->fh, r->iova, r->len, 0, &zr);
	if (ret) {
		res->err = ret;
		res->cc = -1;
		return;
	}
	t2 = znow_ns();
	res->t_queue += zr.t_queue;
	res->t_run += zr.t_run;
	if (zr.exit_reason == KVM_EXIT_S390_SIEIC && zr.ipa == ZPCI_IPA_RPCIT) {
		res->exited = true;
		if (rep->user_mode) {
			zrep_user_rpcit(rep, zr.ipb, &cc, &status);
		} else if (zrep_vmm_rpcit(rep, zr.ipb, &cc, &status, &err)) {
			if (err) {
				res->err = err;
				res->cc = -1;
				return;
			}
			res->vmm = true;
		} else {
			res->cc = 3;
			return;
		}
		t3 = znow_ns();
		res->t_handler += t3 - t2;
		zrep_vmm_answer(run, cc, status);
		if (ioctl(rep->vm.vcpu_fd, KVM_RUN, 0)) {
			res->err = -errno;
			res->cc = -1;
			return;
		}
		res->t_resume += znow_ns() - t3;
		res->cc = cc;
		res->status = cc == 1 ? status : 0;
		return;
	}
	if (zr.exit_reason != KVM_EXIT_INTR) {
		res->cc = -1;
		res->err = -EPROTO;
		return;
	}
	res->cc = zr.cc;
	res->status = zr.cc == 1 ? zr.r1_status : 0;
}

void zrep_rpcit(struct zrep *rep, const struct ztr_rec *r, struct zrep_res *res)
{
	memset(res, 0, sizeof(*res));
	for (;;) {
		res->exited = false;
		res->vmm = false;
		zrep_rpcit_once(rep, r, res);
		/* busy: the guest retries the same RPCIT, the kernel resumes */
		if (res->err || res->cc != 2 || res->retries == ZVM_RPCIT_MAX_RETRIES)
			break;
		res->retries++;
	}
}

int zrep_set_mode(struct zrep *rep, bool user)
{
	struct iommu_ioas_alloc ioas;
	struct zrep_fn *f;
	int k, ret;

	for (k = 0; k < rep->nfn; k++) {
		f = &rep->fn[k];
		if (user && !f->user_attached) {
			/* the in-kernel pass's shadow and pins go with its hwpt */
			ret = zrep_deregister(f);
			if (ret)
				return ret;
			if (f->have_hwpt) {
				ret = zdev_destroy_obj(&f->d, f->hwpt);
				if (ret)
					return ret;
				f->have_hwpt = false;
			}
			if (!f->have_paging_ioas) {
				memset(&ioas, 0, sizeof(ioas));
				ioas.size = sizeof(ioas);
				if (ioctl(f->d.iommufd, IOMMU_IOAS_ALLOC, &ioas))
					return -errno;
				f->paging_ioas = ioas.out_ioas_id;
				f->have_paging_ioas = true;
			}
			ret = zdev_attach(&f->d, f->paging_ioas);
			if (ret)
				return ret;
			f->user_attached = true;
		} else if (!user && !f->kvm_attached) {
			if (f->user_attached) {
				zrep_unmap_all(f);
				ret = zdev_detach(&f->d);
				if (ret)
					return ret;
				f->user_attached = false;
			}
			/* no IOAT yet: the trace's ioat record will register it */
			if (f->has_ioat) {
				ret = zrep_register(rep, f);
				if (ret)
					return ret;
			}
		}
	}
	rep->user_mode = user;
	return 0;
}

int zrep_restart(struct zrep *rep)
{
	struct zrep_fn *f;
	int k, ret;

	for (k = 0; k < rep->nfn; k++) {
		f = &rep->fn[k];
		if (f->g.a)
			zgt_invalidate_all(&f->g);
		if (f->user_attached) {
			ret = zrep_unmap_all(f);
			if (ret)
				return ret;
		}
		if (f->kvm_attached && f->has_ioat) {
			ret = zrep_register(rep, f);	/* an empty shadow */
			if (ret)
				return ret;
		}
		f->user_maps = 0;
		f->user_unmaps = 0;
	}
	return 0;
}

long zrep_shadow(struct zrep_fn *f, uint64_t start, uint64_t last,
		 uint64_t **iova, uint64_t **hpa, uint8_t **ro, long *pinned)
{
	static uint64_t *siova, *shpa;
	static uint8_t *sro;
	static long scap;
	static char *buf;
	static size_t bcap;
	size_t n = 0;
	char cmd[64], *s, *nl;
	unsigned long long a, b;
	char prot[8];
	long cnt = 0;
	ssize_t got;
	int fd;

	*pinned = -1;
	fd = open(f->dbg, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(cmd, sizeof(cmd), "0x%llx 0x%llx", (unsigned long long)start,
		 (unsigned long long)last);
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		close(fd);
		return -EIO;
	}
	lseek(fd, 0, SEEK_SET);
	for (;;) {
		if (n + 4096 + 1 > bcap) {
			bcap = bcap ? bcap * 2 : 1 << 16;
			buf = realloc(buf, bcap);
			if (!buf) {
				close(fd);
				return -ENOMEM;
			}
		}
		got = read(fd, buf + n, bcap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += got;
	}
	close(fd);
	buf[n] = 0;
	for (s = buf; *s; s = nl + 1) {
		nl = strchr(s, '\n');
		if (!nl)
			nl = s + strlen(s);
		if (!strncmp(s, "pinned ", 7)) {
			*pinned = strtol(s + 7, NULL, 10);
		} else if (sscanf(s, "%llx %llx %7s", &a, &b, prot) == 3) {
			if (cnt >= scap) {
				scap = scap ? scap * 2 : 4096;
				siova = realloc(siova, scap * sizeof(*siova));
				shpa = realloc(shpa, scap * sizeof(*shpa));
				sro = realloc(sro, scap);
				if (!siova || !shpa || !sro)
					return -ENOMEM;
			}
			siova[cnt] = a;
			shpa[cnt] = b;
			sro[cnt] = !strcmp(prot, "ro");
			cnt++;
		}
		if (!*nl)
			break;
	}
	*iova = siova;
	*hpa = shpa;
	*ro = sro;
	return cnt;
}

long zrep_kvm_pinned(struct zrep *rep)
{
	uint64_t *a, *b;
	uint8_t *c;
	long total = 0, p;
	int k;

	for (k = 0; k < rep->nfn; k++) {
		if (!rep->fn[k].kvm_attached)
			continue;	/* no view while detached */
		if (zrep_shadow(&rep->fn[k], 0, 0, &a, &b, &c, &p) < 0 || p < 0)
			return -1;
		total += p;
	}
	return total;
}

long zrep_host_rpcits(struct zrep *rep)
{
	long total = 0, v;
	int k;

	for (k = 0; k < rep->nfn; k++) {
		v = zhost_rpcits(rep->fn[k].cdev);
		if (v < 0)
			return -1;
		total += v;
	}
	return total;
}

/* ---- batches of RPCITs served by one KVM_RUN */

static bool zb_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a <= b + (blen - 1) && b <= a + (alen - 1);
}

bool zrep_batch_fits(const struct zrep_batch *b, const struct ztrace *t,
		     const struct ztr_rec *r)
{
	const struct ztr_rec *m;
	uint32_t i, k;

	if (r->type != ZTR_RPCIT)
		return false;
	if (!b->n)
		return true;
	if (b->n == ZREP_BATCH_MAX || r->global)
		return false;
	for (i = 0; i < b->n; i++) {
		m = b->rec[i];
		if (m->global)
			return false;
		if (m->fh != r->fh)
			continue;
		if (zb_overlap(m->iova, m->len, r->iova, r->len))
			return false;
		for (k = 0; k < r->ninv; k++)
			if (zb_overlap(m->iova, m->len, t->invs[r->inv0 + k].iova,
				       t->invs[r->inv0 + k].len))
				return false;
	}
	return true;
}

void zrep_batch_add(struct zrep_batch *b, const struct ztr_rec *r)
{
	struct kvm_s390_test_intercept_entry *e = &b->e[b->n];

	memset(e, 0, sizeof(*e));
	e->ipb = ZPCI_RPCIT_IPB(1, 2);
	/* a handler that does nothing leaves cc 3 and status 0xff */
	e->gpr_r1 = zrpcit_r1_preset(r->fh);
	e->gpr_r2 = r->iova;
	e->gpr_r2p1 = r->len;
	memset(&b->res[b->n], 0, sizeof(b->res[b->n]));
	b->ns[b->n] = 0;
	b->rec[b->n++] = r;
}

/* the exited entry: the first one since @pos the kernel marked EXITED */
static int zb_exited(const struct zrep_batch *b, uint32_t pos)
{
	uint32_t k;

	for (k = pos; k < b->n; k++)
		if (b->e[k].flags & KVM_S390_TEST_ICPT_EXITED)
			return k;
	return -1;
}

int zrep_batch_run(struct zrep *rep, struct zrep_batch *b)
{
	struct kvm_s390_test_intercept_batch q = {
		.nr_entries = b->n, .flags = KVM_S390_TEST_BATCH_RETRY_BUSY,
		.entries = (uintptr_t)b->e,
	};
	struct kvm_run *run = rep->vm.run;
	uint64_t t0, t1, t2, tstart;
	int cc, status, err, k, tries;
	uint32_t pos = 0, i;

	b->total_ns = 0;
	b->run_calls = 0;
	if (!b->n)
		return 0;
	run->psw_mask = zrpcit_psw_preset(0);
	run->psw_addr = 0x10000;
	run->kvm_dirty_regs = 0;
	run->immediate_exit = 0;
	if (ioctl(rep->vm.vcpu_fd, KVM_S390_TEST_INTERCEPT_BATCH, &q))
		return -errno;
	tstart = znow_ns();
	t0 = tstart;
	for (;;) {
		b->run_calls++;
		if (ioctl(rep->vm.vcpu_fd, KVM_RUN, 0))
			return -errno;
		t1 = znow_ns();
		if (run->exit_reason == KVM_EXIT_INTR) {
			b->total_ns = t1 - tstart;
			/* the last re-entry belongs to the last RPCIT that exited */
			k = zb_exited(b, pos ? pos - 1 : 0);
			if (pos && k == (int)pos - 1)
				b->ns[k] += t1 - t0;
			break;
		}
		if (run->exit_reason != KVM_EXIT_S390_SIEIC ||
		    run->s390_sieic.ipa != ZPCI_IPA_RPCIT)
			return -EPROTO;
		k = zb_exited(b, pos);
		if (k < 0)
			return -EPROTO;
		err = 0;
		b->res[k].exited = true;
		if (rep->user_mode) {
			zrep_user_rpcit(rep, run->s390_sieic.ipb, &cc, &status);
		} else {
			tries = 0;
			cc = 3;
			status = 0;
			while (zrep_vmm_rpcit(rep, run->s390_sieic.ipb, &cc, &status, &err) &&
			       !err && cc == 2 && tries < ZVM_RPCIT_MAX_RETRIES)
				tries++;
			b->res[k].vmm = cc != 3;
			b->res[k].retries = tries;
		}
		t2 = znow_ns();
		b->res[k].err = err;
		b->res[k].cc = err ? -1 : cc;
		b->res[k].status = cc == 1 ? status : 0;
		b->res[k].t_handler = t2 - t1;
		b->ns[k] = t2 - t0;
		zrep_vmm_answer(run, cc, status);
		pos = k + 1;
		t0 = znow_ns();
	}
	for (i = 0; i < b->n; i++) {
		struct kvm_s390_test_intercept_entry *e = &b->e[i];

		if (e->flags & KVM_S390_TEST_ICPT_HANDLED) {
			b->res[i].cc = e->cc;
			b->res[i].status = e->cc == 1 ? zrpcit_r1_status(e->gpr_r1) : 0;
			b->res[i].retries = e->retries;
			b->ns[i] = e->ns;
		} else if (!(e->flags & KVM_S390_TEST_ICPT_EXITED)) {
			b->res[i].cc = -1;
			b->res[i].err = -EPROTO;
		}
	}
	return 0;
}
