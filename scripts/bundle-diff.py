#!/usr/bin/env python3
"""Compare two ShopAI bundles section by section (format: ARCHITECTURE.md, "The bundle").

Usage: scripts/bundle-diff.py A.bin B.bin

Every section must be byte-identical, the manifest too once the values of `created_at` and
`version` (build time and date; the only inputs that are not the data) are blanked. Exits 0
when the bundles are the same in that sense, 1 otherwise, printing what differs.
"""
import re
import struct
import sys


def sections(path):
    b = open(path, 'rb').read()
    assert b[:8] == b'SHOPAIBN', f'{path}: not a bundle'
    version, count = struct.unpack_from('<II', b, 8)
    out = {}
    for e in range(count):
        kind, _, off, length, crc, _ = struct.unpack_from('<IIQQII', b, 32 + 32 * e)
        out[kind] = b[off:off + length]
    return version, out


def main():
    (va, a), (vb, b) = sections(sys.argv[1]), sections(sys.argv[2])
    same = va == vb and sorted(a) == sorted(b)
    if not same:
        print(f'format {va} vs {vb}; section kinds {sorted(a)} vs {sorted(b)}')
    for kind in sorted(set(a) & set(b)):
        if kind == 1:
            blank = lambda m: re.sub(rb'"(created_at|version)":"[^"]*"', rb'"\1":""', m)
            ma, mb = blank(a[kind]), blank(b[kind])
            if ma != mb:
                same = False
                print(f'manifest differs:\n  {ma.decode()}\n  {mb.decode()}')
        elif a[kind] != b[kind]:
            same = False
            print(f'section kind {kind} differs ({len(a[kind])} vs {len(b[kind])} bytes)')
    print('same bundle' if same else 'bundles differ')
    sys.exit(0 if same else 1)


if __name__ == '__main__':
    main()
