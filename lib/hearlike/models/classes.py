"""Model classes that transformers does not provide as such.

Every family loads its native transformers class (:data:`hearlike.models.families.FAMILIES`)
except Gemma-3n, whose vision tower is a timm MobileNet-v5 (timm needs torchvision) that audio
inputs never reach: :func:`gemma3n_audio_text_class` gives a subclass of ``Gemma3nForConditionalGeneration``
that does not build it. It reads the released checkpoints with ``from_pretrained`` (the vision
tower's weights are skipped as unexpected keys, about 0.3 B parameters less in memory); all
other modules, names and the forward pass are the library's own.
"""

from __future__ import annotations

import functools

__all__ = ["gemma3n_audio_text_class"]


@functools.cache
def gemma3n_audio_text_class():
    """``Gemma3nForConditionalGeneration`` without the vision tower (built once, on first use)."""
    from torch import nn
    from transformers.models.gemma3n import modeling_gemma3n as g

    class Gemma3nAudioTextModel(g.Gemma3nModel):
        """``Gemma3nModel`` without the (timm) vision tower; ``pixel_values`` are not supported."""

        def __init__(self, config):
            g.Gemma3nPreTrainedModel.__init__(self, config)
            self.vision_tower = None
            self.vocab_size = config.text_config.vocab_size
            self.language_model = g.AutoModel.from_config(config.text_config)
            self.vocab_size_per_layer_input = config.text_config.vocab_size_per_layer_input
            self.audio_tower = g.AutoModel.from_config(config.audio_config)
            self.embed_vision = g.Gemma3nMultimodalEmbedder(config.vision_config, config.text_config)
            self.embed_audio = g.Gemma3nMultimodalEmbedder(config.audio_config, config.text_config)
            self.post_init()

    class Gemma3nAudioTextForConditionalGeneration(g.Gemma3nForConditionalGeneration):
        """``Gemma3nForConditionalGeneration`` whose ``model`` is :class:`Gemma3nAudioTextModel`."""

        def __init__(self, config):
            g.Gemma3nPreTrainedModel.__init__(self, config)
            self.model = Gemma3nAudioTextModel(config)
            self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
            self.post_init()

    return Gemma3nAudioTextForConditionalGeneration

