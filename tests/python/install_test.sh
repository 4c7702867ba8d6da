#!/bin/sh
# The README's install path for the Python package, in a fresh venv:
# Debian's pip refuses the system Python (PEP 668) and PyPI is unreachable,
# so the package goes into a venv that sees Debian's grpcio, protobuf, numpy
# and torch (--system-site-packages), installed with --no-index
# --no-build-isolation. Then the venv's python imports the installed copy
# (not the checkout) and talks to a real winnowd.
# Usage: install_test.sh SOURCE_DIR WORK_DIR  (WINNOWD in the environment)
set -eu
SRC=$1 WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
/usr/bin/python3 -m venv --system-site-packages "$WORK/venv"
cd "$SRC"
"$WORK/venv/bin/pip" install --quiet --no-index --no-build-isolation ./client/python
cd "$WORK"
# Nothing of the checkout on the path: the installed package must stand alone.
SRC="$SRC" env -u PYTHONPATH "$WORK/venv/bin/python" - <<'PY'
import os, sys
import winnow, winnow.torch
from winnow.v1 import selection_pb2
assert os.path.realpath(winnow.__file__).startswith(os.path.realpath(sys.prefix)), winnow.__file__
sys.path.insert(0, os.path.join(os.environ["SRC"], "tests", "python"))
from winnowd import Winnowd
with Winnowd() as d, winnow.Client(d.address) as c:
    c.create_collection("installed")
    c.upsert("installed", [{"id": "a"}, {"id": "b"}])
    assert c.count("installed").count == 2
    batches = list(c.sample("installed", batch_size=2, seed=1, num_epochs=1))
    assert sorted(batches[0].ids) == ["a", "b"], batches[0].ids
print("installed winnow", winnow.__version__, "at", os.path.dirname(winnow.__file__))
PY
