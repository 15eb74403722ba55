"""GPU layer offload, the parts that run without a GPU: where the program is cut (-ngl), which
buffers cross the cut, the split run on the CPU through the offload interface (it must equal the
unsplit program bit for bit, context shift included), the -ngl plumbing, and the typed errors
when the CUDA backend is missing. The GPU itself is checked by tests/cuda/run_all.py."""

from __future__ import annotations

import numpy as np
import pytest

from localllm.backend import cuda, split
from localllm.backend.native import Context
from localllm.backend.program import ModelConfig, NativeModel
from localllm.errors import GPUOffloadError, UsageError
from localllm.gguf import open_gguf
from localllm.models.base import OP
from synthetic_models import GEMMA3_TINY, LLAMA_TINY, write_model

SHAPES = {"gemma3": GEMMA3_TINY, "llama": LLAMA_TINY}


@pytest.fixture(scope="module", params=sorted(SHAPES))
def tiny_model(request, tmp_path_factory):
    shape = SHAPES[request.param]
    path = write_model(str(tmp_path_factory.mktemp("split") / f"{shape.arch}.gguf"), shape)
    return shape, open_gguf(path)


def run_session(model: NativeModel, tokens: np.ndarray) -> list[np.ndarray]:
    """A prefill with logits at every row, decode steps, a context shift and a step after it."""
    out = [model.forward(tokens[:16], np.arange(16), logit_rows=np.arange(16))]
    out += [model.forward(tokens[i:i + 1], [i]) for i in range(16, 19)]
    model.kv_remove(0, 2, 6)
    model.kv_shift(0, 6, 19, -4)
    out.append(model.forward(tokens[19:21], [15, 16], logit_rows=[0, 1]))
    return out


@pytest.mark.parametrize("n_gpu_layers", [1, 2, split.ALL_LAYERS, 99])
def test_split_on_cpu_equals_unsplit(tiny_model, n_gpu_layers):
    shape, gguf = tiny_model
    tokens = np.random.default_rng(1).integers(3, shape.n_vocab, 24)
    config = ModelConfig(n_ctx=48, n_batch=16)
    with Context(2) as ctx:
        whole = run_session(NativeModel(gguf, ctx, config), tokens)
        model = NativeModel(gguf, ctx, config, n_gpu_layers=n_gpu_layers, offload_device="cpu")
        parts = run_session(model, tokens)
    assert model.split is not None
    for a, b in zip(whole, parts):
        np.testing.assert_array_equal(a, b)


def test_split_plan_cuts_at_layers_and_copies_only_the_hidden_state(tiny_model):
    shape, gguf = tiny_model
    with Context(1) as ctx:
        model = NativeModel(gguf, ctx, ModelConfig(n_ctx=8, n_batch=4), n_gpu_layers=2, offload_device="cpu")
        everything = NativeModel(gguf, ctx, ModelConfig(n_ctx=8, n_batch=4), n_gpu_layers="all", offload_device="cpu")
    hidden = 0  # the residual stream "x" is the first buffer every architecture creates
    middle, whole = model.split, everything.split
    assert middle.layers == (shape.n_layer - 2, shape.n_layer - 1) and not middle.writes_logits
    assert middle.live_in == (hidden,) and middle.live_out == (hidden,)
    assert whole.layers == tuple(range(shape.n_layer)) and whole.writes_logits
    assert whole.live_in == (hidden,) and whole.live_out == ()
    assert model.n_gpu_layers == 2 and everything.n_gpu_layers == shape.n_layer + 1
    # the CPU keeps the KV cache of its layers only
    assert 0 < model.kv_bytes < NativeModel(gguf, Context(1), ModelConfig(n_ctx=8, n_batch=4)).kv_bytes
    assert everything.kv_bytes == 0


def test_live_sets_follow_reads_before_writes():
    ops = [{"kind": OP["rms_norm"], "src0": 0, "src1": -1, "dst": 1},   # reads x, writes h
           {"kind": OP["matmul"], "src0": 1, "src1": -1, "dst": 2},     # reads h (written above)
           {"kind": OP["add"], "src0": 0, "src1": 2, "dst": 0}]         # reads x, o
    later = [{"kind": OP["logit_rows"], "src0": 0, "src1": -1, "dst": 3},
             {"kind": OP["rms_norm"], "src0": 1, "src1": -1, "dst": 1}]  # h is written on the device but
    assert split._live_in(ops) == (0,)                                   # only read by the host after
    assert split._live_out(ops, later) == (0, 1)                         # ... its own read: live


@pytest.mark.parametrize("text, value", [("0", 0), ("3", 3), ("all", split.ALL_LAYERS), ("ALL", split.ALL_LAYERS),
                                         ("-1", split.ALL_LAYERS), (7, 7)])
def test_parse_gpu_layers(text, value):
    assert split.parse_gpu_layers(text) == value


@pytest.mark.parametrize("text", ["x", "-2", "1.5", ""])
def test_parse_gpu_layers_rejects(text):
    with pytest.raises(UsageError):
        split.parse_gpu_layers(text)


def test_resolve_gpu_layers_clamps_like_llama_cpp():
    assert split.resolve_gpu_layers(split.ALL_LAYERS, 18) == 19
    assert split.resolve_gpu_layers(100, 18) == 19
    assert split.resolve_gpu_layers(5, 18) == 5


def test_cuda_offload_is_a_segment_or_a_typed_error(tiny_model):
    shape, gguf = tiny_model
    available, why = cuda.status()
    assert why
    with Context(1) as ctx:
        if available:
            model = NativeModel(gguf, ctx, ModelConfig(n_ctx=8, n_batch=4), n_gpu_layers=1)
            assert isinstance(model.segment, cuda.CudaSegment)
        else:
            with pytest.raises(GPUOffloadError, match="GPU offload"):
                NativeModel(gguf, ctx, ModelConfig(n_ctx=8, n_batch=4), n_gpu_layers=1)


def test_no_gpu_layers_needs_no_cuda(tiny_model):
    shape, gguf = tiny_model
    with Context(1) as ctx:
        model = NativeModel(gguf, ctx, ModelConfig(n_ctx=8, n_batch=4), n_gpu_layers=0)
    assert model.split is None and model.segment is None and model.n_gpu_layers == 0


def test_kv_state_refused_with_offload(tiny_model):
    shape, gguf = tiny_model
    with Context(1) as ctx:
        model = NativeModel(gguf, ctx, ModelConfig(n_ctx=8, n_batch=4), n_gpu_layers=1, offload_device="cpu")
        with pytest.raises(UsageError, match="GPU offload"):
            model.kv_state()


def test_system_info_reports_cuda():
    from localllm.system import system_info

    info = system_info()
    assert isinstance(info["cuda"], bool) and info["cuda_detail"]


def test_cli_rejects_a_bad_ngl(tiny_model, capsys):
    from localllm.cli import main

    shape, gguf = tiny_model
    assert main(["bench", str(gguf.path), "-p", "8", "-n", "0", "-r", "1", "-ngl", "many"]) == 2
    assert "-ngl takes a number of layers or 'all'" in capsys.readouterr().err


def test_cli_ngl_env_reaches_the_model(tiny_model, monkeypatch, capsys):
    """LOCALLLM_N_GPU_LAYERS feeds -ngl: on a machine without CUDA the run stops with the typed error."""
    from localllm.cli import main

    shape, gguf = tiny_model
    monkeypatch.setenv("LOCALLLM_N_GPU_LAYERS", "all")
    code = main(["bench", str(gguf.path), "-p", "8", "-n", "0", "-r", "1"])
    if cuda.status()[0]:
        assert code == 0
    else:
        assert code == 2 and "GPU offload" in capsys.readouterr().err
