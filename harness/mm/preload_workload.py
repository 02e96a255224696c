"""Allocation-heavy, deterministic workload for the LD_PRELOAD test of libsvsm-malloc.so.

Dicts, lists, strings, bytes and a fork: the output must be byte-identical whichever
malloc the interpreter runs on.
"""
import hashlib
import json
import os
import random
import threading

rng = random.Random(1234)

# Dict-heavy: many keys of varied sizes, growth and deletion.
d = {}
for i in range(200000):
    key = "k%d-%s" % (i, "x" * (i % 37))
    d[key] = [i, str(i) * (i % 7), {"n": i}]
for i in range(0, 200000, 3):
    del d["k%d-%s" % (i, "x" * (i % 37))]
print(len(d), sum(v[0] for v in d.values()) % 1000003)

# List-heavy: big lists, sorts, slices, nested lists.
lst = [rng.randrange(10**9) for _ in range(300000)]
lst.sort()
nested = [lst[i:i + rng.randrange(1, 300)] for i in range(0, 30000, 7)]
print(lst[:5], lst[-5:], sum(len(x) for x in nested))

# Strings and bytes of all sizes, including multi-megabyte ones.
blobs = [bytes([i % 256]) * rng.randrange(1, 70000) for i in range(400)]
big = b"".join(blobs)
print(len(big), hashlib.sha256(big).hexdigest())
text = json.dumps({str(i): [i] * (i % 11) for i in range(50000)})
print(len(text), hashlib.sha256(text.encode()).hexdigest())


# Threads allocating at once.
def work(seed, out):
    r = random.Random(seed)
    acc = []
    for _ in range(20000):
        acc.append("%x" % r.getrandbits(64) * r.randrange(1, 20))
        if len(acc) > 500:
            acc = acc[250:]
    out[seed] = len("".join(acc))


results = {}
threads = [threading.Thread(target=work, args=(s, results)) for s in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(results.items()))

# fork: the child allocates on the inherited heap.
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    child = {i: str(i) * 10 for i in range(100000)}
    os.write(w, str(len(child)).encode())
    os._exit(0)
os.close(w)
msg = os.read(r, 100).decode()
os.waitpid(pid, 0)
print("child", msg)
