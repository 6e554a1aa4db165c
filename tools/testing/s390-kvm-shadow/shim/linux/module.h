/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_MODULE_H
#define _SHIM_LINUX_MODULE_H
#include <assert.h>		/* static_assert */
/* no module information: only check that the argument is an object */
#define MODULE_DESCRIPTION(desc)	static_assert(sizeof(desc), "description")
#define MODULE_LICENSE(license)		static_assert(sizeof(license), "license")
#endif
