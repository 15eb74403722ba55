"""Seeded fuzzing: every truncation and 2,400 random mutations of a valid small GGUF file.

Each mutated file is opened and fully used (every metadata value decoded, every tensor view
read). Only success or GGUFError may come out. The cases run in a child process under
RLIMIT_AS = 1 GiB, so an allocation sized by a corrupt count fails loudly instead of swapping,
a read past the mapped file would kill the child with SIGBUS, and each case has a 2 s alarm
against runaway loops.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import traceback

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
SEED = 20240611
N_RANDOM = 2400
MEMORY_LIMIT = 1 << 30


def test_fuzz_mutations_only_succeed_or_raise_gguf_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(SEED), str(N_RANDOM), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"child exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["random"] == N_RANDOM and summary["truncations"] > 1000
    assert summary["ok"] > 50 and summary["error"] > 1000, summary  # both outcomes really happen
    assert summary["limit_enforced"]


# ---- child process ---------------------------------------------------------------------------

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 31, 32, 33, 63, 64, 65, 255, 256, 2**15, 2**16 - 1, 2**31 - 1,
               2**31, 2**32 - 1, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 32, 2**64 - 1, 10**18]


def _mutate(rng: random.Random, raw: bytes, fields: list[tuple[str, int, int]]) -> tuple[bytes, list]:
    """Apply 1-3 random edits; returns (bytes, description of the edits)."""
    data = bytearray(raw)
    done = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["field", "field", "byte", "bitflip", "delete", "insert", "truncate"])
        if kind == "field":  # aim at a count, length, type tag or offset
            label, at, width = rng.choice(fields)
            value = rng.choice(INTERESTING + [len(raw), len(raw) - 24, rng.getrandbits(64)]) % (1 << 8 * width)
            data[at:at + width] = value.to_bytes(width, "little")
            done.append((kind, label, value))
        elif kind in ("byte", "bitflip") and data:
            at = rng.randrange(len(data))
            data[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)]) if kind == "byte" else \
                data[at] ^ (1 << rng.randrange(8))
            done.append((kind, at, data[at]))
        elif kind == "delete" and data:
            at, n = rng.randrange(len(data)), rng.randint(1, 16)
            del data[at:at + n]
            done.append((kind, at, n))
        elif kind == "insert":
            at, chunk = rng.randrange(len(data) + 1), bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            data[at:at] = chunk
            done.append((kind, at, chunk.hex()))
        elif kind == "truncate":
            n = rng.randrange(len(data) + 1)
            del data[n:]
            done.append((kind, n))
    return bytes(data), done


def _use(value) -> None:
    """Decode and read a metadata value completely."""
    from localllm.gguf import StringArray

    if isinstance(value, StringArray):
        value.tolist()
        len(value) and value[-1]
    elif isinstance(value, list):
        for item in value:
            _use(item)
    elif hasattr(value, "sum"):
        value.astype("f8").sum()


def _exercise(path: str) -> str:
    from localllm.errors import GGUFError
    from localllm.gguf import open_gguf
    from localllm.gguf.types import TYPED_DTYPES

    try:
        with open_gguf(path) as f:
            for value in f.metadata.values():
                _use(value)
            for t in f.tensors:
                int(t.data.sum())  # reads every byte: SIGBUS if the view ran past the file
                t.rows()
                if t.type in TYPED_DTYPES:
                    t.array()
            f.n_params
        return "ok"
    except GGUFError:
        return "error"


def _child(seed: int, n_random: int, workdir: str) -> int:
    import resource
    import signal

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from gguf_bytes import full_builder

    try:
        bytearray(2 * MEMORY_LIMIT)
        limit_enforced = False
    except MemoryError:
        limit_enforced = True

    def on_alarm(*_):
        raise TimeoutError("case took more than 2 s")

    signal.signal(signal.SIGALRM, on_alarm)
    builder = full_builder()
    raw = builder.to_bytes()
    assert _exercise_bytes(raw, workdir) == "ok"
    rng = random.Random(seed)
    cases = [(raw[:n], [("truncate", n)]) for n in range(len(raw))]
    cases += [_mutate(rng, raw, builder.fields) for _ in range(n_random)]
    counts = {"ok": 0, "error": 0}
    for i, (data, edits) in enumerate(cases):
        signal.alarm(2)
        try:
            counts[_exercise_bytes(data, workdir)] += 1
        except BaseException:
            signal.alarm(0)
            print(f"case {i} ({len(data)} bytes), edits {edits}:\n{traceback.format_exc()}")
            return 1
        signal.alarm(0)
    print(json.dumps({**counts, "truncations": len(raw), "random": n_random, "limit_enforced": limit_enforced}))
    return 0


def _exercise_bytes(data: bytes, workdir: str) -> str:
    path = os.path.join(workdir, "case.gguf")
    with open(path, "wb") as fh:
        fh.write(data)
    return _exercise(path)


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    sys.exit(_child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
