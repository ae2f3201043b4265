"""The reference study's analysis protocol (arXiv 2601.16540) as a preset of ``hearlike`` (``protocol: paper``).

:mod:`~hearlike.protocol.frames` (20 ms frame items, PCA-20 states, EEG at the frame count),
:mod:`~hearlike.protocol.paper` (the metric grid under that protocol: sentence-onset windows,
per-electrode scores, frame-shuffle null, no correction), :mod:`~hearlike.protocol.choices` (the two
protocols' choices side by side, from their ``Params``) and :mod:`~hearlike.protocol.calibration`
(false-positive rates of both protocols on the demo; it reads :mod:`hearlike.pipeline`, so this
package does not import it).
"""

from .frames import FRAME_S, N_COMPONENTS, eeg_to_frames, pca_frames, window_frames, word_frames
from .paper import ERP_WINDOWS, MEAN_REGION, paper_grid, sliding_windows

__all__ = ["FRAME_S", "N_COMPONENTS", "eeg_to_frames", "pca_frames", "window_frames", "word_frames", "ERP_WINDOWS",
           "MEAN_REGION", "paper_grid", "sliding_windows"]
