"""hearlike: do Audio LLMs represent speech the way the human brain does?

Layer-wise representational alignment between the hidden states of open Audio LLMs and EEG
recorded while people listen to naturalistic speech. See ``ARCHITECTURE.md`` for the data flow.
"""

__version__ = "0.1.0"
