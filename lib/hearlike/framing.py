"""What a finding page's numbers come from: the framing admonition at the top of every finding.

A reader must know before the first number whether it comes from recorded EEG or from the simulated
demo (with planted effects, or its null twin with none), and whether each model is a released
network, a simulated reference ("oracle") or a tiny random-weight network. :func:`framing` writes that
note, as MyST Markdown, from the study's :class:`~hearlike.config.Params` alone.
"""

from __future__ import annotations

from .config import REFERENCE_PREFIX, TINY_PREFIX, Params

__all__ = ["model_kind", "data_kind", "framing", "models_markdown"]

#: what each kind of model is, in the reader's words
_KIND_TEXT = {
    "simulated": "simulated reference states with a planted layer peak (the demo's *oracle*, not a network)",
    "random-weight": "networks of a real architecture with random weights (negative controls: "
                     "real extraction code, no training)",
    "released": "released pre-trained weights",
}


def model_kind(key: str) -> str:
    """``"simulated"`` (oracle states), ``"random-weight"`` (``tiny-*``) or ``"released"`` (registry weights)."""
    if key.startswith(REFERENCE_PREFIX):
        return "simulated"
    if key.startswith(TINY_PREFIX):
        return "random-weight"
    from .models import REGISTRY

    spec = REGISTRY.get(key)
    if spec is not None and str(getattr(spec, "weights", "hub")).startswith("random"):
        return "random-weight"  # a released architecture with random initial weights (a control)
    return "released"


def data_kind(params: Params) -> str:
    """``"demo"`` (simulated EEG, planted effects), ``"null"`` (simulated, nothing planted) or ``"real"``."""
    return {"demo": "demo", "demo-null": "null"}.get(params.dataset, "real")


def _model_list(params: Params) -> str:
    groups: dict[str, list[str]] = {}
    for key in params.models:
        groups.setdefault(model_kind(key), []).append(f"`{key}`")
    parts = [f"{len(keys)} {kind} — {', '.join(keys)} — {_KIND_TEXT[kind]}"
             for kind in ("released", "simulated", "random-weight") if (keys := groups.get(kind))]
    text = "; ".join(parts)
    if "released" not in groups:
        text += ". No released pre-trained model is part of this run"
    return text


def framing(params: Params) -> str:
    """The admonition that opens a finding page (MyST Markdown).

    Parameters
    ----------
    params : Params
        The study's parameters; only ``dataset`` and ``models`` are read.

    Returns
    -------
    text : str
        An ``{admonition}`` of class ``important`` (``note`` for real data) naming the data and the kind of every
        model, ending with what the numbers can and cannot support.
    """
    kind = data_kind(params)
    models = _model_list(params)
    if kind == "demo":
        head, directive = "These numbers come from simulated data", "important"
        data = ("the embedded **demo**: synthesised speech and *simulated* EEG with effects planted on purpose "
                "(see {doc}`demo_data`)")
        scope = ("The page checks that the analysis recovers what was planted; it says nothing about real "
                 "Audio LLMs or real brains.")
    elif kind == "null":
        head, directive = "These numbers come from simulated data with nothing planted", "important"
        data = ("the demo's **null twin**: simulated EEG with no stimulus-locked signal (see {doc}`demo_data`)")
        scope = "Any effect reported here is a false positive of the analysis."
    else:
        head, directive = "Data and models of this page", "note"
        data = f"the **{params.dataset}** EEG dataset (see {{doc}}`real_data`)"
        scope = ("Simulated or random-weight models, if any, are controls: only released models speak to "
                 "Audio LLMs.") if any(model_kind(m) != "released" for m in params.models) else ""
    lines = [f":::{{admonition}} {head}", f":class: {directive}", "", f"**Data:** {data}.", "", f"**Models:** {models}.", ""]
    if scope:
        lines.append(scope)
    lines.append(":::")
    return "\n".join(lines)


def models_markdown() -> str:
    """The registry's default group as a Markdown table for the real-data page (``book/real_data.md`` holds it
    verbatim).

    Columns: key (linked to its Hugging Face repository), licence, parameters (billions), encoder and decoder blocks, and the
    GPU memory the weights alone take in bfloat16 (2 bytes per parameter; activations come on top).
    """
    from .models.registry import REGISTRY, group_keys

    rows = ["| model (Hugging Face) | licence | parameters (B) | blocks (enc. / dec.) | bf16 weights (GB) |",
            "|---|---|---:|---:|---:|"]
    for spec in (REGISTRY[key] for key in group_keys("default")):  # the book's comparison (not --group paper)
        rows.append(f"| [`{spec.key}`](https://huggingface.co/{spec.hf_id}) | {spec.licence} | "
                    f"{spec.n_params_billion:.1f} | {spec.n_encoder_layers} / {spec.n_decoder_layers} | "
                    f"{2 * spec.n_params_billion:.0f} |")
    return "\n".join(rows)
