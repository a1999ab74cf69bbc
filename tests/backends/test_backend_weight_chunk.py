"""DropConnect weights for cuDNN are laid out in one fresh buffer, as the parameters are.

On CUDA the fused backend hands cuDNN views into a single buffer placed exactly where the
flattened parameters sit in theirs, so cuDNN finds one chunk and does not warn.  The layout
logic is device-independent and checked here on CPU tensors; tests/nn/test_nn_gpu.py runs
the real cuDNN path where a GPU is present.
"""

import torch

from rnnlab.backends.torch_fused import _single_chunk


def flattened(shapes, gaps):
    """Parameters as views into one storage, with ``gaps`` unused elements before each."""
    size = sum(torch.Size(s).numel() + g for s, g in zip(shapes, gaps, strict=True)) + 3
    storage = torch.randn(size)
    params, offset = [], 0
    for shape, gap in zip(shapes, gaps, strict=True):
        offset += gap
        n = torch.Size(shape).numel()
        params.append(storage[offset : offset + n].view(shape))
        offset += n
    return storage, params


def test_values_land_at_the_parameters_offsets_in_one_buffer():
    shapes = [(8, 3), (8, 2), (8,), (8,)]
    storage, params = flattened(shapes, gaps=[0, 2, 0, 1])
    values = [(torch.randn(s) * 3).requires_grad_() for s in shapes]
    views = _single_chunk(params, values)
    buffer = views[0].untyped_storage()
    assert buffer.data_ptr() != storage.untyped_storage().data_ptr()
    assert buffer.nbytes() == storage.untyped_storage().nbytes()
    for view, param, value in zip(views, params, values, strict=True):
        assert view.untyped_storage().data_ptr() == buffer.data_ptr()
        assert view.storage_offset() == param.storage_offset()
        assert view.shape == param.shape and view.is_contiguous()
        assert torch.equal(view, value)
    sum((v * (i + 1)).sum() for i, v in enumerate(views)).backward()
    for i, value in enumerate(values):
        assert torch.equal(value.grad, torch.full_like(value, i + 1.0))


def test_separate_parameters_are_passed_through():
    params = [torch.randn(4, 3), torch.randn(4, 4)]
    values = [p * 2 for p in params]
    assert _single_chunk(params, values) is values
