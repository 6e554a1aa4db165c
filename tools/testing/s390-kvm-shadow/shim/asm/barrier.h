/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_ASM_BARRIER_H
#define _SHIM_ASM_BARRIER_H
/*
 * Host-native stand-ins for the s390 barriers: release fences, which order
 * the stores to a new shadow table before the store that links it.
 */
#define dma_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)	/* device */
#define smp_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)	/* other CPUs */
#endif
