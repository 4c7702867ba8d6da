#!/usr/bin/env python3
"""Writes Winnow's demo dataset as JSONL, one document per line.

The documents are synthetic and deterministic (a fixed seed), shaped like
the benchmark protocol's workload: 8 domains with Zipf-like shares, lognormal
lengths in tokens, and quality, perplexity and edu scores, plus a `lang`
attribute and a short text payload. Only the standard library is used.

With --embeddings OUT.npy it also writes one unit-length embedding per
document, row-aligned with the JSONL (a float32 .npy of shape (N, --dim)):
documents drawn around 40 topic directions, of which 5% are planted near
duplicates of an earlier document (its vector plus a little noise,
normalized), the kind SemDeDup finds (docs/embeddings.md).

Usage: make_demo_data.py OUT.jsonl [--count N] [--seed S]
                         [--embeddings OUT.npy] [--dim D]
"""

import argparse
import json
import math
import random
import struct

DOMAINS = ["web", "wiki", "code", "books", "news", "forum", "papers", "legal"]
LANGS = ["en", "en", "en", "de", "fr", "es", "zh"]
WORDS = ("data selection training model token batch sample score filter "
         "quality domain epoch cursor shard rank weight mixture").split()


def unit(v):
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def embeddings(count, dim, rng):
    """count unit rows: 95% near one of 40 topics, 5% near duplicates."""
    topics = [unit([rng.gauss(0, 1) for _ in range(dim)]) for _ in range(40)]
    rows = []
    for i in range(count):
        if i > 0 and rng.random() < 0.05:
            source = rows[rng.randrange(i)]
            rows.append(unit([x + rng.gauss(0, 0.01) for x in source]))
        else:
            topic = rng.choice(topics)
            rows.append(unit([x + rng.gauss(0, 0.35) for x in topic]))
    return rows


def write_npy(path, rows, dim):
    """A version 1.0 .npy of little-endian float32, C order."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (
        len(rows), dim)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as out:
        out.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        out.write(header.encode("latin1"))
        for row in rows:
            out.write(struct.pack("<%df" % dim, *row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embeddings", help="also write embeddings here (.npy)")
    parser.add_argument("--dim", type=int, default=32)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    shares = [1.0 / (c + 1) for c in range(len(DOMAINS))]
    with open(args.out, "w", encoding="utf-8") as out:
        for i in range(args.count):
            domain = rng.choices(DOMAINS, weights=shares)[0]
            length = int(round(rng.lognormvariate(math.log(600), 1.0)))
            length = min(max(length, 16), 32768)
            quality = rng.betavariate(2, 5)
            doc = {
                "id": "doc-%07d" % i,
                "domain": domain,
                "length": length,
                "scores": {
                    "quality": round(quality, 6),
                    "perplexity": round(rng.lognormvariate(math.log(20), 0.5), 4),
                    "edu": round(rng.uniform(0, 5), 4),
                },
                "attributes": {"lang": rng.choice(LANGS)},
                "payload": " ".join(rng.choice(WORDS) for _ in range(12)),
            }
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    if args.embeddings:
        # Their own generator, so the JSONL stays the same with or without.
        rows = embeddings(args.count, args.dim, random.Random(args.seed + 1))
        write_npy(args.embeddings, rows, args.dim)


if __name__ == "__main__":
    main()
