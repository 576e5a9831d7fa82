// SPDX-License-Identifier: GPL-2.0
/*
 * exit_cost: what one VM exit costs, seen from inside the guest.
 *
 * Runs a real-mode guest that reads the TSC, executes CPUID (leaf 0, which
 * no collector answers) N times, reads the TSC again and halts, and prints
 * the guest-visible TSC cycles per exit.  Run it with and without
 * kvm_exitstat loaded to see what counting costs.  No other VM should run.
 *
 * With --icr, the exit is instead a write of the x2APIC ICR: a fixed IPI to
 * an APIC ID that no vCPU has, which KVM handles in its fastpath, with
 * interrupts still off, and re-enters the guest at once; the cheapest exit
 * KVM has.  The VM then has KVM's local APIC and CPUID with x2APIC, and the
 * guest ends with an OUT instead of HLT (KVM's APIC would keep a halted
 * vCPU in the kernel).
 *
 * With --pause, the guest also executes PAUSE after each exit, and KVM lets
 * it do so without exiting (KVM_CAP_X86_DISABLE_EXITS).  That is for the
 * rig's stress test on QEMU's one-thread TCG, which switches to the other
 * vCPU on a PAUSE: without one, a vCPU looping on exits keeps the host
 * thread for 100 ms at a time, and every IPI to it waits that long.
 *
 * Usage: exit_cost [--pause|--icr] [EXITS] [RUNS]  (defaults: 20000 exits, 5 runs)
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
#define EXITS_AT	0x500	/* u32: how many exits */
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

/*
 * .code16
 *	mov  $0x1b, %ecx		IA32_APIC_BASE
 *	rdmsr
 *	or   $0xc00, %eax		enabled, x2APIC mode
 *	wrmsr
 *	mov  $0x830, %ecx		x2APIC ICR
 *	mov  EXITS_AT, %ebp
 *	rdtsc
 *	mov  %eax, START_AT
 *	mov  %edx, START_AT + 4
 *	mov  $0x40, %eax		fixed, physical, vector 0x40
 *	mov  $5, %edx			to APIC ID 5
 * 1:	wrmsr
 *	dec  %ebp
 *	jnz  1b
 *	rdtsc
 *	mov  %eax, END_AT
 *	mov  %edx, END_AT + 4
 *	out  %al, $0x10
 */
static const uint8_t icr_guest_code[] = {
	0x66, 0xb9, 0x1b, 0x00, 0x00, 0x00,	/* mov $0x1b, %ecx */
	0x0f, 0x32,				/* rdmsr */
	0x66, 0x0d, 0x00, 0x0c, 0x00, 0x00,	/* or $0xc00, %eax */
	0x0f, 0x30,				/* wrmsr */
	0x66, 0xb9, 0x30, 0x08, 0x00, 0x00,	/* mov $0x830, %ecx */
	0x66, 0x8b, 0x2e, 0x00, 0x05,		/* mov 0x500, %ebp */
	0x0f, 0x31,				/* rdtsc */
	0x66, 0xa3, 0x08, 0x05,			/* mov %eax, 0x508 */
	0x66, 0x89, 0x16, 0x0c, 0x05,		/* mov %edx, 0x50c */
	0x66, 0xb8, 0x40, 0x00, 0x00, 0x00,	/* mov $0x40, %eax */
	0x66, 0xba, 0x05, 0x00, 0x00, 0x00,	/* mov $5, %edx */
	0x0f, 0x30,				/* 1: wrmsr */
	0x66, 0x4d,				/* dec %ebp */
	0x75, 0xfa,				/* jnz 1b */
	0x0f, 0x31,				/* rdtsc */
	0x66, 0xa3, 0x10, 0x05,			/* mov %eax, 0x510 */
	0x66, 0x89, 0x16, 0x14, 0x05,		/* mov %edx, 0x514 */
	0xe6, 0x10,				/* out %al, $0x10 */
};

enum mode { CPUID, CPUID_PAUSE, ICR };

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

/* Gives the vCPU all the CPUID leaves KVM supports, x2APIC among them. */
static void set_supported_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int n = 256;

	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	if (!cpuid)
		die("calloc");
	cpuid->nent = n;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) || ioctl(vcpu, KVM_SET_CPUID2, cpuid))
		die("KVM_GET_SUPPORTED_CPUID/KVM_SET_CPUID2");
	free(cpuid);
}

/* One guest run: TSC cycles for `exits` exits. */
static uint64_t run_once(int kvm, uint32_t exits, enum mode mode)
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
	if (mode == ICR && ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		die("KVM_CREATE_IRQCHIP");
	if (mode == CPUID_PAUSE) {
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
	if (mode == ICR) {
		memcpy(mem + CODE_AT, icr_guest_code, sizeof(icr_guest_code));
	} else {
		memcpy(mem + CODE_AT, guest_code, sizeof(guest_code));
		if (mode == CPUID_PAUSE)
			mem[CODE_AT + LOOP_JUMP_AT] = TO_PAUSE;
	}
	memcpy(mem + EXITS_AT, &exits, sizeof(exits));
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	if (mode == ICR)
		set_supported_cpuid(kvm, vcpu);
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
	if (run->exit_reason != (mode == ICR ? KVM_EXIT_IO : KVM_EXIT_HLT)) {
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
	enum mode mode = CPUID;
	int option = argc > 1 && argv[1][0] == '-';
	uint32_t exits = argc > 1 + option ? strtoul(argv[1 + option], NULL, 0) : 20000;
	int runs = argc > 2 + option ? atoi(argv[2 + option]) : 5;
	uint64_t *cycles;
	int kvm, i;

	if (option && !strcmp(argv[1], "--pause"))
		mode = CPUID_PAUSE;
	else if (option && !strcmp(argv[1], "--icr"))
		mode = ICR;
	else if (option)
		exits = 0;
	if (!exits || runs < 1) {
		fprintf(stderr, "usage: exit_cost [--pause|--icr] [EXITS] [RUNS]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		die("/dev/kvm");
	cycles = calloc(runs, sizeof(*cycles));
	for (i = 0; i < runs; i++)
		cycles[i] = run_once(kvm, exits, mode);
	qsort(cycles, runs, sizeof(*cycles), compare);
	printf("exit_cost: %u %s exits x %d runs: median %lu TSC cycles per exit (min %lu, max %lu)\n",
	       exits, mode == ICR ? "x2APIC ICR write" : "CPUID", runs, cycles[runs / 2] / exits, cycles[0] / exits,
	       cycles[runs - 1] / exits);
	return 0;
}
