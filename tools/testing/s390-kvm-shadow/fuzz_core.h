/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHADOW_TEST_FUZZ_CORE_H
#define _SHADOW_TEST_FUZZ_CORE_H
#include <stddef.h>
#include <stdint.h>

/*
 * Interpret @data as a program of guest table mutations, refreshes,
 * releases, limit/failure injections and IOTA switches; check the engine's
 * invariants after every step.  Returns 0, or -1 after printing a failure.
 */
int shadow_fuzz_one(const uint8_t *data, size_t size);
#endif
