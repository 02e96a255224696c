#!/usr/bin/env python3
"""Write the seed corpus of harness/fuzz/fuzz_mm.c to fixtures/fuzz/mm/ (one file per scenario).

Input format: one setup byte (first range = 10 + 8 * byte pages), then 4-byte operations
(opcode, slot, 16-bit little-endian argument); opcodes as in fuzz_op():
0 alloc, 1 zalloc, 2/3 free, 4 realloc, 5 aligned alloc, 6 page alloc (bit 8 of the
argument: zeroed), 7 fail nth, 8 deposit, 9 withdraw, 10 drain, 11 usable size.
"""
import os
import random
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../fixtures/fuzz/mm")


def op(code, slot, arg):
    return struct.pack("<BBH", code, slot, arg & 0xFFFF)


def small(n):
    return n & 0x3FF


def mid(n):
    return 0x8000 | (n & 0x3FFF)


def big(units256):
    return 0xC000 | (units256 & 0x3FFF)


scenarios = {}

# Small objects of every class, freed in another order.
s = [bytes([200])]
for i in range(40):
    s.append(op(0, i, small(i * 25 + 1)))
for i in range(0, 40, 3):
    s.append(op(2, i, 0))
for i in range(40):
    s.append(op(11, i, 0))
    s.append(op(3, i, 0))
scenarios["small-classes"] = s

# One block grown by realloc through slab, page and multi-megabyte sizes, then shrunk.
s = [bytes([255]), op(0, 1, small(1))]
for n in (small(30), small(500), mid(3000), mid(9000), big(100), big(9000), mid(100), small(3)):
    s.append(op(4, 1, n))
scenarios["realloc-chain"] = s

# Pages of every order, some zeroed, freed and taken again.
s = [bytes([255])]
for o in range(10):
    s.append(op(6, o, o | (0x100 if o % 2 else 0)))
for o in range(0, 10, 2):
    s.append(op(2, o, 0))
for o in range(10):
    s.append(op(6, o + 10, o))
scenarios["page-orders"] = s

# Exhaustion of a small first range, then everything freed.
s = [bytes([4])]
for i in range(60):
    s.append(op(0, i, mid(2000 + i * 10)))
for i in range(60):
    s.append(op(6, i, 0))
s.append(op(10, 0, 0))
scenarios["exhaustion"] = s

# Deposits (valid and hostile), withdrawal, re-deposit of withdrawn pages.
s = [bytes([2])]
s += [op(8, 4, 1000), op(8, 36, 1300), op(8, 6, 1000), op(8, 12, 2199), op(8, 4, 3)]
s += [op(0, i, mid(5000)) for i in range(8)]
s += [op(9, 0, 20), op(8, 1, 0), op(8, 1, 5), op(9, 0, 63)]
s += [op(2, i, 0) for i in range(8)]
s += [op(9, 0, 63), op(8, 1, 7), op(0, 9, small(20))]
scenarios["deposit-withdraw"] = s

# Failure injection between allocations of all kinds.
s = [bytes([100])]
for i in range(20):
    s.append(op(7, 0, 1 + i % 4))
    s.append(op(i % 2, i, mid(i * 300)))
    s.append(op(6, i + 20, i % 3))
    s.append(op(4, i, small(i * 40 + 5)))
scenarios["fail-injection"] = s

# Aligned allocations of every power of two.
s = [bytes([255])]
for k in range(23):
    s.append(op(5, k, (k | (small(100 + k) << 5)) & 0xFFFF))
scenarios["aligned"] = s

# A random mix, fixed seed.
rng = random.Random(7)
s = [bytes([rng.randrange(256)])]
for _ in range(400):
    s.append(op(rng.randrange(12), rng.randrange(64), rng.randrange(65536)))
scenarios["random-mix"] = s

# Dictionary: whole operations at the allocators' boundaries (slab class limits, the
# page-backed heap, every page order, the largest alignments, failure injection).
tokens = {}
for n in (1, 16, 17, 48, 49, 512, 1023):
    tokens[f"alloc_small_{n}"] = op(0, 0, small(n))
for n in (3839, 3840, 3841, 4096, 4097, 8192, 16383):
    tokens[f"alloc_mid_{n}"] = op(0, 0, mid(n))
for u in (16, 255, 256, 4096, 8191, 8192):
    tokens[f"alloc_big_{u}x256"] = op(0, 0, big(u))
for o in range(10):
    tokens[f"page_order_{o}"] = op(6, 0, o)
    tokens[f"page_order_{o}_zeroed"] = op(6, 0, 0x100 | o)
for k in (12, 16, 21, 22):
    tokens[f"aligned_2pow{k}"] = op(5, 0, k | (small(64) << 5))
for n in (1, 2, 3, 4):
    tokens[f"fail_nth_{n}"] = op(7, 0, n)
tokens["realloc_mid_4097"] = op(4, 0, mid(4097))
tokens["realloc_zero"] = op(4, 0, 0)
tokens["free"] = op(2, 0, 0)
tokens["drain"] = op(10, 0, 0)
tokens["withdraw_64"] = op(9, 0, 63)
tokens["deposit_back"] = op(8, 1, 0)
tokens["deposit_hostile"] = op(8, 38, 1000)

os.makedirs(OUT, exist_ok=True)
for name, parts in scenarios.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"".join(parts))
dict_path = OUT.rstrip("/") + ".dict"
with open(dict_path, "w") as f:
    f.write("# libFuzzer/AFL++ dictionary of the allocator target (harness/fuzz/gen_mm_corpus.py)\n")
    for name, data in tokens.items():
        f.write(f'{name}="' + "".join(f"\\x{b:02x}" for b in data) + '"\n')
print(f"wrote {len(scenarios)} inputs to {OUT} and {len(tokens)} tokens to {dict_path}")
