"""A two-method interface to ``constriction``'s range coder (queue semantics: first in, first out).

Probabilities are always passed as float64 rows: ``constriction`` quantises them to its
fixed-point model with deterministic integer code, so equal float64 inputs give equal models on
every machine (float32 inputs would give a different, equally valid, model).
"""

from __future__ import annotations

import constriction
import numpy as np

Categorical = constriction.stream.model.Categorical
RangeDecoder = constriction.stream.queue.RangeDecoder
RangeEncoder = constriction.stream.queue.RangeEncoder

_FAMILY = Categorical(perfect=False)


class SymbolEncoder:
    def __init__(self) -> None:
        self._coder = RangeEncoder()

    def encode(self, symbols: np.ndarray, probabilities: np.ndarray) -> None:
        """Encode ``symbols[i]`` (in ``[0, n)``) with the row ``probabilities[i]`` ((m, n) or (n,))."""
        if symbols.size == 0:
            return
        probabilities = np.ascontiguousarray(probabilities, dtype=np.float64)
        symbols = np.ascontiguousarray(symbols, dtype=np.int32)
        if probabilities.ndim == 1:
            self._coder.encode(symbols, Categorical(probabilities, perfect=False))
        else:
            self._coder.encode(symbols, _FAMILY, probabilities)

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise ValueError("range-coded stream length is not a multiple of 4 bytes")
        self._coder = RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))

    def decode(self, probabilities: np.ndarray, count: int | None = None) -> np.ndarray:
        """Decode one symbol per row of ``probabilities`` (or ``count`` symbols with one row)."""
        probabilities = np.ascontiguousarray(probabilities, dtype=np.float64)
        try:
            if probabilities.ndim == 1:
                if not count:
                    return np.zeros(0, dtype=np.int64)
                model = Categorical(probabilities, perfect=False)
                return np.asarray(self._coder.decode(model, count), dtype=np.int64)
            if probabilities.shape[0] == 0:
                return np.zeros(0, dtype=np.int64)
            return np.asarray(self._coder.decode(_FAMILY, probabilities), dtype=np.int64)
        except AssertionError as exc:  # constriction's signal for data it cannot decode
            raise ValueError(f"invalid range-coded data: {exc}") from None
