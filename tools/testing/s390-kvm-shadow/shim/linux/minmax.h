/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_MINMAX_H
#define _SHIM_LINUX_MINMAX_H
/* like the kernel: both operands must have the same type */
#define __shim_cmp(a, b, op) ({					\
	__typeof__(a) __a = (a);				\
	__typeof__(b) __b = (b);				\
	(void)(&__a == &__b);					\
	__a op __b ? __a : __b; })
#define min(a, b)	__shim_cmp(a, b, <)
#define max(a, b)	__shim_cmp(a, b, >)
#define min_t(type, a, b)	__shim_cmp((type)(a), (type)(b), <)
#endif
