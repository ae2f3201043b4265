"""A small numpy reader of CTranslate2 ``model.bin`` files (binary format versions 5 and 6).

CTranslate2 stores a model as one little-endian file: the format version, the specification's name
and revision, then every variable as (name, rank, dimensions, data type, byte count, raw bytes),
then aliases (a name that shares another variable's data, e.g. a tied output projection). Strings
are a ``uint16`` length followed by that many bytes, the last being NUL. The reader needs no
CTranslate2 installation; :mod:`hearlike.models.bundled` maps a Whisper specification onto the
parameter names of ``transformers.WhisperForConditionalGeneration``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["CT2Model", "read_ct2_model"]

#: CTranslate2's DataType enum (include/ctranslate2/types.h) as numpy types; bfloat16 is read as raw uint16
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}
_BFLOAT16 = 5


class CT2Model(dict):
    """Variables of a CTranslate2 model by name (``"encoder/layer_0/ffn/linear_0/weight"``).

    Attributes
    ----------
    spec : str
        Specification name, e.g. ``"WhisperSpec"``.
    revision, version : int
        Specification revision and binary format version.
    """

    def __init__(self, variables: dict, *, spec: str, revision: int, version: int):
        super().__init__(variables)
        self.spec, self.revision, self.version = spec, revision, version


class _Cursor:
    def __init__(self, data: bytes, path: Path):
        self.data, self.offset, self.path = data, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path} ends early at byte {self.offset} (a truncated CTranslate2 model.bin?)")
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        n = self.take("<H")
        raw = self.data[self.offset:self.offset + n]
        self.offset += n
        return raw.rstrip(b"\0").decode("utf-8")

    def array(self, n_bytes: int, dtype, dims: list[int]) -> np.ndarray:
        if self.offset + n_bytes > len(self.data):
            raise ValueError(f"{self.path} ends early at byte {self.offset} (a truncated CTranslate2 model.bin?)")
        flat = np.frombuffer(self.data, dtype=dtype, count=n_bytes // np.dtype(dtype).itemsize, offset=self.offset)
        self.offset += n_bytes
        return flat.reshape(dims) if dims else flat.reshape(())


def read_ct2_model(path: str | Path) -> CT2Model:
    """Read every variable of a CTranslate2 ``model.bin``.

    Parameters
    ----------
    path : str or Path
        The ``model.bin`` file.

    Returns
    -------
    CT2Model
        ``{name: ndarray}`` (read-only views into the file's bytes; float16 stays float16,
        bfloat16 is converted to float32); aliases point at their target's array.

    Raises
    ------
    ValueError
        If the file is not a CTranslate2 model of binary version 5 or 6, or is truncated.
    """
    path = Path(path)
    cursor = _Cursor(path.read_bytes(), path)
    version = cursor.take("<I")
    if version not in (5, 6):
        raise ValueError(f"{path} has CTranslate2 binary version {version}; this reader knows versions 5 and 6")
    spec, revision = cursor.string(), cursor.take("<I")
    variables = {}
    for _ in range(cursor.take("<I")):
        name = cursor.string()
        rank = cursor.take("<B")
        dims = [cursor.take("<I") for _ in range(rank)]
        type_id, n_bytes = cursor.take("<B"), cursor.take("<I")
        if type_id not in _DTYPES:
            raise ValueError(f"{path}: variable {name!r} has unknown CTranslate2 data type {type_id}")
        array = cursor.array(n_bytes, _DTYPES[type_id], dims)
        if type_id == _BFLOAT16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        variables[name] = array
    for _ in range(cursor.take("<I")):
        alias, target = cursor.string(), cursor.string()
        variables[alias] = variables[target]
    if cursor.offset != len(cursor.data):
        raise ValueError(f"{path}: {len(cursor.data) - cursor.offset} bytes after the last alias; not a "
                         f"CTranslate2 model.bin of version {version}")
    return CT2Model(variables, spec=spec, revision=revision, version=version)
