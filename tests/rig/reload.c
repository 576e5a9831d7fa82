// SPDX-License-Identifier: GPL-2.0
/*
 * reload: load, reset and unload kvm_exitstat CYCLES times, for the stress
 * test that does so while VMs exit on every CPU.
 *
 * Each cycle loads the module, resets it, waits until it has counted an
 * exit (at most 10 s), reads the table of each VM directory given (KVM's
 * debugfs directory of a running VM, whose exit_stats file the module
 * serves) and unloads the module.  It does in one process what insmod,
 * echo, cat and rmmod would do in a dozen: on an emulated machine a process
 * costs more than a cycle's kernel work.
 *
 * Usage: reload MODULE.ko CYCLES VM_DIR...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STATS	"/sys/kernel/debug/kvm_exitstat/stats"
#define RESET	"/sys/kernel/debug/kvm_exitstat/reset"

static unsigned long cycle;

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "reload: cycle %lu: %s %s: %s\n", cycle, what, path,
		strerror(errno));
	exit(1);
}

/* Reads a whole file into buf; returns its length. */
static size_t read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n = 0;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail("cannot open", path);
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	if (n < 0)
		fail("cannot read", path);
	close(fd);
	buf[len] = 0;
	return len;
}

/* The exits counted in the host's table (its "total" row). */
static unsigned long counted(void)
{
	static char table[16384];
	unsigned long exits;
	char *line;

	read_file(STATS, table, sizeof(table));
	for (line = strtok(table, "\n"); line; line = strtok(NULL, "\n"))
		if (sscanf(line, " total %lu", &exits) == 1)
			return exits;
	return 0;
}

int main(int argc, char **argv)
{
	static char table[16384];
	unsigned long cycles, waited;
	struct timespec ms = { .tv_nsec = 1000000 };
	char path[4096];
	int module, reset, i;
	time_t start;

	cycles = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
	if (argc < 4 || !cycles) {
		fprintf(stderr, "usage: reload MODULE.ko CYCLES VM_DIR...\n");
		return 2;
	}
	module = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (module < 0)
		fail("cannot open", argv[1]);
	start = time(NULL);
	for (cycle = 1; cycle <= cycles; cycle++) {
		if (syscall(SYS_finit_module, module, "", 0))
			fail("cannot load", argv[1]);
		reset = open(RESET, O_WRONLY);
		if (reset < 0 || write(reset, "1", 1) != 1)
			fail("cannot reset through", RESET);
		close(reset);
		for (waited = 0; !counted(); waited++) {
			if (waited == 10000) {
				errno = ETIMEDOUT;
				fail("no exit counted in", STATS);
			}
			nanosleep(&ms, NULL);
		}
		for (i = 3; i < argc; i++) {
			snprintf(path, sizeof(path), "%s/exit_stats", argv[i]);
			if (!read_file(path, table, sizeof(table))) {
				errno = ENODATA;
				fail("empty table", path);
			}
		}
		if (syscall(SYS_delete_module, "kvm_exitstat", O_NONBLOCK))
			fail("cannot unload", "kvm_exitstat");
		if (cycle % 100 == 0)
			printf("reload: %lu cycles, %ld s\n", cycle,
			       (long)(time(NULL) - start));
		fflush(stdout);
	}
	return 0;
}
