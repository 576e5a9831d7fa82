// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_exits: count VM exits per reason with BPF, the way BCC's kvmexit does,
 * while a command runs; for make bench, which measures what that costs.
 *
 * A BPF program on KVM's kvm_exit tracepoint adds one to a per-CPU array
 * slot per exit reason (VMX basic reasons below 128).  "tp" attaches it as
 * a regular tracepoint program, which reads the reason from the event's
 * record (its offset from the event's format file); "raw:OFFSET" attaches
 * it as a raw tracepoint program, which reads the reason from the vCPU
 * (struct vcpu_vmx's exit_reason, OFFSET bytes into it), since the raw
 * event carries only the vCPU pointer.  The program is JIT-compiled if the
 * kernel has the JIT on.  When the command ends, bpf_exits prints what the
 * program counted, per reason ("bpf_exits: tp: 10:100000 32:5"), so that
 * the caller can check it counted every exit.
 *
 * Usage: bpf_exits tp|raw:OFFSET COMMAND [ARG...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EVENT		"/sys/kernel/tracing/events/kvm/kvm_exit/"
#define REASONS		128
#define MAX_CPUS	1024

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static void die(const char *what)
{
	fprintf(stderr, "bpf_exits: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* A number after "key" in a small text file. */
static long file_number(const char *path, const char *key)
{
	char text[8192], *at;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0)
		die(path);
	close(fd);
	text[n] = 0;
	at = strstr(text, key);
	if (!at) {
		errno = ENOENT;
		die(key);
	}
	return strtol(at + strlen(key), NULL, 0);
}

static int possible_cpus(void)
{
	char text[64];
	int fd, last = 0;
	ssize_t n;
	char *dash;

	fd = open("/sys/devices/system/cpu/possible", O_RDONLY);
	if (fd < 0)
		die("/sys/devices/system/cpu/possible");
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = 0;
	dash = strchr(text, '-');
	last = atoi(dash ? dash + 1 : text);
	return last + 1;
}

/*
 * The program: for the tracepoint, the reason is a u32 in the record at
 * `offset`; for the raw tracepoint, args[0] is the vCPU and the reason a u32
 * `offset` bytes into it, read with bpf_probe_read_kernel().
 */
static int load_program(int raw, int offset, int map)
{
	struct bpf_insn prog[32];
	union bpf_attr attr;
	char log[4096] = "";
	int n = 0, out_jumps[3], jumps = 0, fd, i;

	if (raw) {
		prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, 3, 1, 0, 0);	/* r3 = args[0] */
		prog[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, offset);
		prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 10, 0, 0);
		prog[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, -8);	/* r1 = fp - 8 */
		prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 4);
		prog[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_probe_read_kernel);
		out_jumps[jumps++] = n;
		prog[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0);	/* failed: out */
		prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 1, 10, -8, 0);
	} else {
		prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 1, 1, offset, 0);
	}
	prog[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, 0xffff);	/* basic reason */
	out_jumps[jumps++] = n;
	prog[n++] = INSN(BPF_JMP | BPF_JGE | BPF_K, 1, 0, 0, REASONS);
	prog[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, 10, 1, -4, 0);	/* key */
	prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0);
	prog[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4);
	prog[n++] = INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map);
	prog[n++] = INSN(0, 0, 0, 0, 0);
	prog[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	out_jumps[jumps++] = n;
	prog[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0);
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 0, 0, 0);
	prog[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, 1);
	prog[n++] = INSN(BPF_STX | BPF_MEM | BPF_DW, 0, 1, 0, 0);	/* per-CPU: no race */
	for (i = 0; i < jumps; i++)
		prog[out_jumps[i]].off = n - out_jumps[i] - 1;
	prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
	prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = raw ? BPF_PROG_TYPE_RAW_TRACEPOINT : BPF_PROG_TYPE_TRACEPOINT;
	attr.insns = (uintptr_t)prog;
	attr.insn_cnt = n;
	attr.license = (uintptr_t)"GPL";
	attr.log_buf = (uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	fd = bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0) {
		fprintf(stderr, "%s", log);
		die("BPF_PROG_LOAD");
	}
	return fd;
}

/* One perf event per CPU carries the tracepoint program. */
static void attach_tracepoint(int prog, int cpus)
{
	struct perf_event_attr attr;
	int cpu, fd;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = file_number(EVENT "id", "");
	attr.sample_period = 1;
	attr.wakeup_events = 1;
	for (cpu = 0; cpu < cpus; cpu++) {
		fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV)	/* possible, not online */
				continue;
			die("perf_event_open on kvm:kvm_exit");
		}
		if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0))
			die("attaching the program to kvm:kvm_exit");
	}
}

static void attach_raw_tracepoint(int prog)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.raw_tracepoint.name = (uintptr_t)"kvm_exit";
	attr.raw_tracepoint.prog_fd = prog;
	if (bpf(BPF_RAW_TRACEPOINT_OPEN, &attr) < 0)
		die("BPF_RAW_TRACEPOINT_OPEN kvm_exit");
}

/* The exits counted for one reason, summed over the CPUs. */
static uint64_t counted(int map, uint32_t reason, int cpus)
{
	static uint64_t per_cpu[MAX_CPUS];
	union bpf_attr attr;
	uint64_t sum = 0;
	int cpu;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = map;
	attr.key = (uintptr_t)&reason;
	attr.value = (uintptr_t)per_cpu;
	if (bpf(BPF_MAP_LOOKUP_ELEM, &attr))
		die("BPF_MAP_LOOKUP_ELEM");
	for (cpu = 0; cpu < cpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
}

int main(int argc, char **argv)
{
	int raw, offset, cpus = possible_cpus(), map, prog, status;
	union bpf_attr attr;
	uint64_t exits;
	uint32_t reason;
	pid_t child;

	raw = argc > 2 && !strncmp(argv[1], "raw:", 4);
	if (argc < 3 || (!raw && strcmp(argv[1], "tp")) || cpus > MAX_CPUS) {
		fprintf(stderr, "usage: bpf_exits tp|raw:OFFSET COMMAND [ARG...]\n");
		return 2;
	}
	offset = raw ? strtol(argv[1] + 4, NULL, 0) :
		file_number(EVENT "format", "unsigned int exit_reason;\toffset:");

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_PERCPU_ARRAY;
	attr.key_size = sizeof(uint32_t);
	attr.value_size = sizeof(uint64_t);
	attr.max_entries = REASONS;
	map = bpf(BPF_MAP_CREATE, &attr);
	if (map < 0)
		die("BPF_MAP_CREATE");
	prog = load_program(raw, offset, map);
	if (raw)
		attach_raw_tracepoint(prog);
	else
		attach_tracepoint(prog, cpus);

	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		execvp(argv[2], argv + 2);
		die(argv[2]);
	}
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	fprintf(stderr, "bpf_exits: %s:", raw ? "raw" : "tp");
	for (reason = 0; reason < REASONS; reason++) {
		exits = counted(map, reason, cpus);
		if (exits)
			fprintf(stderr, " %u:%lu", reason, (unsigned long)exits);
	}
	fprintf(stderr, "\n");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
