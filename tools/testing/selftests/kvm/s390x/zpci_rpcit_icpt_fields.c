// SPDX-License-Identifier: GPL-2.0-only
/*
 * zpci_rpcit_icpt_fields - the test-only mode's RPCIT intercept, checked
 * against a machine that interprets the guest (SIE).
 *
 * Where the host has no SIE, KVM's test-only mode (CONFIG_KVM_S390_TEST_NO_SIE)
 * makes an intercept that a test queues as (icptcode, ipa, ipb) the SIE exit,
 * and the other zPCI RPCIT selftests build it as an RRE instruction intercept:
 * icptcode ZPCI_ICPT_INST, ipa the opcode, ipb ZPCI_RPCIT_IPB(r1, r2). This
 * test runs real guest code and compares what SIE stores, field by field,
 * with that model. RPCIT itself needs zPCI facilities, so two other RRE
 * instructions with the same layout stand in:
 *  - TEST BLOCK (B22C), which KVM handles in the kernel: the guest goes on
 *    without an exit, KVM has cleared the block, and the exit fields are the
 *    ones of the kvm_s390_sie_exit and kvm_s390_intercept_instruction trace
 *    events of this task;
 *  - SERVICE CALL (B220), which KVM leaves to userspace: the fields are the
 *    ones of KVM_EXIT_S390_SIEIC.
 * ipb bits 0-15 are instruction bytes 2-3 (the register fields) and bits
 * 16-31, beyond a 4-byte instruction, are zero as in the model, although the
 * halfword after each instruction here is not. Where SIE
 * exists, KVM_S390_TEST_INTERCEPT must not be there (ENOTTY). The tests skip
 * where the test-only mode is on: no guest code runs there.
 *
 * The guest runs in real mode (no DAT) from guest-physical 0x10000, its
 * memory written by the host before the first KVM_RUN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "zpci_lib.h"

#define GUEST_MEM	ZPCI_MIB
#define SEGMENT		ZPCI_MIB	/* KVM: memslot HVAs 1 MiB aligned */
#define GUEST_CODE	0x10000ULL
#define TB_BLOCK	0x20000ULL
#define SERVC_SCCB	0x30000ULL
#define LC_PGM_NEW_PSW	0x1d0

#define IPA_TB		0xb22c
#define IPA_SERVC	0xb220
#define OP_R1		5
#define OP_R2		10
/* the halfword after each 4-byte instruction: BCR 0,7 (a no-op) */
#define FOLLOWING_HW	0x0707

/* 64-bit addressing, DAT off, supervisor state; and a disabled wait */
#define PSW_MASK_REAL64	0x0000000180000000ULL
#define PSW_MASK_DWAIT	0x0002000180000000ULL

#define TRACEFS		"/sys/kernel/tracing"

struct sie_guest {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	void *map;		/* GUEST_MEM + SEGMENT bytes, mem within */
	uint8_t *mem;		/* guest-physical 0, segment aligned */
	const char *failed;	/* the setup step that failed */
};

static int setup_failed(struct sie_guest *g, const char *step)
{
	int err = errno;

	g->failed = step;
	return err ? -err : -EINVAL;
}

static int sie_guest_init(struct sie_guest *g)
{
	struct kvm_userspace_memory_region mr;
	int mmap_size;

	memset(g, 0, sizeof(*g));
	g->vm_fd = -1;
	g->vcpu_fd = -1;
	g->kvm_fd = open("/dev/kvm", O_RDWR);
	if (g->kvm_fd < 0)
		return setup_failed(g, "open /dev/kvm");
	g->vm_fd = ioctl(g->kvm_fd, KVM_CREATE_VM, 0);
	if (g->vm_fd < 0)
		return setup_failed(g, "KVM_CREATE_VM");
	/* every page written before the guest runs: present and writable */
	g->map = mmap(NULL, GUEST_MEM + SEGMENT, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		return setup_failed(g, "mmap");
	}
	g->mem = (uint8_t *)(((uintptr_t)g->map + SEGMENT - 1) & ~(uintptr_t)(SEGMENT - 1));
	memset(g->mem, 0, GUEST_MEM);
	memset(&mr, 0, sizeof(mr));
	mr.memory_size = GUEST_MEM;
	mr.userspace_addr = (uintptr_t)g->mem;
	if (ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr))
		return setup_failed(g, "KVM_SET_USER_MEMORY_REGION");
	g->vcpu_fd = ioctl(g->vm_fd, KVM_CREATE_VCPU, 0);
	if (g->vcpu_fd < 0)
		return setup_failed(g, "KVM_CREATE_VCPU");
	mmap_size = ioctl(g->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		return setup_failed(g, "KVM_GET_VCPU_MMAP_SIZE");
	g->run_size = mmap_size;
	g->run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, g->vcpu_fd, 0);
	if (g->run == MAP_FAILED) {
		g->run = NULL;
		return setup_failed(g, "mmap of kvm_run");
	}
	return 0;
}

static void sie_guest_fini(struct sie_guest *g)
{
	if (g->run)
		munmap(g->run, g->run_size);
	if (g->vcpu_fd >= 0)
		close(g->vcpu_fd);
	if (g->map)
		munmap(g->map, GUEST_MEM + SEGMENT);
	if (g->vm_fd >= 0)
		close(g->vm_fd);
	if (g->kvm_fd >= 0)
		close(g->kvm_fd);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = v >> (56 - 8 * i);
}

/* an RRE instruction (opcode, 0x00, r1 r2) and the halfword after it */
static uint8_t *put_rre(uint8_t *p, uint16_t ipa, int r1, int r2)
{
	put_be16(p, ipa);
	p[2] = 0;
	p[3] = r1 << 4 | r2;
	put_be16(p + 4, FOLLOWING_HW);
	return p + 4;
}

/*
 * The guest: TB r1,r2 (r2 = the block), then SERVC r1,r2. A program
 * interruption loads a disabled-wait PSW, which ends KVM_RUN with an exit
 * that is neither of the expected ones.
 */
static int sie_guest_start(struct sie_guest *g)
{
	struct kvm_regs regs;
	uint8_t *p = g->mem + GUEST_CODE;

	p = put_rre(p, IPA_TB, OP_R1, OP_R2);
	put_rre(p, IPA_SERVC, OP_R1, OP_R2);
	put_be64(g->mem + LC_PGM_NEW_PSW, PSW_MASK_DWAIT);
	put_be64(g->mem + LC_PGM_NEW_PSW + 8, 0xdead);
	memset(g->mem + TB_BLOCK, 0xa5, ZPCI_PAGE_SIZE);

	memset(&regs, 0, sizeof(regs));
	regs.gprs[OP_R1] = 0x00020001;	/* SCCB command word: read SCP info */
	regs.gprs[OP_R2] = TB_BLOCK;
	if (ioctl(g->vcpu_fd, KVM_SET_REGS, &regs))
		return -errno;
	g->run->psw_mask = PSW_MASK_REAL64;
	g->run->psw_addr = GUEST_CODE;
	if (ioctl(g->vcpu_fd, KVM_RUN, 0))
		return -errno;
	return 0;
}

static bool block_is_zero(const uint8_t *p)
{
	size_t i;

	for (i = 0; i < ZPCI_PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

/* as "echo > trace": opening the trace for writing with O_TRUNC empties it */
static int trace_clear(void)
{
	int fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static const char * const trace_events[] = {
	"kvm_s390_sie_exit", "kvm_s390_intercept_instruction",
};

/* 0, or -errno when the KVM trace events cannot be used here */
static int trace_kvm_events(bool on)
{
	char path[256];
	size_t i;
	int ret;

	if (on && access(TRACEFS "/events", F_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	for (i = 0; i < ARRAY_SIZE(trace_events); i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/kvm/%s/enable", trace_events[i]);
		ret = zfile_write_str(path, on ? "1" : "0");
		if (ret)
			return ret;
	}
	return on ? trace_clear() : 0;
}

struct trace_fields {
	bool found;
	int icptcode;
	uint16_t ipa;
	uint32_t ipb;
};

/*
 * From the trace of this task: the instruction intercept of @ipa and the
 * icptcode of the SIE exit just before it (kvm_s390_sie_exit is traced
 * before the intercept handler runs).
 */
static void trace_find(uint16_t ipa, struct trace_fields *tf)
{
	char line[512], task[32];
	int icptcode = -1;
	unsigned long long insn;
	const char *s;
	FILE *f;

	memset(tf, 0, sizeof(*tf));
	f = fopen(TRACEFS "/trace", "r");
	if (!f)
		return;
	snprintf(task, sizeof(task), "-%d ", getpid());
	while (!tf->found && fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || !strstr(line, task))
			continue;
		s = strstr(line, "exit sie icptcode ");
		if (s) {
			icptcode = atoi(s + strlen("exit sie icptcode "));
			continue;
		}
		s = strstr(line, "intercepted instruction ");
		if (!s || sscanf(s, "intercepted instruction %llx", &insn) != 1)
			continue;
		if ((insn >> 48) != ipa)
			continue;
		tf->found = true;
		tf->icptcode = icptcode;
		tf->ipa = insn >> 48;
		tf->ipb = insn >> 16;
	}
	fclose(f);
}

FIXTURE(sie) {
	struct sie_guest g;
};

FIXTURE_SETUP(sie)
{
	struct kvm_s390_test_intercept icpt;
	int ret;

	ret = sie_guest_init(&self->g);
	if (ret == -ENOENT || ret == -ENODEV)
		SKIP(return, "no /dev/kvm");
	ASSERT_EQ(0, ret) TH_LOG("VM setup: %s: %s", self->g.failed, strerror(-ret));
	/* the test-only mode answers this ioctl: no guest code runs there */
	memset(&icpt, 0, sizeof(icpt));
	icpt.icptcode = ZPCI_ICPT_INST;
	icpt.ipa = ZPCI_IPA_RPCIT;
	icpt.ipb = ZPCI_RPCIT_IPB(1, 2);
	if (!ioctl(self->g.vcpu_fd, KVM_S390_TEST_INTERCEPT, &icpt) || errno != ENOTTY)
		SKIP(return, "KVM runs in the test-only mode without SIE (ioctl: %s)",
		     strerror(errno));
}

FIXTURE_TEARDOWN(sie)
{
	sie_guest_fini(&self->g);
}

/* the model's fields of an RRE instruction intercept, as the tests build them */
#define MODEL_ICPTCODE		ZPCI_ICPT_INST
#define MODEL_IPB		ZPCI_RPCIT_IPB(OP_R1, OP_R2)

TEST_F(sie, test_intercept_absent)
{
	struct kvm_s390_test_intercept_batch batch;
	struct kvm_s390_test_intercept_entry e;

	memset(&e, 0, sizeof(e));
	e.ipb = ZPCI_RPCIT_IPB(1, 2);
	memset(&batch, 0, sizeof(batch));
	batch.nr_entries = 1;
	batch.entries = (uintptr_t)&e;
	ASSERT_EQ(-1, ioctl(self->g.vcpu_fd, KVM_S390_TEST_INTERCEPT_BATCH, &batch));
	ASSERT_EQ(ENOTTY, errno);
}

TEST_F(sie, tb_handled_in_kernel)
{
	struct trace_fields tf;
	int ret;

	ret = trace_kvm_events(true);
	if (ret)
		SKIP(return, "kvm trace events unavailable: %s", strerror(-ret));
	ret = sie_guest_start(&self->g);
	trace_kvm_events(false);
	ASSERT_EQ(0, ret) TH_LOG("KVM_RUN: %s", strerror(-ret));
	trace_find(IPA_TB, &tf);

	/* handled in the kernel: no exit for TB, the block cleared by KVM */
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, self->g.run->exit_reason);
	ASSERT_EQ(IPA_SERVC, self->g.run->s390_sieic.ipa)
		TH_LOG("KVM_RUN ended at icptcode %u ipa %04x (psw %016llx %016llx)",
		       self->g.run->s390_sieic.icptcode, self->g.run->s390_sieic.ipa,
		       self->g.run->psw_mask, self->g.run->psw_addr);
	ASSERT_TRUE(block_is_zero(self->g.mem + TB_BLOCK));
	ASSERT_TRUE(tf.found) TH_LOG("no intercept of TB in " TRACEFS "/trace");

	TH_LOG("FIELDS TB in the kernel: icptcode %d ipa %04x ipb %08x, model %d %04x %08x",
	       tf.icptcode, tf.ipa, tf.ipb, MODEL_ICPTCODE, IPA_TB, MODEL_IPB);
	ASSERT_EQ(MODEL_ICPTCODE, tf.icptcode);
	ASSERT_EQ(IPA_TB, tf.ipa);
	ASSERT_EQ(MODEL_IPB, tf.ipb);
}

TEST_F(sie, servc_exits_to_userspace)
{
	struct kvm_run *run = self->g.run;
	int ret;

	ret = sie_guest_start(&self->g);
	ASSERT_EQ(0, ret) TH_LOG("KVM_RUN: %s", strerror(-ret));
	ASSERT_EQ(KVM_EXIT_S390_SIEIC, run->exit_reason)
		TH_LOG("exit reason %u", run->exit_reason);

	TH_LOG("FIELDS SERVC to userspace: icptcode %u ipa %04x ipb %08x, model %d %04x %08x",
	       run->s390_sieic.icptcode, run->s390_sieic.ipa, run->s390_sieic.ipb,
	       MODEL_ICPTCODE, IPA_SERVC, MODEL_IPB);
	ASSERT_EQ(MODEL_ICPTCODE, run->s390_sieic.icptcode);
	ASSERT_EQ(IPA_SERVC, run->s390_sieic.ipa);
	ASSERT_EQ(MODEL_IPB, run->s390_sieic.ipb);
}

TEST_HARNESS_MAIN
