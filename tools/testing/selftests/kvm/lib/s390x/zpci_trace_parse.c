// SPDX-License-Identifier: GPL-2.0-only
/*
 * zPCI RPCIT trace reader for zpci_rpcit_replay and zpci_rpcit_bench (see
 * zpci_trace.h): the records of a trace file into struct ztrace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zpci_trace.h"

static int tr_err(const struct ztrace *t, int line, const char *text,
		  const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "trace %s:%d: cannot parse record \"%.120s\": %s\n",
		t->path, line, text, msg);
	return -1;
}

/* value of " key=" in a record line; false when absent or not a number */
static bool tr_num(const char *s, const char *key, uint64_t *val)
{
	size_t kl = strlen(key);
	const char *p = s;
	char *end;

	while ((p = strstr(p, key))) {
		if ((p == s || p[-1] == ' ' || p[-1] == '\t') && p[kl] == '=') {
			errno = 0;
			*val = strtoull(p + kl + 1, &end, 0);
			if (errno || end == p + kl + 1 ||
			    (*end && *end != ' ' && *end != '\t'))
				return false;
			return true;
		}
		p += kl;
	}
	return false;
}

static const char *tr_word(const char *s, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key), n;
	const char *p = s;

	while ((p = strstr(p, key))) {
		if ((p == s || p[-1] == ' ' || p[-1] == '\t') && p[kl] == '=') {
			p += kl + 1;
			n = strcspn(p, " \t");
			if (n >= len)
				n = len - 1;
			memcpy(buf, p, n);
			buf[n] = 0;
			return buf;
		}
		p += kl;
	}
	return NULL;
}

static void *tr_grow(void *p, uint32_t n, uint32_t *cap, size_t sz)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 1024;
	return realloc(p, (size_t)*cap * sz);
}

static void tr_note_gpa(struct ztrace *t, uint64_t end)
{
	if (end > t->max_gpa)
		t->max_gpa = end;
}

static int tr_add_fh(struct ztrace *t, uint32_t fh, int line, const char *s)
{
	if (ztrace_fh_index(t, fh) >= 0)
		return 0;
	if (t->nfh >= ZTR_MAX_FH)
		return tr_err(t, line, s, "more than %d function handles",
			      ZTR_MAX_FH);
	t->fhs[t->nfh++] = fh;
	return 0;
}

int ztrace_fh_index(const struct ztrace *t, uint32_t fh)
{
	int i;

	for (i = 0; i < t->nfh; i++)
		if (t->fhs[i] == fh)
			return i;
	return -1;
}

static int tr_line(struct ztrace *t, char *s, int line, uint32_t *caps,
		   struct ztr_rec **cur)
{
	uint64_t fh, a, b, c, d, e;
	char w[32];
	struct ztr_rec *r;
	const char *p;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return 0;
	if (*s == '#') {
		p = strstr(s, "guest RAM:");
		if (p)
			p = strstr(p, "= 0x");
		if (p)
			t->guest_ram = strtoull(p + 2, NULL, 16);
		return 0;
	}
	if (!strncmp(s, "ioat ", 5) || !strncmp(s, "rpcit ", 6)) {
		t->recs = tr_grow(t->recs, t->nrecs, &caps[0], sizeof(*t->recs));
		if (!t->recs)
			return tr_err(t, line, s, "out of memory");
		r = &t->recs[t->nrecs];
		memset(r, 0, sizeof(*r));
		r->line = line;
		if (!tr_num(s, "fh", &fh) || fh > UINT32_MAX)
			return tr_err(t, line, s, "missing or bad fh=");
		r->fh = fh;
		if (!tr_num(s, "cc", &a) || a > 3)
			return tr_err(t, line, s, "missing or bad cc=");
		r->cc = a;
		r->status = tr_num(s, "status", &b) ? (int)(b & 0xff) : 0;
		if (s[0] == 'i') {
			r->type = ZTR_IOAT;
			if (!tr_word(s, "op", w, sizeof(w)))
				return tr_err(t, line, s, "missing op=");
			if (!strcmp(w, "reg-ioat"))
				r->op = ZTR_REG;
			else if (!strcmp(w, "rereg-ioat"))
				r->op = ZTR_REREG;
			else if (!strcmp(w, "dereg-ioat"))
				r->op = ZTR_DEREG;
			else
				return tr_err(t, line, s, "unknown op=%s", w);
			if (r->op != ZTR_DEREG) {
				if (!tr_num(s, "iota", &c) || !tr_num(s, "pba", &d) ||
				    !tr_num(s, "pal", &e))
					return tr_err(t, line, s, "missing iota=, pba= or pal=");
				if (d > e)
					return tr_err(t, line, s, "pba > pal");
				r->iota = c;
				r->pba = d;
				r->pal = e;
				tr_note_gpa(t, (c & ~0x3fffULL) + ZT_TABLE_SIZE);
			}
		} else {
			r->type = ZTR_RPCIT;
			if (!tr_num(s, "seq", &a) || !tr_num(s, "iova", &b) ||
			    !tr_num(s, "len", &c))
				return tr_err(t, line, s, "missing seq=, iova= or len=");
			r->seq = a;
			r->iova = b;
			r->len = c;
			if (!tr_word(s, "kind", w, sizeof(w)) ||
			    (strcmp(w, "range") && strcmp(w, "global")))
				return tr_err(t, line, s, "kind= must be range or global");
			r->global = !strcmp(w, "global");
			r->pte0 = t->nptes;
			r->inv0 = t->ninvs;
			t->nrpcit++;
			t->nglobal += r->global;
		}
		if (tr_add_fh(t, r->fh, line, s))
			return -1;
		t->nrecs++;
		*cur = r;
		return 0;
	}
	if (!strncmp(s, "pte ", 4)) {
		if (!*cur || (*cur)->type != ZTR_RPCIT)
			return tr_err(t, line, s, "pte line outside an rpcit record");
		if (!tr_num(s, "iova", &a) || !tr_num(s, "entry", &b))
			return tr_err(t, line, s, "missing iova= or entry=");
		if (a & 0xfff)
			return tr_err(t, line, s, "iova not 4 KiB aligned");
		t->ptes = tr_grow(t->ptes, t->nptes, &caps[1], sizeof(*t->ptes));
		if (!t->ptes)
			return tr_err(t, line, s, "out of memory");
		t->ptes[t->nptes].iova = a;
		t->ptes[t->nptes].entry = b;
		t->nptes++;
		(*cur)->npte++;
		tr_note_gpa(t, (b & ZT_PTE_ADDR_MASK) + ZPCI_PAGE_SIZE);
		return 0;
	}
	if (!strncmp(s, "inv ", 4)) {
		if (!*cur || (*cur)->type != ZTR_RPCIT)
			return tr_err(t, line, s, "inv line outside an rpcit record");
		if (!tr_num(s, "iova", &a) || !tr_num(s, "len", &b) ||
		    !tr_word(s, "level", w, sizeof(w)))
			return tr_err(t, line, s, "missing iova=, len= or level=");
		if (strcmp(w, "rt") && strcmp(w, "st"))
			return tr_err(t, line, s, "level= must be rt or st");
		t->invs = tr_grow(t->invs, t->ninvs, &caps[2], sizeof(*t->invs));
		if (!t->invs)
			return tr_err(t, line, s, "out of memory");
		t->invs[t->ninvs].iova = a;
		t->invs[t->ninvs].len = b;
		t->invs[t->ninvs].level = !strcmp(w, "rt") ? 1 : 0;
		t->ninvs++;
		(*cur)->ninv++;
		return 0;
	}
	return tr_err(t, line, s, "unknown record type");
}

/* PATH.name, if present, names the original trace (the harness copies it) */
static void zt_display_name(struct ztrace *t, const char *path)
{
	static char name[256];
	char fn[512];
	FILE *f;

	snprintf(fn, sizeof(fn), "%s.name", path);
	f = fopen(fn, "r");
	if (!f)
		return;
	if (fgets(name, sizeof(name), f)) {
		name[strcspn(name, "\n")] = 0;
		if (name[0])
			t->path = name;
	}
	fclose(f);
}

int ztrace_load(struct ztrace *t, const char *path)
{
	uint32_t caps[3] = { 0, 0, 0 };
	struct ztr_rec *cur = NULL;
	size_t n = 0, cap = 1 << 20;
	char *buf, *s, *nl;
	int line = 0, fd;
	ssize_t got;

	memset(t, 0, sizeof(*t));
	t->path = path;
	zt_display_name(t, path);
	n = strlen(path);
	if (n > 3 && !strcmp(path + n - 3, ".xz")) {
		fprintf(stderr, "trace %s: compressed: decompress it first (xz -dc)\n",
			path);
		return -1;
	}
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		fprintf(stderr, "trace %s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	n = 0;
	buf = malloc(cap + 1);
	while (buf) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (!buf)
				break;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += got;
	}
	if (fd)
		close(fd);
	if (!buf) {
		fprintf(stderr, "trace %s: out of memory\n", path);
		return -1;
	}
	buf[n] = 0;
	for (s = buf; s < buf + n; s = nl + 1) {
		nl = strchr(s, '\n');
		if (!nl)
			nl = buf + n;
		*nl = 0;
		if (nl > s && nl[-1] == '\r')
			nl[-1] = 0;
		line++;
		if (tr_line(t, s, line, caps, &cur)) {
			free(buf);
			return -1;
		}
	}
	free(buf);
	if (!t->nrpcit) {
		fprintf(stderr, "trace %s: no rpcit records\n", path);
		return -1;
	}
	return 0;
}

void ztrace_free(struct ztrace *t)
{
	free(t->recs);
	free(t->ptes);
	free(t->invs);
	memset(t, 0, sizeof(*t));
}

void ztrace_relocate(struct ztrace *t, uint64_t base)
{
	uint64_t frame;
	uint32_t i;

	for (i = 0; i < t->nrecs; i++)
		if (t->recs[i].type == ZTR_IOAT && t->recs[i].op != ZTR_DEREG &&
		    t->recs[i].iota + base > t->recs[i].iota)
			t->recs[i].iota += base;
	for (i = 0; i < t->nptes; i++) {
		frame = t->ptes[i].entry & ZT_PTE_ADDR_MASK;
		if (frame + base > frame)
			t->ptes[i].entry += base;
	}
	t->max_gpa += base;
	t->reloc += base;
}

const char *ztrace_desc(const struct ztrace *t, const struct ztr_rec *r)
{
	static char buf[200];

	if (r->type == ZTR_IOAT)
		snprintf(buf, sizeof(buf),
			 "%s:%d ioat fh=0x%x iota=0x%llx pba=0x%llx pal=0x%llx",
			 t->path, r->line, r->fh, (unsigned long long)r->iota,
			 (unsigned long long)r->pba, (unsigned long long)r->pal);
	else
		snprintf(buf, sizeof(buf),
			 "%s:%d rpcit seq=%ld fh=0x%x iova=0x%llx len=0x%llx kind=%s",
			 t->path, r->line, r->seq, r->fh,
			 (unsigned long long)r->iova, (unsigned long long)r->len,
			 r->global ? "global" : "range");
	return buf;
}
