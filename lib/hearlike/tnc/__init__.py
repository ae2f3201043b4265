"""Tri-modal Neighborhood Consistency (TNC) labelling of negative prosody.

A sentence is labelled ``"negative"`` without human annotation only when three independent views
agree on it *and* on its neighbourhood:

=========  =====================================================  ==============================
view       embedding (one row per sentence)                       seed score (low = negative)
=========  =====================================================  ==============================
prosody    z-scored acoustic features (:mod:`hearlike.prosody`)   composite z
                                                                  (:func:`~hearlike.prosody.negative_prosody_score`)
text       sentence embedding (``hearlike.text.embed_texts``)     VADER compound valence, -1..1
model      the Audio LLM's mean word state of one layer           leave-one-out projection (below)
=========  =====================================================  ==============================

Each view's seed is *negative* when its score is below that view's threshold (defaults
:data:`DEFAULT_THRESHOLDS`). The model view's seed is the projection of a sentence on the direction
from the *agreed negatives* (prosody- and text-negative) to the *agreed non-negatives* (neither),
fitted without the sentence itself (leave-one-out, no leakage), in units where -1 is the
negatives' centroid and +1 the non-negatives'; a sentence whose leave-one-out fit lacks one of the
two classes gets NaN (never seed-negative).

**Criterion.** A sentence is TNC-negative when its seed is negative in all three views and, in
each view's space, at least ``theta`` of its ``k`` nearest neighbours (cosine, itself excluded) are
seed-negative *in that view*. Sentences that no view's seed calls negative are ``"non-negative"``;
the rest are ``"ambiguous"``, excluded from the negative/non-negative contrast and counted
(``DataFrame.attrs["counts"]``).

Before cosine neighbours and the projection, each view's embedding is centred over sentences
(a label-free step that removes the common direction of anisotropic embeddings) and rows are
L2-normalised.

**Degenerate inputs.** ``k`` must be smaller than the number of sentences (else ``ValueError``).
If every sentence is negative in both the prosody and text views there is nothing to contrast:
``ValueError``. If no sentence is (the model direction cannot be fitted) every model seed is NaN,
nothing is TNC-negative, and a warning is logged.

**Not the study's TNC.** The reference study's code uses "TNC" for a different thing, a score
("Triangulated Neuro-Computational"): :mod:`hearlike.tnc.score` (:func:`triangulated_score`).
"""

from .labels import (
    DEFAULT_THRESHOLDS, LABELS, MODALITIES, leave_one_out_projection, neighbour_negative_fraction,
    tnc_labels, tnc_sensitivity,
)  # fmt: skip
from .score import (
    UNDEFINED_REASONS, correlation_rdm, eeg_word_vectors, partial_spearman, sentence_triangulated_scores,
    triangulated_score,
)  # fmt: skip
from .views import sentence_embeddings, tnc_from_stimuli, tnc_views, vader_valence

__all__ = [
    "MODALITIES", "DEFAULT_THRESHOLDS", "LABELS", "vader_valence", "sentence_embeddings",
    "neighbour_negative_fraction", "leave_one_out_projection", "tnc_labels", "tnc_sensitivity",
    "tnc_views", "tnc_from_stimuli", "triangulated_score", "sentence_triangulated_scores", "partial_spearman",
    "correlation_rdm", "eeg_word_vectors", "UNDEFINED_REASONS",
]  # fmt: skip
