/* SPDX-License-Identifier: GPL-2.0 */
/* Host-native shim: kernel integer types for the s390 shadow engine. */
#ifndef _SHIM_LINUX_TYPES_H
#define _SHIM_LINUX_TYPES_H
#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;	/* as in the kernel (int-ll64) */
typedef long long s64;
typedef struct { s64 counter; } atomic64_t;
#endif
