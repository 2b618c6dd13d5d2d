"""Which layouts the fused kernels read in place (``snnc.runtime.layout``)."""

import torch

from snnc.runtime.layout import is_dense, like, steps_outermost


def test_steps_outermost():
    nhwc = torch.randn(6, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert steps_outermost(torch.randn(3, 2, 4))
    assert steps_outermost(nhwc.view(3, 2, 3, 4, 5))  # [T, B, C, H, W] over an NHWC [T·B, C, H, W]
    assert not steps_outermost(torch.randn(2, 3, 4).transpose(0, 1))  # steps not the outer dimension
    assert not steps_outermost(torch.randn(3, 8)[:, ::2])  # not dense
    assert is_dense(nhwc) and not is_dense(torch.randn(4, 4)[::2])


def test_like_keeps_or_copies_into_the_layout():
    ref = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    same = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert like(same, ref) is same and like(None, ref) is None
    plain = torch.randn(2, 3, 4, 5)
    moved = like(plain, ref)
    assert moved.stride() == ref.stride() and torch.equal(moved, plain)
