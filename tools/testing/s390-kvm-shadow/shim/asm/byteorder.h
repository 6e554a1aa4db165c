/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_ASM_BYTEORDER_H
#define _SHIM_ASM_BYTEORDER_H
#include <endian.h>
#define be64_to_cpu(x)	((u64)be64toh(x))
#define cpu_to_be64(x)	((__be64)htobe64(x))
#endif
