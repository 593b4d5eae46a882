"""Element-wise CPU maths that gives the same bits for any thread count.

On CPU, torch splits an element-wise op over threads once it has more than
``at::internal::GRAIN_SIZE`` (32768) elements; each thread's range runs a
vectorised loop and finishes with a scalar tail. Exactly rounded operations
(``+ - * /``, comparisons, ``where``, indexing, integer ops) give the same bits
either way, but the vectorised and the scalar versions of ``exp``, ``log2`` or
``pow`` may differ in the last bit, so which elements fall into a tail (which
depends on the thread count) could change the result. :func:`in_pieces` runs
such maths on fixed pieces of at most 32768 elements: torch computes each
piece in one thread, the same way whatever ``torch.set_num_threads`` says.
Other devices have no thread count and compute in one go.
"""
from typing import Callable, Optional

import torch
from torch import Tensor

GRAIN = 32768
"""Elements below which torch runs a CPU element-wise op in one thread."""


def in_pieces(fn: Callable,
              *tensors: Tensor,
              width: int = 1,
              max_rows: Optional[int] = None):
    """``fn(*tensors)``, computed on pieces of rows (dim 0) on CPU.

    Args:
        fn (Callable): Maps row pieces of ``tensors`` to a Tensor or a tuple
            of Tensors with as many rows, row ``i`` depending only on row
            ``i`` of the inputs.
        *tensors (Tensor): Inputs with the same number of rows.
        width (int): Elements per row of the largest intermediate of ``fn``
            that uses inexact maths; CPU pieces hold ``GRAIN // width`` rows.
        max_rows (int, optional): At most this many rows per piece on any
            device (to bound memory). Defaults to no limit.

    Returns:
        Tensor | tuple[Tensor]: The pieces' results concatenated on dim 0.
    """
    num = tensors[0].shape[0]
    rows = num if max_rows is None else max_rows
    if tensors[0].device.type == 'cpu':
        rows = min(rows, max(1, GRAIN // width))
    if num <= rows:
        return fn(*tensors)
    outs = [
        fn(*(t[start:start + rows] for t in tensors)) for start in range(0, num, rows)
    ]
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs))
    return torch.cat(outs)


def pointwise(fn: Callable, x: Tensor) -> Tensor:
    """``fn(x)`` for an element-wise ``fn``, on CPU in pieces of
    :data:`GRAIN` elements (see the module docstring). Differentiable."""
    flat = x.reshape(-1)
    return in_pieces(fn, flat).view(x.shape)
