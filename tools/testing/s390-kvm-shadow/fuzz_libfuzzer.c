// SPDX-License-Identifier: GPL-2.0
/* libFuzzer entry point for the s390 KVM shadow engine (make fuzz) */
#include <stdlib.h>
#include "fuzz_core.h"

/* libFuzzer calls the target by this fixed symbol name */
int shadow_fuzz_target(const uint8_t *data, size_t size)
	__asm__("LLVMFuzzerTestOneInput");

int shadow_fuzz_target(const uint8_t *data, size_t size)
{
	if (shadow_fuzz_one(data, size))
		abort();
	return 0;
}
