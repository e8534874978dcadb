"""Runs dropnet's benchmark harness from the repository (the same as ``dropnet bench``),
writing results to bench/results/. Needs dropnet installed (``pip install .``)."""

import os
import sys

from dropnet.bench import main

if __name__ == "__main__":
    sys.exit(main(default_out=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")))
