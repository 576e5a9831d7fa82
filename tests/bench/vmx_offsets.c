// SPDX-License-Identifier: GPL-2.0
/*
 * Where struct vcpu_vmx keeps the exit reason, for bpf_exits' raw
 * tracepoint program.  Compiled to assembly only, the way the kernel makes
 * its asm-offsets (scripts/build-offsets.sh).
 */
#include <linux/kbuild.h>
#include "vmx/vmx.h"

void vmx_offsets(void);
void vmx_offsets(void)
{
	OFFSET(VCPU_VMX_EXIT_REASON, vcpu_vmx, exit_reason);
}
