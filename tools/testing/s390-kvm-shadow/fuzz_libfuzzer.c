// SPDX-License-Identifier: GPL-2.0
/* libFuzzer entry point for the s390 KVM shadow engine (make fuzz) */
#include <stdlib.h>
#include "fuzz_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (shadow_fuzz_one(data, size))
		abort();
	return 0;
}
