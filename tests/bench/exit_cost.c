// SPDX-License-Identifier: GPL-2.0
/*
 * exit_cost: what one CPUID exit costs, seen from inside the guest.
 *
 * Runs a real-mode guest that reads the TSC, executes CPUID (leaf 0, which
 * no collector answers) N times, reads the TSC again and halts, and prints
 * the guest-visible TSC cycles per exit.  Run it with and without
 * kvm_exitstat loaded to see what counting costs.  No other VM should run.
 *
 * With --pause, the guest also executes PAUSE after each exit, and KVM lets
 * it do so without exiting (KVM_CAP_X86_DISABLE_EXITS).  That is for the
 * rig's stress test on QEMU's one-thread TCG, which switches to the other
 * vCPU on a PAUSE: without one, a vCPU looping on exits keeps the host
 * thread for 100 ms at a time, and every IPI to it waits that long.
 *
 * Usage: exit_cost [--pause] [EXITS] [RUNS]     (defaults: 20000 exits, 5 runs)
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE	0x10000
#define CODE_AT		0x1000
#define EXITS_AT	0x500	/* u32: how many CPUIDs */
#define START_AT	0x508	/* u64: TSC before */
#define END_AT		0x510	/* u64: TSC after */

/*
 * .code16
 *	mov  EXITS_AT, %ebp
 *	rdtsc
 *	mov  %eax, START_AT
 *	mov  %edx, START_AT + 4
 * 1:	pause
 * 2:	xor  %eax, %eax
 *	cpuid
 *	dec  %ebp
 *	jnz  2b		(jnz 1b with --pause)
 *	rdtsc
 *	mov  %eax, END_AT
 *	mov  %edx, END_AT + 4
 *	hlt
 */
static const uint8_t guest_code[] = {
	0x66, 0x8b, 0x2e, 0x00, 0x05,		/* mov 0x500, %ebp */
	0x0f, 0x31,				/* rdtsc */
	0x66, 0xa3, 0x08, 0x05,			/* mov %eax, 0x508 */
	0x66, 0x89, 0x16, 0x0c, 0x05,		/* mov %edx, 0x50c */
	0xf3, 0x90,				/* 1: pause */
	0x66, 0x31, 0xc0,			/* 2: xor %eax, %eax */
	0x0f, 0xa2,				/* cpuid */
	0x66, 0x4d,				/* dec %ebp */
	0x75, 0xf7,				/* jnz 2b */
	0x0f, 0x31,				/* rdtsc */
	0x66, 0xa3, 0x10, 0x05,			/* mov %eax, 0x510 */
	0x66, 0x89, 0x16, 0x14, 0x05,		/* mov %edx, 0x514 */
	0xf4,					/* hlt */
};

#define LOOP_JUMP_AT	26	/* jnz's displacement */
#define TO_PAUSE	0xf5	/* jnz 1b */

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* One guest run: TSC cycles for `exits` CPUID exits. */
static uint64_t run_once(int kvm, uint32_t exits, int pause)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_AT, .rflags = 2 };
	struct kvm_run *run;
	uint8_t *mem;
	int vm, vcpu, size;
	uint64_t start, end;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	if (pause) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_X86_DISABLE_EXITS,
			.args[0] = KVM_X86_DISABLE_EXITS_PAUSE,
		};

		if (ioctl(vm, KVM_ENABLE_CAP, &cap))
			die("KVM_CAP_X86_DISABLE_EXITS");
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	memcpy(mem + CODE_AT, guest_code, sizeof(guest_code));
	if (pause)
		mem[CODE_AT + LOOP_JUMP_AT] = TO_PAUSE;
	memcpy(mem + EXITS_AT, &exits, sizeof(exits));
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) || ioctl(vcpu, KVM_SET_REGS, &regs))
		die("KVM_SET_SREGS/REGS");
	if (ioctl(vcpu, KVM_RUN, 0))
		die("KVM_RUN");
	if (run->exit_reason != KVM_EXIT_HLT) {
		fprintf(stderr, "exit_cost: guest stopped with exit reason %u\n",
			run->exit_reason);
		exit(1);
	}
	memcpy(&start, mem + START_AT, sizeof(start));
	memcpy(&end, mem + END_AT, sizeof(end));
	munmap(run, size);
	munmap(mem, MEM_SIZE);
	close(vcpu);
	close(vm);
	return end - start;
}

int main(int argc, char **argv)
{
	int pause = argc > 1 && !strcmp(argv[1], "--pause");
	uint32_t exits = argc > 1 + pause ? strtoul(argv[1 + pause], NULL, 0) : 20000;
	int runs = argc > 2 + pause ? atoi(argv[2 + pause]) : 5;
	uint64_t *cycles;
	int kvm, i;

	if (!exits || runs < 1) {
		fprintf(stderr, "usage: exit_cost [--pause] [EXITS] [RUNS]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		die("/dev/kvm");
	cycles = calloc(runs, sizeof(*cycles));
	for (i = 0; i < runs; i++)
		cycles[i] = run_once(kvm, exits, pause);
	qsort(cycles, runs, sizeof(*cycles), compare);
	printf("exit_cost: %u CPUID exits x %d runs: median %lu TSC cycles per exit (min %lu, max %lu)\n",
	       exits, runs, cycles[runs / 2] / exits, cycles[0] / exits,
	       cycles[runs - 1] / exits);
	return 0;
}
