"""GPU run of the attention benchmark: fp32 agreement checks, then every measurement on CUDA in bf16.

python benchmarks/gpu_attention.py [--output benchmarks/results/attention-gpu.json]   (under 5 minutes)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_attention

if __name__ == "__main__":
    out = (
        sys.argv[sys.argv.index("--output") + 1]
        if "--output" in sys.argv
        else str(Path(__file__).parent / "results" / "attention-gpu.json")
    )
    sys.argv = [sys.argv[0], "--device", "cuda", "--dtype", "bf16", "--check", "--output", out]
    bench_attention.main()
