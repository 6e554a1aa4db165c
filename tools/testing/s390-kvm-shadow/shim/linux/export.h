/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_EXPORT_H
#define _SHIM_LINUX_EXPORT_H
#include <assert.h>		/* static_assert */
/* nothing to export: only check that the symbol is declared */
#define EXPORT_SYMBOL_GPL(sym)	static_assert(sizeof(typeof(sym) *), #sym)
#endif
