/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-native shim: the fake guest's "physical" address of a shadow table
 * is its host virtual address.
 */
#ifndef _SHIM_LINUX_IO_H
#define _SHIM_LINUX_IO_H
#include <stdint.h>

static inline unsigned long virt_to_phys(const void *address)
{
	return (unsigned long)(uintptr_t)address;
}

static inline void *phys_to_virt(unsigned long address)
{
	return (void *)(uintptr_t)address;
}
#endif
