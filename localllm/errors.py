"""Typed exceptions. Every failure a user can cause maps to one of these.

The CLI turns a `LocalLLMError` into one red line on stderr: exit code 1 for a bad input
file (`InputError` family), 2 for bad usage (`UsageError` family).
"""

from __future__ import annotations


class LocalLLMError(Exception):
    """Base of every error localllm raises on purpose."""

    exit_code = 1


class InputError(LocalLLMError):
    """A file or value given to localllm is unusable."""

    exit_code = 1


class UsageError(LocalLLMError):
    """The caller asked for something that cannot be done (bad flag, bad argument)."""

    exit_code = 2


class GGUFError(InputError):
    """A GGUF file is malformed. Names the field or tensor and the byte offset."""

    def __init__(self, message: str, *, field: str | None = None, offset: int | None = None):
        self.field = field
        self.offset = offset
        where = []
        if field is not None:
            where.append(field)
        if offset is not None:
            where.append(f"at byte {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class UnsupportedQuantError(InputError):
    """A tensor uses a ggml type localllm has no kernel for."""


class ModelNotFoundError(InputError):
    """No model path was given and no default model could be found."""


class ISAError(UsageError):
    """LOCALLLM_ISA asks for a kernel level this CPU or build does not have."""


class NativeError(LocalLLMError):
    """The native core returned an error code."""

    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


class TokenizerError(InputError):
    """A model's vocabulary or tokenizer metadata is unusable, or a text cannot be tokenized."""


class TokenIdError(UsageError):
    """A token id outside the model's vocabulary was given."""


class ChatTemplateError(InputError):
    """A chat template cannot be compiled or rendered: syntax, sandbox violation, budget, or an
    error the template raised itself (e.g. roles that do not alternate)."""


class UnknownChatTemplateError(UsageError):
    """`--chat-template NAME` names no built-in chat template."""


class ContextLengthExceeded(InputError):
    """A prompt (or prompt + generation) does not fit in the context window. Names both numbers."""

    def __init__(self, message: str, *, n_tokens: int, n_ctx: int):
        self.n_tokens = n_tokens
        self.n_ctx = n_ctx
        super().__init__(message)


class ConvertError(InputError):
    """A Hugging Face checkpoint cannot be converted to GGUF: a missing or malformed file, an
    unsupported architecture, or a configuration the GGUF format cannot express."""


class GPUOffloadError(UsageError):
    """GPU offload (n_gpu_layers / -ngl) was asked for but cannot be done here: no CUDA backend in
    this install, no driver or device, or a weight type the GPU kernels lack."""


class GPUMemoryError(GPUOffloadError):
    """The GPU layers do not fit in the GPU's free memory. Names both numbers."""

    def __init__(self, message: str, *, needed_bytes: int, free_bytes: int):
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes
        super().__init__(message)
