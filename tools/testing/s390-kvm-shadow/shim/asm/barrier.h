/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_ASM_BARRIER_H
#define _SHIM_ASM_BARRIER_H
#define dma_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)
#endif
