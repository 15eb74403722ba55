"""One prefill (GEMM path) and two decode steps (matvec, CUDA graph capture and replay) with every
layer on the GPU, then the same with half the layers: the run compute-sanitizer checks.

    compute-sanitizer --tool memcheck python tests/cuda/one_forward.py MODEL.gguf
"""

import sys

import numpy as np

from localllm.engine import load_model


def main(path: str) -> int:
    for ngl in ("all", 2):
        with load_model(path, n_ctx=64, n_batch=32, n_gpu_layers=ngl) as lm:
            tokens = np.arange(3, 27, dtype=np.int32)
            logits = lm.eval_tokens(tokens, logit_rows=np.arange(len(tokens)))
            for pos in range(len(tokens), len(tokens) + 2):
                logits = lm.model.forward([int(logits[-1].argmax())], [pos])
            print(f"ngl={ngl}: finite={bool(np.isfinite(logits).all())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
