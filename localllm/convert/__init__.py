"""Hugging Face checkpoint -> GGUF, writing what llama.cpp's convert_hf_to_gguf.py writes for the
architectures localllm runs (llama, qwen2, qwen3, gemma3 text, bert encoders), so llama.cpp loads
the result too.

    from localllm.convert import convert
    convert("path/to/hf-model", "model.gguf", outtype="q8_0",
            progress=lambda done, total, name: print(f"{done}/{total} {name}"))

Modules: checkpoint (config.json, safetensors / pytorch_model.bin), archs (per-architecture
metadata keys and tensor changes; bert's in bert.py), vocab (tokenizer arrays), encode (outtype ->
ggml types and bytes), converter (the streamed write).
"""

from ..errors import ConvertError
from .archs import ARCHS
from .converter import convert
from .encode import OUTTYPES

SUPPORTED_ARCHITECTURES = tuple(spec.name for spec in ARCHS)

__all__ = ["OUTTYPES", "SUPPORTED_ARCHITECTURES", "ConvertError", "convert"]
