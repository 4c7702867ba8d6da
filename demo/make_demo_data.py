#!/usr/bin/env python3
"""Writes Winnow's demo dataset as JSONL, one document per line.

The documents are synthetic and deterministic (a fixed seed), shaped like
the benchmark protocol's workload: 8 domains with Zipf-like shares, lognormal
lengths in tokens, and quality, perplexity and edu scores, plus a `lang`
attribute and a short text payload. Only the standard library is used.

Usage: make_demo_data.py OUT.jsonl [--count N] [--seed S]
"""

import argparse
import json
import math
import random

DOMAINS = ["web", "wiki", "code", "books", "news", "forum", "papers", "legal"]
LANGS = ["en", "en", "en", "de", "fr", "es", "zh"]
WORDS = ("data selection training model token batch sample score filter "
         "quality domain epoch cursor shard rank weight mixture").split()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
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


if __name__ == "__main__":
    main()
