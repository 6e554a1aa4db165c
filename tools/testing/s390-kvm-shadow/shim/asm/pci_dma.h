/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-native shim: the s390 I/O translation table format, from the base
 * tree's arch/s390/include/asm/pci_dma.h if present, else from the copy in
 * fallback/ (the Makefile passes the path as SHIM_PCI_DMA_H).
 */
#ifndef _SHIM_ASM_PCI_DMA_H
#define _SHIM_ASM_PCI_DMA_H
#include <linux/types.h>	/* atomic64_t */
#include SHIM_PCI_DMA_H
#endif
