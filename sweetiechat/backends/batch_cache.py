"""The key/value cache of a continuous batch, kept in place in preallocated buffers.

Rows ``0 .. n-1`` of per-layer buffers ``[rows, heads, capacity, head_dim]`` hold the batch,
and columns ``start .. end`` are its live window: every row's tokens end at column ``end``,
and the columns before a row's first token are masked out. A decoding step writes its one
new column in place; a request joins by writing its prompt into the next free row (the
window widens to the left when the prompt is longer than it); a row that leaves is
replaced by one from the end of the batch. So neither a step nor a change of membership
copies the whole cache, as concatenating tensors did (on every step, in ``DynamicCache``):
only outgrowing the buffers does, once every :data:`SPARE` steps or so.

Torch and transformers are imported inside functions (only ``backends.batching`` uses this).
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["SPARE", "BatchCache"]

SPARE = 64
"""Columns (and a margin of rows) allocated beyond what is needed, at each reallocation."""


class BatchCache:
    """The keys/values and attention mask of up to ``max_rows`` rows decoded together.

    Args:
        max_rows: the most rows ever held.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.keys: list[Any] = []
        self.values: list[Any] = []
        """Per layer, ``[row capacity, heads, column capacity, head_dim]``."""
        self.mask_buffer: Any = None
        """``[row capacity, column capacity]``: 1 where a row has a token."""
        self.rows = 0
        self.start = 0
        self.end = 0
        self.reallocations = 0
        """Times the buffers were replaced by larger ones (each copies the live window)."""

    @property
    def mask(self) -> Any:
        """``[rows, end - start]``: the attention mask of the live window (None when empty)."""
        if not self.rows:
            return None
        return self.mask_buffer[: self.rows, self.start : self.end]

    def _capacity(self) -> tuple[int, int]:
        if self.mask_buffer is None:
            return 0, 0
        return int(self.mask_buffer.shape[0]), int(self.mask_buffer.shape[1])

    def reserve(self, rows: int, left: int, right: int, like: list[Any]) -> None:
        """Make room for ``rows`` rows, ``left`` free columns before ``start`` and ``right``
        after ``end``, reallocating (and copying the live window) when there is none.
        ``like``: one layer list of keys, for the shapes and dtype."""
        import torch

        row_cap, col_cap = self._capacity()
        if rows <= row_cap and self.start >= left and self.end + right <= col_cap:
            return
        if self.rows == 0 and rows <= row_cap and left + right <= col_cap:
            self.start = self.end = left  # an empty batch: the window may move anywhere
            return
        width = self.end - self.start
        new_rows = row_cap if rows <= row_cap else min(self.max_rows, max(rows, 2 * row_cap, 4))
        margin = left + SPARE
        columns = margin + width + right + SPARE
        shape = [(new_rows, k.shape[1], columns, k.shape[3]) for k in like]
        keys = [like[0].new_zeros(s) for s in shape]
        values = [like[0].new_zeros(s) for s in shape]
        mask = torch.zeros((new_rows, columns), dtype=torch.long)
        if self.rows:
            live, at = slice(self.start, self.end), slice(margin, margin + width)
            for new, old in zip((*keys, *values), (*self.keys, *self.values), strict=True):
                new[: self.rows, :, at] = old[: self.rows, :, live]
            mask[: self.rows, at] = self.mask_buffer[: self.rows, live]
        self.keys, self.values, self.mask_buffer = keys, values, mask
        self.start, self.end = margin, margin + width
        self.reallocations += 1

    def add(self, keys: list[Any], values: list[Any]) -> None:
        """Append one row: ``keys``/``values`` per layer ``[1, heads, length, head_dim]``."""
        length = int(keys[0].shape[2])
        wider = max(0, length - (self.end - self.start))
        self.reserve(self.rows + 1, wider, 1, keys)
        if wider:  # the window widens to the left: padding for the rows already in it
            self.start -= wider
            self.mask_buffer[: self.rows, self.start : self.start + wider] = 0
        row, first = self.rows, self.end - length
        for buffer, new in zip((*self.keys, *self.values), (*keys, *values), strict=True):
            buffer[row, :, first : self.end] = new[0]
        self.mask_buffer[row, self.start : first] = 0
        self.mask_buffer[row, first : self.end] = 1
        self.rows += 1

    def keep(self, keep: list[int]) -> list[tuple[int, int]]:
        """Keep rows ``keep`` (ascending): rows from the end fill the gaps. Returns the moves
        ``(to, from)`` made, for the caller's own per-row state. Columns that are padding
        in every row left are dropped from the window."""
        kept = set(keep)
        count = len(keep)
        holes = [i for i in range(count) if i not in kept]
        moves = list(zip(holes, [i for i in keep if i >= count], strict=True))
        live = slice(self.start, self.end)
        for to, source in moves:
            for buffer in (*self.keys, *self.values):
                buffer[to, :, live] = buffer[source, :, live]
            self.mask_buffer[to, live] = self.mask_buffer[source, live]
        self.rows = count
        if count:
            self.start += int(self.mask_buffer[:count, live].any(0).nonzero()[0])
        else:
            self.start = self.end
        return moves

    def step(self) -> tuple[Any, Any]:
        """The cache and attention mask for the next decoding step: a ``DynamicCache`` over
        the live window whose update writes column ``end`` in place, and the mask with that
        column. Call :meth:`advance` after the forward pass."""
        from transformers import DynamicCache

        self.reserve(self.rows, 0, 1, self.keys)
        pairs = zip(self.keys, self.values, strict=True)
        kv: Any = DynamicCache(ddp_cache_data=[(k[:1, :, :0], v[:1, :, :0]) for k, v in pairs])
        kv.layers[:] = [
            _window_layer_class()(k, v, self.rows, self.start, self.end)
            for k, v in zip(self.keys, self.values, strict=True)
        ]
        self.mask_buffer[: self.rows, self.end] = 1
        return kv, self.mask_buffer[: self.rows, self.start : self.end + 1]

    def advance(self) -> None:
        """Take in the column the last step wrote."""
        self.end += 1


@cache
def _window_layer_class() -> Any:
    """The cache layer class (made on first use: transformers is imported then)."""
    from transformers.cache_utils import DynamicLayer

    class WindowLayer(DynamicLayer):
        """A cache layer over a buffer window; ``update`` writes into the buffer."""

        def __init__(self, keys: Any, values: Any, rows: int, start: int, end: int) -> None:
            super().__init__()
            self.buffers = keys, values
            self.span = rows, start, end
            self.keys = keys[:rows, :, start:end]
            self.values = values[:rows, :, start:end]
            self.dtype, self.device = keys.dtype, keys.device
            self.is_initialized = True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            (keys, values), (rows, start, end) = self.buffers, self.span
            new = end + int(key_states.shape[2])
            keys[:rows, :, end:new] = key_states
            values[:rows, :, end:new] = value_states
            self.span = rows, start, new
            self.keys, self.values = keys[:rows, :, start:new], values[:rows, :, start:new]
            return self.keys, self.values

    return WindowLayer
