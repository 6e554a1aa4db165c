#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Disk image pattern and write-back check.

  mkdisk.py create IMAGE        16 MiB, u64 BE at o = (o*0x9E3779B97F4A7C15)^0x0123456789ABCDEF
  mkdisk.py check IMAGE         main job wrote 4096 bytes at 0x100000, byte i = (i*7+0x3c)&0xff,
                                everything else unchanged
"""
import os
import struct
import sys

SIZE = 16 << 20
WB_OFF = 0x100000
WB_LEN = 4096
M64 = (1 << 64) - 1


def pattern(start, length):
    out = bytearray(length)
    for o in range(start, start + length, 8):
        struct.pack_into(">Q", out, o - start,
                         ((o * 0x9E3779B97F4A7C15) & M64) ^ 0x0123456789ABCDEF)
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("create", "check"):
        sys.exit(__doc__)
    op, path = sys.argv[1], sys.argv[2]
    full = pattern(0, SIZE)
    if op == "create":
        # new inode: never rewrite an image a running QEMU still has open
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(full)
        os.replace(tmp, path)
        return
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != SIZE:
        print("write-back check: FAIL: image size %d, expected %d" % (len(data), SIZE))
        sys.exit(1)
    want = bytes(((i * 7 + 0x3c) & 0xff) for i in range(WB_LEN))
    got = data[WB_OFF:WB_OFF + WB_LEN]
    rest_ok = (data[:WB_OFF] == full[:WB_OFF] and
               data[WB_OFF + WB_LEN:] == full[WB_OFF + WB_LEN:])
    if not rest_ok:
        bad = next(i for i in range(SIZE)
                   if not (WB_OFF <= i < WB_OFF + WB_LEN) and data[i] != full[i])
        print("write-back check: FAIL: image modified outside the write-back "
              "region (first difference at offset 0x%x)" % bad)
        sys.exit(1)
    if got == want:
        print("write-back check: PASS (4096 bytes at 0x100000 as expected, rest unchanged)")
        return
    if got == full[WB_OFF:WB_OFF + WB_LEN]:
        print("write-back check: FAIL: region at 0x100000 still holds the original pattern "
              "(nothing was written)")
    else:
        n = sum(1 for a, b in zip(got, want) if a != b)
        print("write-back check: FAIL: %d of 4096 bytes at 0x100000 differ from the expected data" % n)
    sys.exit(1)


if __name__ == "__main__":
    main()
