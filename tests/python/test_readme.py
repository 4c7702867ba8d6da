"""The README's Python section runs as written against a real winnowd: the
client snippet, and the PyTorch loop (under ten lines) that trains from
Winnow and checkpoints the loader's state."""

from __future__ import annotations

import os
import re
import tempfile
import unittest

import numpy as np
import torch

import winnow
from winnowd import ROOT, Winnowd


def readme_blocks():
    with open(os.path.join(ROOT, "README.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


class ReadmeTest(unittest.TestCase):
    def test_the_python_snippets_run(self):
        blocks = readme_blocks()
        loop = next(b for b in blocks if "WinnowDataLoader" in b)
        client_snippet = next(b for b in blocks if "client.upsert" in b)
        self.assertLess(len(loop.strip().splitlines()), 10, "the loop is under ten lines")
        with Winnowd() as d, tempfile.TemporaryDirectory() as tmp:
            c = winnow.Client(d.address)
            c.create_collection("demo")
            c.upsert("demo", columns={"ids": [f"d{i}" for i in range(200)],
                                      "payloads": [f"text {i}" for i in range(200)]})
            trained = []

            def train_step(model, data):
                trained.append(list(data))
                return torch.zeros(())

            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                exec(loop.replace("127.0.0.1:7450", d.address),
                     {"model": torch.nn.Linear(1, 1), "train_step": train_step})
                saved = torch.load("ckpt.pt")
            finally:
                os.chdir(cwd)
            # 2 epochs of 200 documents in batches of 32: 6 batches each.
            self.assertEqual(len(trained), 12)
            payloads = sorted(p for batch in trained[:6] for p in batch)
            self.assertEqual(len(set(payloads)), 192)
            self.assertTrue(all(p.startswith(b"text ") for p in payloads))
            # The last checkpoint resumes after the run: nothing is left.
            scope = {"model": torch.nn.Linear(1, 1), "train_step": train_step}
            setup = loop[:loop.index("for epoch")].replace("127.0.0.1:7450", d.address)
            exec(setup, scope)
            scope["loader"].load_state_dict(saved["data"])
            self.assertEqual(scope["ds"].epoch, 2)
            self.assertEqual(list(scope["loader"]), [])

            n = 1000
            ids = [f"w{i}" for i in range(n)]
            scope = {"ids": ids, "lengths": np.arange(n), "quality": np.linspace(0, 1, n)}
            exec(client_snippet.replace("127.0.0.1:7450", d.address), scope)
            self.assertEqual(c.count("web").count, n)


if __name__ == "__main__":
    unittest.main()
