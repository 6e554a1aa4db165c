/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_EXPORT_H
#define _SHIM_LINUX_EXPORT_H
#define EXPORT_SYMBOL_GPL(sym)	extern int __shim_export_##sym
#define EXPORT_SYMBOL(sym)	extern int __shim_export_##sym
#endif
