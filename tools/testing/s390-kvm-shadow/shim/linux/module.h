/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_MODULE_H
#define _SHIM_LINUX_MODULE_H
#define MODULE_DESCRIPTION(x)	extern int __shim_modinfo
#define MODULE_LICENSE(x)	extern int __shim_modinfo
#endif
