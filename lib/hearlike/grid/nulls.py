"""The grid's permutation nulls: one object per null kind, all with one interface.

``"shuffle"``
    Uniformly random word permutations inside each sentence.
``"cyclic"``
    Cyclic shifts of the word order, forwards or reversed (2n - 1 non-identity orders), which keep
    neighbouring words neighbours (circularly).
``"swap"``
    Each sentence's model words are compared with the EEG of another sentence of the same length,
    words in order, so every serial-position structure shared by all sentences (overlapping epochs,
    baseline carry-over, contextual states, position effects) is in the null.
``"shift"`` (the study's)
    Each sentence's model words are compared with surrogate EEG epochs cut at the sentence's own
    word onsets moved, as a block, to another sentence's place in the same recording
    (:mod:`hearlike.eeg.surrogates`), so the sentence's exact timing -- epoch overlap and
    autocorrelated background at its own onset gaps -- is in the null too and only the stimulus
    lock counts (needs the continuous recordings: ``surrogates=``).

Every null gives, per length bucket, the null scores of every (metric, model)
(:meth:`Null.bucket_nulls`); :func:`make_null` is the one place a ``null_kind`` name is read.
The same permutations serve every cell, so max-statistic family-wise corrections are valid.
"""

from __future__ import annotations

import dataclasses
import zlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..metrics import permute_rep
from . import cells
from .cells import Bucket
from .compare import Scored, compare_all
from .shift import shift_null_bucket, shift_plan

if TYPE_CHECKING:
    from ..eeg.surrogates import SurrogateEpochs

#: the null kinds (see the module docstring); the study's is "shift"
NULLS = ("shuffle", "cyclic", "swap", "shift")


def sentence_swaps(sentence_ids: Sequence[str], n_permutations: int, *, seed: int) -> np.ndarray:
    """Sentence re-pairings for the ``"swap"`` null: ``(n_permutations, n_sentences)`` int64.

    Row ``k`` pairs sentence ``s``'s model states with the EEG of sentence ``row[s]`` (all of the
    same length). Seeded by ``seed`` and the sentence ids. A group of one sentence can only be
    paired with itself (its null equals its score: conservative).
    """
    key = zlib.crc32("|".join(map(str, sentence_ids)).encode())
    rng = np.random.default_rng([int(seed), key])
    base = np.tile(np.arange(len(sentence_ids), dtype=np.int64), (n_permutations, 1))
    return rng.permuted(base, axis=1)


#: the version of the word permutations' draws, in the cache key of grids with a "shuffle" or "cyclic"
#: null (2: a counter-based SplitMix64 stream per sentence; 1 was a NumPy generator per sentence), so
#: no store mixes chunks drawn both ways
PERMUTATIONS_VERSION = 2

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (uint64 in, uint64 out, element-wise; wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _draws(sentence_ids: Sequence[str], seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Random uint64 ``(*shape[:1], S, *shape[1:])``: a SplitMix64 stream per sentence.

    Sentence ``s`` starts its stream at ``mix(mix(seed) + crc32(id) * golden)``; draw ``k`` (row-major
    over ``shape``) is ``mix(start + (k + 1) * golden)``. So a sentence's draws depend on the seed and
    its own id only, and a longer run's first rows are a shorter run's.
    """
    keys = np.array([zlib.crc32(str(sid).encode()) for sid in sentence_ids], dtype=np.uint64)
    with np.errstate(over="ignore"):
        start = _mix(_mix(np.uint64(seed & (2**64 - 1))) + keys * _GOLDEN)
        counter = np.arange(1, int(np.prod(shape)) + 1, dtype=np.uint64).reshape(shape[0], 1, *shape[1:])
        return _mix(start.reshape(1, -1, *([1] * (len(shape) - 1))) + counter * _GOLDEN)


def _shuffled_orders(sentence_ids, seed: int, n_words: int, n_permutations: int) -> np.ndarray:
    # Fisher-Yates on every (permutation, sentence) row at once: position i swaps with
    # j = floor(U * (i + 1)), U uniform on [0, 1) from a draw's top 53 bits
    u = _draws(sentence_ids, seed, (n_permutations, n_words)).reshape(-1, n_words)
    j = ((u >> np.uint64(11)).astype(np.float64) * (np.arange(1, n_words + 1) * 2.0**-53)).astype(np.int64)
    if cells.COMPILED_GATHER:  # the same swaps in a compiled loop
        from ._null_loop import fisher_yates

        perm = np.empty((len(u), n_words), dtype=np.int64)
        fisher_yates(j, perm)
        return perm.reshape(n_permutations, len(sentence_ids), n_words)
    start = np.arange(len(u), dtype=np.int64) * n_words  # the rows, flat
    perm = np.tile(np.arange(n_words, dtype=np.int64), len(u))
    for i in range(n_words - 1, 0, -1):
        a, b = start + j[:, i], start + i
        swapped = perm[a]
        perm[a] = perm[b]
        perm[b] = swapped
    return perm.reshape(n_permutations, len(sentence_ids), n_words)


def _cyclic_orders(sentence_ids, seed: int, n_words: int, n_permutations: int) -> np.ndarray:
    order = np.arange(n_words, dtype=np.int64)
    # transform t in 1..2n-1: shift t % n, reversed when t >= n (t = 0 is the identity)
    u = _draws(sentence_ids, seed, (n_permutations,))
    t = (u % np.uint64(2 * n_words - 1)).astype(np.int64) + 1
    direction = np.where(t >= n_words, -1, 1)[..., None]
    return (direction * order + (t % n_words)[..., None]) % n_words


_WORD_ORDERS = {"shuffle": _shuffled_orders, "cyclic": _cyclic_orders}
#: the nulls that draw word permutations (:func:`word_permutations`)
WORD_PERMUTATION_NULLS = tuple(_WORD_ORDERS)


def word_permutations(sentence_ids: Sequence[str], n_words: int, n_permutations: int, *, seed: int,
                      null: str = "shuffle") -> np.ndarray:
    """The word permutations of sentences of ``n_words`` words, ``(n_permutations, S, n_words)`` int64.

    Column ``s`` is :func:`sentence_permutations` of ``sentence_ids[s]``: drawn for all sentences at
    once (whole-array operations on counter-based draws, no generator per sentence), and the same
    whatever other sentences are drawn with it.
    """
    if null not in _WORD_ORDERS:
        raise ValueError(f"word permutations are 'shuffle' or 'cyclic', got {null!r}")
    return _WORD_ORDERS[null](list(sentence_ids), int(seed), int(n_words), int(n_permutations))


def sentence_permutations(sentence_id: str, n_words: int, n_permutations: int, *, seed: int,
                          null: str = "shuffle") -> np.ndarray:
    """The word permutations used for one sentence, ``(n_permutations, n_words)`` int64.

    Seeded by ``(seed, crc32(sentence_id))`` so a sentence gets the same permutations whatever
    other sentences, models or cells are in the grid (a counter-based SplitMix64 stream per
    sentence; a run with more permutations starts with these). Row ``k`` is applied as
    ``eeg[perm[k]]``. ``null`` picks the family of permutations: ``"shuffle"`` or ``"cyclic"`` (see
    :data:`NULLS`).
    """
    return word_permutations([sentence_id], n_words, n_permutations, seed=seed, null=null)[:, 0]


def reordered_null(scored: Scored, perms: torch.Tensor, *, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Null sums ``(P, L, C)`` and per-sentence null means ``(L, C, S)`` of one (metric, model).

    ``perms (P, S, n)`` reorder the EEG words; if the model side has fewer reps it is reordered
    with the inverse permutations instead (identical numbers). ``perms (P, S)`` (the "swap" null)
    re-pair sentences: sentence ``s``'s model reps meet the EEG reps of sentence ``perms[k, s]``.
    """
    metric, model_rep, eeg_rep = scored.metric, scored.model_rep, scored.eeg_rep
    n_layers, n_cells, n_sent = model_rep.shape[0], eeg_rep.shape[0], model_rep.shape[1]
    n_perm = perms.shape[0]
    null_sum = model_rep.new_zeros((n_perm, n_layers, n_cells))
    sentence_null = model_rep.new_zeros((n_layers, n_cells, n_sent))
    permute_eeg = n_cells <= n_layers
    r = model_rep.shape[-1]
    per_perm = n_sent * (n_cells * r * model_rep.shape[-2] if permute_eeg else n_layers * r * model_rep.shape[-2])
    per_perm += n_layers * n_cells * n_sent * (1 if metric.kind == "gram" else r * r)
    step = max(1, chunk // max(1, per_perm))
    swap = perms.dim() == 2
    compiled = not swap and _compiled_permuted(metric, model_rep, eeg_rep, perms)
    inverse = None if swap or permute_eeg else torch.argsort(perms, dim=-1)
    for p0 in range(0, n_perm, step):
        p1 = min(n_perm, p0 + step)
        if compiled:
            null = _permuted_inner(model_rep, eeg_rep, perms[p0:p1] if permute_eeg else inverse[p0:p1],
                                   permute_eeg=permute_eeg, symmetric=metric.symmetric)
            null = null if metric.post is None else metric.post(null)
            null = torch.where(scored.ok, null, 0.0)
        elif swap:
            null = _swapped_scores(metric, model_rep, eeg_rep, perms[p0:p1], chunk=chunk)
            valid_k = scored.valid[:, perms[p0:p1]].transpose(0, 1).unsqueeze(1)  # (k, 1, C, S)
            null = torch.where(valid_k & torch.isfinite(null), null, 0.0)
        else:
            if permute_eeg:
                b = permute_rep(eeg_rep.unsqueeze(0), perms[p0:p1].unsqueeze(1), kind=metric.kind)
                null = compare_all(metric, model_rep, b, chunk=chunk)
            else:
                a = permute_rep(model_rep.unsqueeze(0), inverse[p0:p1].unsqueeze(1), kind=metric.kind)
                null = torch.stack([compare_all(metric, a[k], eeg_rep, chunk=chunk) for k in range(p1 - p0)])
            null = torch.where(scored.ok, null, 0.0)
        null_sum[p0:p1] = null.sum(dim=-1)
        sentence_null += null.sum(dim=0)
    return null_sum, sentence_null / max(n_perm, 1)


def _compiled_permuted(metric, model_rep, eeg_rep, perms) -> bool:
    """Whether :func:`_permuted_inner` computes this null: a ``"gram"`` metric with ``n × n`` word reps
    (not word-pair reps), float64 on a CPU, numba available (:data:`hearlike.grid.cells.COMPILED_GATHER`)."""
    n = perms.shape[-1]
    return (cells.COMPILED_GATHER and metric.kind == "gram" and model_rep.shape[-2:] == (n, n)
            and eeg_rep.shape[-2:] == (n, n) and model_rep.dtype == eeg_rep.dtype == torch.float64
            and model_rep.device.type == eeg_rep.device.type == "cpu")


def _permuted_inner(model_rep, eeg_rep, perms, *, permute_eeg: bool, symmetric: bool = False) -> torch.Tensor:
    """``(k, L, C, S)`` inner products of ``model_rep (L, S, n, n)`` and ``eeg_rep (C, S, n, n)`` with
    the words of one side reordered by ``perms (k, S, n)``: the EEG's (``permute_eeg``), or the
    model's by the inverse permutations (the same numbers), one compiled loop (:mod:`._null_loop`).
    ``symmetric``: both sides' reps are symmetric (the loop sums their upper triangles)."""
    from ._null_loop import permuted_inner

    fixed, moved = (model_rep, eeg_rep) if permute_eeg else (eeg_rep, model_rep)
    flat = [np.ascontiguousarray(t.flatten(-2).numpy()) for t in (fixed, moved)]
    out = np.empty((flat[0].shape[1], flat[1].shape[0], perms.shape[0], flat[0].shape[0]))  # (S, moved, k, fixed)
    permuted_inner(flat[0], flat[1], np.ascontiguousarray(perms.numpy(), dtype=np.int64), symmetric, out)
    out = torch.from_numpy(out).permute(2, 3, 1, 0)  # (k, fixed, moved, S), a view
    return out if permute_eeg else out.transpose(1, 2)


def _swapped_scores(metric, model_rep, eeg_rep, perms, *, chunk) -> torch.Tensor:
    """``(k, L, C, S)``: model sentence ``s`` against EEG sentence ``perms[k, s]``."""
    n_layers, n_cells = model_rep.shape[0], eeg_rep.shape[0]
    if metric.kind == "gram" and n_layers < n_cells:
        # re-pair by moving the (fewer) model reps: position t holds model sentence
        # π⁻¹(t) against EEG sentence t; then index back by model sentence s = π⁻¹(t)
        inv = torch.argsort(perms, dim=-1)  # (k, S)
        a = model_rep.flatten(-2)[:, inv].transpose(0, 1)  # (k, L, S, m)
        inner = torch.einsum("klsm,csm->klcs", a, eeg_rep.flatten(-2))
        inner = inner if metric.post is None else metric.post(inner)
        index = perms[:, None, None, :].expand(-1, n_layers, n_cells, -1)
        return torch.gather(inner, -1, index)  # (k, L, C, S) by model sentence
    b = eeg_rep[:, perms].transpose(0, 1)  # (k, C, S, n, r)
    return compare_all(metric, model_rep, b, chunk=chunk)


class Null(ABC):
    """A permutation null of the grid.

    Parameters
    ----------
    n_permutations : int
        Null samples (>= 1; the grid skips the null when 0).
    seed : int
        Seeds the permutations.
    chunk : int
        Upper bound on the elements of the largest intermediate tensor.
    """

    name: ClassVar[str]
    #: whether the null needs surrogate epochs cut from the continuous recordings (``surrogates=``)
    needs_surrogates: ClassVar[bool] = False

    def __init__(self, *, n_permutations: int, seed: int, chunk: int, **_context):
        self.n_permutations, self.seed, self.chunk = int(n_permutations), int(seed), int(chunk)

    def permuted_side(self, n_cells: int, n_layers: int) -> str:
        """Which side's reps are reordered: the one with fewer reps (identical numbers either way)."""
        return "eeg" if n_cells <= n_layers else "model"

    @abstractmethod
    def bucket_nulls(self, bucket: Bucket, scored: Iterable[Scored]) -> Iterator[tuple[Scored, torch.Tensor, torch.Tensor]]:
        """Null scores of one length bucket.

        Parameters
        ----------
        bucket : Bucket
        scored : iterable of Scored
            Every (metric, model) of the bucket, observed scores done (``ok`` set).

        Yields
        ------
        scored : Scored
        null : Tensor, shape (n_permutations, n_layers, n_cells_k)
            Sentence sums of the null scores (only comparisons counted in the observed mean).
        sentence_null : Tensor, shape (n_layers, n_cells_k, n_sentences)
            Per-sentence null means.
        """


class _ReorderingNull(Null):
    """A null that reorders prepared reps: words within sentences, or sentences within a bucket."""

    @abstractmethod
    def orders(self, bucket: Bucket) -> np.ndarray:
        """``(P, S, n)`` word permutations or ``(P, S)`` sentence re-pairings."""

    def bucket_nulls(self, bucket, scored):
        perms = torch.as_tensor(self.orders(bucket), device=bucket.valid.device)
        for s in scored:
            null, sentence_null = reordered_null(s, perms, chunk=self.chunk)
            yield s, null, sentence_null


class ShuffleNull(_ReorderingNull):
    """Random word permutations within each sentence."""

    name = "shuffle"

    def orders(self, bucket):
        return word_permutations(bucket.sentence_ids, bucket.n, self.n_permutations, seed=self.seed, null=self.name)


class CyclicNull(ShuffleNull):
    """Cyclic shifts (forwards or reversed) of each sentence's word order."""

    name = "cyclic"


class SwapNull(_ReorderingNull):
    """Sentences re-paired with other sentences of the same length."""

    name = "swap"

    def orders(self, bucket):
        return sentence_swaps(bucket.sentence_ids, self.n_permutations, seed=self.seed)


class ShiftNull(Null):
    """Timing-preserving surrogate epochs (needs ``surrogates``, ``epochs`` and the grid's ``cells``)."""

    name = "shift"
    needs_surrogates = True

    def __init__(self, *, n_permutations, seed, chunk, surrogates: "SurrogateEpochs | None" = None, epochs=None,
                 cells=(), factor_pairs=None, dtype=torch.float64, device="cpu", **_context):
        super().__init__(n_permutations=n_permutations, seed=seed, chunk=chunk)
        if surrogates is None:
            raise ValueError("null_kind='shift' needs surrogates= (hearlike.eeg.surrogate_epochs of the "
                             "continuous recordings); use 'swap' when only epochs are available")
        if surrogates.n_surrogates < self.n_permutations:
            raise ValueError(f"surrogates hold {surrogates.n_surrogates} surrogates; n_permutations={n_permutations} "
                             "needs as many")
        if surrogates.onset_sample.shape != (epochs.sizes["subject"], epochs.sizes["word"]):
            raise ValueError(f"surrogates cover {surrogates.onset_sample.shape} (subject, word), the epochs "
                             f"{(epochs.sizes['subject'], epochs.sizes['word'])}; build them from these epochs")
        cells, n_channels = list(cells), epochs.sizes["channel"]
        self.dtype, self.device, self.n_subjects = dtype, torch.device(device), epochs.sizes["subject"]
        plan = shift_plan(cells, n_channels, dtype=dtype, device=self.device)
        # lazily opened recordings are read here, once, not at every cut
        self.surrogates = surrogates.for_subjects(range(self.n_subjects)).with_channels(plan["order"])
        self.plans = {tuple(range(len(cells))): (cells, plan, None)}
        self.workspace = {}  # the buffer the surrogates are cut into, kept between buckets
        if factor_pairs is not None and len(factor_pairs) < len(cells):
            # the factor metrics' cells get their own plan (their Grams summed as in a grid of only them)
            subset = [cells[j] for j in factor_pairs]
            sub_plan = shift_plan(subset, n_channels, dtype=dtype, device=self.device)
            position = np.argsort(plan["order"])  # original channel -> position in the surrogates
            channels = torch.as_tensor(position[sub_plan["order"]])
            self.plans[tuple(int(j) for j in factor_pairs)] = (subset, sub_plan, channels)

    def permuted_side(self, n_cells, n_layers):
        return "eeg"

    def bucket_nulls(self, bucket, scored):
        kept = [dataclasses.replace(s, eeg_rep=None) for s in scored]  # the real EEG reps are not needed
        null, sentence_null = shift_null_bucket(
            self.surrogates, kept, self.plans, bucket.epoch_pos, n_perm=self.n_permutations,
            n_subjects=self.n_subjects, dtype=self.dtype, device=self.device, chunk=self.chunk,
            workspace=self.workspace,
        )
        for s in kept:
            key = (s.metric_index, s.model_index)
            yield s, null[key], sentence_null[key]


_NULL_CLASSES = {cls.name: cls for cls in (ShuffleNull, CyclicNull, SwapNull, ShiftNull)}


def needs_surrogates(null_kind: str) -> bool:
    """Whether the null ``null_kind`` needs surrogate epochs of the continuous recordings."""
    if null_kind not in _NULL_CLASSES:
        raise ValueError(f"null_kind must be one of {NULLS}, got {null_kind!r}")
    return _NULL_CLASSES[null_kind].needs_surrogates


def make_null(null_kind: str, **context) -> Null:
    """The null called ``null_kind`` (one of :data:`NULLS`), built from the grid's ``context``.

    ``context`` holds ``n_permutations``, ``seed``, ``chunk`` and, for ``"shift"``, ``surrogates``,
    ``epochs``, ``cells``, ``factor_pairs``, ``dtype`` and ``device``; each null takes what it needs.
    """
    if null_kind not in _NULL_CLASSES:
        raise ValueError(f"null_kind must be one of {NULLS}, got {null_kind!r}")
    return _NULL_CLASSES[null_kind](**context)
