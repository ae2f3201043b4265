"""Peers of the metric grid for ``bench/grid.py``: a hoisted NumPy loop, rsatoolbox and mne-rsa.

Every peer computes, for one subject × one EEG cell, the sentence means of the observed scores
``(n_layers,)`` and of the null scores ``(n_permutations, n_layers)`` under hearlike's word
permutations (:func:`hearlike.grid.sentence_permutations`, applied as ``eeg[perm]``), so all
peers must give hearlike's numbers.

The hoisted NumPy loop is written independently of hearlike's torch code (NumPy/SciPy only):
per sentence it prepares each layer's and the cell's representation once, then loops over
(layer, cell) pairs, all permutations of a pair in one vectorised gather + product.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

# ------------------------------------------------------------------------------------------------
# NumPy prepare functions: x (n, d) -> rep; compare(rep_x, reps_y (P, ...)) -> (P,)
# ------------------------------------------------------------------------------------------------


def _unit(m):
    return m / np.linalg.norm(m)


def _centred(x):
    return x - x.mean(axis=0)


def _sym(v, n):
    """A condensed vector as a symmetric zero-diagonal matrix / √2 (Frobenius inner = dot)."""
    return squareform(v) / np.sqrt(2.0)


def _zunit(v):
    v = v - v.mean()
    return v / np.linalg.norm(v)


def np_spearman(x):
    return _sym(_zunit(rankdata(np.round(pdist(x, "correlation"), 10))), len(x))


def np_pearson(x):
    return _sym(_zunit(pdist(x, "correlation")), len(x))


def np_linear_cka(x):
    xc = _centred(x)
    return _unit(xc @ xc.T)


def _double_centre(m):
    return m - m.mean(0, keepdims=True) - m.mean(1, keepdims=True) + m.mean()


def np_rbf_cka(x):
    d2 = pdist(x, "sqeuclidean")
    kernel = np.exp(-squareform(d2) / (2 * np.median(d2)))
    return _unit(_double_centre(kernel))


def np_dcor(x):
    return _unit(_double_centre(squareform(pdist(x, "euclidean"))))


def np_mutual_knn(x, k=3):
    n = len(x)
    k = min(k, n - 1)
    d = squareform(pdist(x, "sqeuclidean"))
    np.fill_diagonal(d, np.inf)
    ind = np.zeros((n, n))
    np.put_along_axis(ind, np.argsort(d, axis=1, kind="stable")[:, :k], 1.0, axis=1)
    return ind / np.sqrt(n * k)


def np_procrustes(x):
    u, s, _ = np.linalg.svd(_centred(x), full_matrices=False)
    return u * (s / np.linalg.norm(s))


def np_svcca(x, variance=0.99):
    n = len(x)
    kmax = max((n - 1) // 2, 1)
    u, s, _ = np.linalg.svd(_centred(x), full_matrices=False)
    frac = np.cumsum(s**2) / np.sum(s**2)
    k = int(np.clip((frac < variance - 1e-12).sum() + 1, 1, kmax))
    out = np.zeros((n, kmax))
    out[:, :k] = u[:, :k]
    return out


def _inner(a, bs):
    return np.einsum("ij,pij->p", a, bs)


def _nuclear(a, bs):
    return np.linalg.svd(np.einsum("ir,pis->prs", a, bs), compute_uv=False).sum(-1)


#: name -> (prepare, compare, kind)
NUMPY_METRICS = {
    "spearman_rsa": (np_spearman, _inner, "gram"),
    "pearson_rsa": (np_pearson, _inner, "gram"),
    "procrustes": (np_procrustes, _nuclear, "factor"),
    "mutual_knn": (np_mutual_knn, _inner, "gram"),
    "linear_cka": (np_linear_cka, _inner, "gram"),
    "rbf_cka": (np_rbf_cka, _inner, "gram"),
    "dcor": (np_dcor, lambda a, bs: np.sqrt(np.clip(_inner(a, bs), 0, None)), "gram"),
    "svcca": (np_svcca, lambda a, bs: _nuclear(a, bs) / min(_kept(a), _kept(bs[0])), "factor"),
}


def _kept(rep):
    return int((np.square(rep).sum(axis=0) > 0.5).sum())


def sentences(model, epochs, regions, n_perm):
    """Yield ``(states (L, n, d), eeg (n, f), perms (P, n))`` per sentence (sorted ids), one cell:
    all channels of ``regions``' first region × all samples, subject 0."""
    from hearlike.grid import sentence_permutations

    sids = np.asarray(epochs["sentence_id"].values)
    names = list(epochs["channel"].values)
    channels = [names.index(c) for c in next(iter(regions.values()))]
    eeg = np.asarray(epochs.values[0])[:, channels]
    states = np.asarray(model.values)
    for sid in sorted(set(sids.tolist())):
        rows = np.nonzero(sids == sid)[0]
        rows = rows[np.argsort(epochs["word_index"].values[rows])]
        n = len(rows)
        yield (states[:, rows].astype(np.float64), eeg[rows].reshape(n, -1).astype(np.float64),
               sentence_permutations(sid, n, n_perm, seed=0))


def run_numpy(model, epochs, regions, n_perm, metric):
    """The hoisted loop: ``(score (L,), null (P, L))`` sentence means."""
    prepare, compare, kind = NUMPY_METRICS[metric]
    n_layers = model.sizes["layer"]
    total, count = np.zeros((n_perm + 1, n_layers)), 0
    for x, y, perms in sentences(model, epochs, regions, n_perm):
        orders = np.vstack([np.arange(len(y)), perms])  # identity first
        rep_y = prepare(y)
        reps_y = rep_y[orders] if kind == "factor" else rep_y[orders[:, :, None], orders[:, None, :]]
        for layer in range(n_layers):  # one (layer, cell) pair at a time
            total[:, layer] += compare(prepare(x[layer]), reps_y)
        count += 1
    total /= count
    return total[0], total[1:]


def _permuted_vectors(vectors, perms):
    """Condensed RDMs (C, m) -> (C·(P+1), m): identity first, then each permutation (y[perm])."""
    mats = np.stack([squareform(v) for v in vectors])
    n = mats.shape[-1]
    iu = np.triu_indices(n, 1)
    orders = np.vstack([np.arange(n), perms])
    permuted = mats[:, orders[:, :, None], orders[:, None, :]]
    return permuted[..., iu[0], iu[1]].transpose(1, 0, 2).reshape(-1, len(iu[0]))


_RSA = {"spearman_rsa": ("spearman", "spearman"), "pearson_rsa": ("corr", "pearson")}


def run_rsatoolbox(model, epochs, regions, n_perm, metric):
    """rsatoolbox: per sentence the layer RDMs and the cell RDM once (``calc_rdm``), all permuted
    cell RDMs in one ``RDMs`` object, one vectorised ``compare`` call."""
    import rsatoolbox

    n_layers = model.sizes["layer"]
    total, count = np.zeros((n_perm + 1, n_layers)), 0
    for x, y, perms in sentences(model, epochs, regions, n_perm):
        layer_rdms = rsatoolbox.rdm.calc_rdm([rsatoolbox.data.Dataset(a) for a in x], method="correlation")
        cell = rsatoolbox.rdm.calc_rdm([rsatoolbox.data.Dataset(y)], method="correlation")
        stacked = rsatoolbox.rdm.RDMs(_permuted_vectors(cell.get_vectors(), perms))
        total += rsatoolbox.rdm.compare(layer_rdms, stacked, method=_RSA[metric][0]).T
        count += 1
    total /= count
    return total[0], total[1:]


def run_mne_rsa(model, epochs, regions, n_perm, metric):
    """mne-rsa: ``compute_rdm`` per layer and cell once per sentence, one ``rsa`` call per sentence."""
    import mne_rsa

    n_layers = model.sizes["layer"]
    total, count = np.zeros((n_perm + 1, n_layers)), 0
    for x, y, perms in sentences(model, epochs, regions, n_perm):
        layer_rdms = [mne_rsa.compute_rdm(a, metric="correlation") for a in x]
        cell = mne_rsa.compute_rdm(y, metric="correlation")[None]
        sim = mne_rsa.rsa(list(_permuted_vectors(cell, perms)), layer_rdms, metric=_RSA[metric][1])
        total += np.asarray(sim).reshape(n_perm + 1, n_layers)
        count += 1
    total /= count
    return total[0], total[1:]


#: peer -> (runner, metrics it computes)
PEERS = {
    "numpy-loop": (run_numpy, tuple(NUMPY_METRICS)),
    "rsatoolbox": (run_rsatoolbox, tuple(_RSA)),
    "mne-rsa": (run_mne_rsa, tuple(_RSA)),
}
