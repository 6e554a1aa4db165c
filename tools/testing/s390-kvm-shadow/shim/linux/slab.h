/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-native shim: kvrealloc()/kvfree(), defined by the fake guest
 * (guest.c), which injects kvrealloc() failures (fail_realloc_in).
 */
#ifndef _SHIM_LINUX_SLAB_H
#define _SHIM_LINUX_SLAB_H
#include <stddef.h>
#include <linux/types.h>	/* __bitwise */

typedef unsigned int __bitwise gfp_t;
#define GFP_KERNEL		((gfp_t)0x1)
#define GFP_KERNEL_ACCOUNT	((gfp_t)0x3)

void *kvrealloc(const void *p, size_t size, gfp_t flags);
void kvfree(const void *p);
#endif
