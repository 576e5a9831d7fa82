// SPDX-License-Identifier: GPL-2.0
/*
 * vm_churn: create, run and destroy many small VMs, for the stress test
 * that loads and unloads kvm_exitstat while they come and go.
 *
 * THREADS threads create VMS VMs in all, with one vCPU for odd VM numbers
 * and two for even ones.  Each vCPU runs a real-mode guest that queries
 * CPUID 0x4fffffff (ECX=0) four times, stores the last answer and halts.
 * A VM counts as served when the answer its last vCPU stored is not all
 * zero: the vCPUs get no CPUID entries, so stock KVM finds no leaf to
 * redirect the out-of-range leaf to and answers zeros, while the module's
 * totals include the query's own exit.
 *
 * Once a VM's vCPUs have halted, its table in KVM's debugfs directory
 * (exit_stats) must not count more exits than KVM's own "exits" beside it,
 * and exactly as many if the module stayed loaded since the VM was created.
 * With --exact, which is for runs without reloads, every VM must have a
 * table and match exactly.
 *
 * Usage: vm_churn [--exact] VMS [THREADS]     (default: 2 threads)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE	0x10000
#define CODE_AT		0x1000
#define ANSWER_AT	0x500	/* u32 eax, ebx, ecx, edx */
#define MAX_VCPUS	2

/*
 * .code16
 *	mov  $4, %si
 * 1:	mov  $0x4fffffff, %eax
 *	xor  %ecx, %ecx
 *	cpuid
 *	dec  %si
 *	jnz  1b
 *	mov  %eax, ANSWER_AT
 *	mov  %ebx, ANSWER_AT + 4
 *	mov  %ecx, ANSWER_AT + 8
 *	mov  %edx, ANSWER_AT + 12
 *	hlt
 */
static const uint8_t guest_code[] = {
	0xbe, 0x04, 0x00,			/* mov $4, %si */
	0x66, 0xb8, 0xff, 0xff, 0xff, 0x4f,	/* 1: mov $0x4fffffff, %eax */
	0x66, 0x31, 0xc9,			/* xor %ecx, %ecx */
	0x0f, 0xa2,				/* cpuid */
	0x4e,					/* dec %si */
	0x75, 0xf2,				/* jnz 1b */
	0x66, 0xa3, 0x00, 0x05,			/* mov %eax, 0x500 */
	0x66, 0x89, 0x1e, 0x04, 0x05,		/* mov %ebx, 0x504 */
	0x66, 0x89, 0x0e, 0x08, 0x05,		/* mov %ecx, 0x508 */
	0x66, 0x89, 0x16, 0x0c, 0x05,		/* mov %edx, 0x50c */
	0xf4,					/* hlt */
};

struct worker {
	pthread_t thread;
	unsigned long vcpus, served, exact, fewer;
};

static bool exact_only;
static int kvm;
static int run_size;
static unsigned int vms;
static atomic_uint next_vm;
/* Held by the first thread to fail, so that only one line is printed. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(unsigned int vm, const char *what, const char *why)
{
	pthread_mutex_lock(&fail_lock);
	if (vm)
		fprintf(stderr, "vm_churn: VM %u: %s: %s\n", vm, what, why);
	else
		fprintf(stderr, "vm_churn: %s: %s\n", what, why);
	exit(1);
}

static void check(int ret, unsigned int vm, const char *what)
{
	if (ret < 0)
		fail(vm, what, strerror(errno));
}

static void run_vcpu(unsigned int vm, int fd, struct kvm_run *run)
{
	struct kvm_regs regs = { .rip = CODE_AT, .rflags = 2 };
	struct kvm_sregs sregs;
	char reason[32];

	check(ioctl(fd, KVM_GET_SREGS, &sregs), vm, "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	check(ioctl(fd, KVM_SET_SREGS, &sregs), vm, "KVM_SET_SREGS");
	check(ioctl(fd, KVM_SET_REGS, &regs), vm, "KVM_SET_REGS");
	for (;;) {
		if (ioctl(fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			fail(vm, "KVM_RUN", strerror(errno));
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			return;
		if (run->exit_reason != KVM_EXIT_INTR) {
			snprintf(reason, sizeof(reason), "exit reason %u",
				 run->exit_reason);
			fail(vm, "KVM_RUN", reason);
		}
	}
}

/*
 * The first number after `key` in debugfs file `name` of VM `fd`, or -1.
 * KVM names the VM's directory after the thread that created it.
 */
static long long debugfs_number(int fd, const char *name, const char *key)
{
	char path[96], text[8192], *at;
	long long n = -1;
	size_t len;
	FILE *file;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d/%s",
		 gettid(), fd, name);
	file = fopen(path, "r");
	if (!file)
		return -1;
	len = fread(text, 1, sizeof(text) - 1, file);
	text[len] = 0;
	if (!ferror(file) && (at = strstr(text, key)))
		sscanf(at + strlen(key), "%lld", &n);
	fclose(file);
	return n;
}

/* The VM's table against KVM's count, with all its vCPUs halted. */
static void check_table(struct worker *w, unsigned int vm, int fd)
{
	long long kvm_exits = debugfs_number(fd, "exits", "");
	long long counted = debugfs_number(fd, "exit_stats", "total");
	char why[96];

	if (kvm_exits < 0)
		fail(vm, "KVM's exits in debugfs", "cannot read it");
	if (exact_only && counted < 0)
		fail(vm, "exit_stats", "cannot read it: is kvm_exitstat loaded?");
	if (counted > kvm_exits || (exact_only && counted != kvm_exits)) {
		snprintf(why, sizeof(why), "%lld exits in its table, KVM counted %lld",
			 counted, kvm_exits);
		fail(vm, "exit_stats", why);
	}
	if (counted == kvm_exits)
		w->exact++;
	else if (counted >= 0)
		w->fewer++;
}

static void churn(struct worker *w, unsigned int vm)
{
	struct kvm_userspace_memory_region region = { .memory_size = MEM_SIZE };
	struct kvm_run *runs[MAX_VCPUS];
	int vcpus[MAX_VCPUS];
	int nr = vm % 2 ? 1 : 2;
	uint32_t answer[4];
	uint8_t *mem;
	int fd, i;

	fd = ioctl(kvm, KVM_CREATE_VM, 0);
	check(fd, vm, "KVM_CREATE_VM");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail(vm, "mmap guest memory", strerror(errno));
	memcpy(mem + CODE_AT, guest_code, sizeof(guest_code));
	region.userspace_addr = (uintptr_t)mem;
	check(ioctl(fd, KVM_SET_USER_MEMORY_REGION, &region), vm,
	      "KVM_SET_USER_MEMORY_REGION");
	/* All vCPUs exist before any runs, so the VM is torn down with them all. */
	for (i = 0; i < nr; i++) {
		vcpus[i] = ioctl(fd, KVM_CREATE_VCPU, i);
		check(vcpus[i], vm, "KVM_CREATE_VCPU");
		runs[i] = mmap(NULL, run_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, vcpus[i], 0);
		if (runs[i] == MAP_FAILED)
			fail(vm, "mmap kvm_run", strerror(errno));
	}
	for (i = 0; i < nr; i++) {
		run_vcpu(vm, vcpus[i], runs[i]);
		w->vcpus++;
	}
	memcpy(answer, mem + ANSWER_AT, sizeof(answer));
	if (answer[0] | answer[1] | answer[2] | answer[3])
		w->served++;
	check_table(w, vm, fd);
	for (i = 0; i < nr; i++) {
		munmap(runs[i], run_size);
		close(vcpus[i]);
	}
	close(fd);
	munmap(mem, MEM_SIZE);
}

static void *work(void *arg)
{
	unsigned int vm;

	while ((vm = atomic_fetch_add(&next_vm, 1) + 1) <= vms)
		churn(arg, vm);
	return NULL;
}

static unsigned long number(const char *s)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 0);
	return errno || *end || end == s || n > 1000000 ? 0 : n;
}

int main(int argc, char **argv)
{
	unsigned long vcpus = 0, served = 0, exact = 0, fewer = 0, threads, i;
	struct timespec start, end;
	struct worker *workers;
	int err;

	exact_only = argc > 1 && !strcmp(argv[1], "--exact");
	argc -= exact_only;
	argv += exact_only;
	threads = argc > 2 ? number(argv[2]) : 2;
	vms = argc > 1 ? number(argv[1]) : 0;
	if (argc > 3 || !vms || !threads) {
		fprintf(stderr, "usage: vm_churn [--exact] VMS [THREADS]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	check(kvm, 0, "/dev/kvm");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	check(run_size, 0, "KVM_GET_VCPU_MMAP_SIZE");
	workers = calloc(threads, sizeof(*workers));
	if (!workers)
		fail(0, "calloc", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < threads; i++) {
		err = pthread_create(&workers[i].thread, NULL, work, &workers[i]);
		if (err)
			fail(0, "pthread_create", strerror(err));
	}
	for (i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		vcpus += workers[i].vcpus;
		served += workers[i].served;
		exact += workers[i].exact;
		fewer += workers[i].fewer;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("vm_churn: %u VMs, %lu vCPUs run, %lu served, %lu not served; tables: %lu exact, %lu fewer (reloaded), %lu none; %.2f s\n",
	       vms, vcpus, served, vms - served, exact, fewer, vms - exact - fewer,
	       (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
	return 0;
}
