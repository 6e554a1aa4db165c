/* SPDX-License-Identifier: GPL-2.0 */
/* s390 page constants (the host page size does not matter to the engine) */
#ifndef _SHIM_ASM_PAGE_H
#define _SHIM_ASM_PAGE_H
#include <linux/bits.h>
#define PAGE_SHIFT		12
#define PAGE_SIZE		BIT(PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define PAGE_DEFAULT_KEY	0
#endif
