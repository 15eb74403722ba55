"""localllm.gguf agrees with the gguf package: its type tables and its GGUFReader on the default model."""

from __future__ import annotations

import numpy as np
import pytest

import gguf
from localllm.gguf import GGMLType, ValueType, open_gguf, type_info
from localllm.gguf.types import REMOVED_GGML_TYPES

HEADER_FIELDS = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")


def test_ggml_types_equal_gguf_package():
    assert {t.name: t.value for t in GGMLType} == {t.name: t.value for t in gguf.GGMLQuantizationType}
    ours = {t.value: type_info(t) for t in GGMLType}
    theirs = {t.value: tuple(size) for t, size in gguf.constants.GGML_QUANT_SIZES.items()}
    assert ours == theirs


def test_value_types_equal_gguf_package():
    assert {t.name: t.value for t in ValueType} == {t.name: t.value for t in gguf.GGUFValueType}


def test_removed_types_are_not_current_types():
    current = {t.value for t in gguf.GGMLQuantizationType}
    assert not current & set(REMOVED_GGML_TYPES)


@pytest.fixture(scope="module")
def both(default_model_path):
    """(our GGUFFile, gguf.GGUFReader) for the default model; GGUFReader takes ~16 s, once."""
    reader = gguf.GGUFReader(default_model_path)
    with open_gguf(default_model_path) as ours:
        yield ours, reader


@pytest.mark.slow
def test_header_matches(both):
    ours, reader = both
    fields = reader.fields
    assert fields["GGUF.version"].contents() == ours.version
    assert fields["GGUF.tensor_count"].contents() == len(ours.tensors)
    assert fields["GGUF.kv_count"].contents() == len(ours.metadata)
    assert reader.alignment == ours.alignment and reader.data_offset == ours.data_offset


@pytest.mark.slow
def test_every_metadata_key_and_value_matches(both):
    ours, reader = both
    theirs = {k: f for k, f in reader.fields.items() if k not in HEADER_FIELDS}
    assert list(theirs) == list(ours.metadata)  # same keys, same order
    for key, field in theirs.items():
        vtype, elem = ours.metadata_types[key]
        assert [vtype] + ([elem] if elem is not None else []) == [ValueType(t) for t in field.types], key
        value = ours.metadata[key]
        expected = field.contents()
        if elem is ValueType.STRING:
            assert value.tolist() == expected, key
        elif vtype is ValueType.ARRAY:
            assert isinstance(value, np.ndarray) and value.tolist() == expected, key
        else:
            assert type(value) is type(expected) and value == expected, key


@pytest.mark.slow
def test_every_tensor_matches(both):
    ours, reader = both
    assert [t.name for t in ours.tensors] == [t.name for t in reader.tensors]
    for mine, theirs in zip(ours.tensors, reader.tensors):
        assert mine.type == GGMLType(theirs.tensor_type), mine.name
        assert mine.shape == tuple(int(d) for d in theirs.shape), mine.name
        assert (mine.n_elements, mine.n_bytes) == (theirs.n_elements, theirs.n_bytes), mine.name
        assert mine.abs_offset == theirs.data_offset, mine.name
        their_bytes = np.ascontiguousarray(theirs.data).reshape(-1).view(np.uint8)
        assert their_bytes.size == mine.n_bytes
        np.testing.assert_array_equal(mine.data[:64], their_bytes[:64], err_msg=mine.name)
        np.testing.assert_array_equal(mine.data[-64:], their_bytes[-64:], err_msg=mine.name)
