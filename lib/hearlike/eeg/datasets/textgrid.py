"""Praat ``TextGrid`` files (word timings of forced aligners), read without a Praat dependency.

Both text forms Praat writes are read: the long ("ooTextFile" with ``xmin = ...`` lines and
``intervals [k]:`` blocks) and the short one (the same values, one per line, without names). Only
interval tiers are returned; point tiers (``TextTier``) are skipped. The files of OpenNeuro
ds004408 (``stimuli/audioXX.TextGrid``) are long-form files with interval tiers of words and phones.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

__all__ = ["read_textgrid", "textgrid_words", "write_textgrid"]

#: labels of silent intervals (Montreal Forced Aligner writes "", older aligners "sp"/"sil")
SILENCE = frozenset({"", "sp", "sil", "<sil>", "{sl}", "<p:>", "spn"})

_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\[[^\]]*\])|([^\s=:]+)')


def _tokens(text: str) -> list[str | float]:
    """Values of a TextGrid in file order: strings (quoted) and numbers; key names and flags dropped."""
    out: list[str | float] = []
    for match in _TOKEN.finditer(text):
        quoted, index, bare = match.groups()
        if index is not None:  # "item [1]", "intervals [3]": positions, not values
            continue
        if quoted is not None:
            out.append(quoted.replace('""', '"'))
            continue
        try:
            out.append(float(bare))
        except ValueError:
            if bare in ("<exists>", "<absent>"):
                out.append(bare)
            # other bare words are key names of the long form ("xmin", "intervals", "item", ...)
    return out


def read_textgrid(path: str | Path) -> dict[str, pd.DataFrame]:
    """The interval tiers of a Praat TextGrid (long or short text form; UTF-8 or UTF-16).

    Returns
    -------
    dict of tier name to DataFrame
        In file order; columns ``start_s``, ``stop_s`` (float, s from the start of the audio) and
        ``label`` (str), one row per interval, silent ones included.

    Raises
    ------
    ValueError
        Naming the file, if it is not a text TextGrid or an interval ends before it starts.
    """
    path = Path(path)
    raw = path.read_bytes()
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    text = raw.decode(encoding, errors="replace")
    if 'File type = "ooTextFile"' not in text and "ooTextFile" not in text[:200]:
        raise ValueError(f"{path} is not a Praat text TextGrid (no 'File type = \"ooTextFile\"' header); "
                         "save it from Praat as a text file")
    tokens = _tokens(text)
    try:
        pos = tokens.index("TextGrid") + 1
        pos += 2  # xmin xmax of the grid
        if tokens[pos] == "<exists>":
            pos += 1
        n_tiers = int(tokens[pos])
        pos += 1
        tiers: dict[str, pd.DataFrame] = {}
        for _ in range(n_tiers):
            kind, name = str(tokens[pos]), str(tokens[pos + 1])
            n_items = int(tokens[pos + 4])
            pos += 5
            width = 3 if kind == "IntervalTier" else 2
            items = tokens[pos:pos + width * n_items]
            pos += width * n_items
            if len(items) != width * n_items:
                raise ValueError(f"tier {name!r} announces {n_items} items but the file ends after {len(items) // width}")
            if kind != "IntervalTier":
                continue
            tiers[name] = pd.DataFrame({"start_s": [float(v) for v in items[0::3]],
                                        "stop_s": [float(v) for v in items[1::3]],
                                        "label": [str(v).strip() for v in items[2::3]]})  # fmt: skip
    except (ValueError, IndexError, TypeError) as err:
        raise ValueError(f"{path} is not a readable TextGrid ({err!r}); is the file complete?") from err
    for name, tier in tiers.items():
        if (tier["stop_s"] < tier["start_s"]).any():
            raise ValueError(f"{path}: tier {name!r} has an interval that ends before it starts")
    return tiers


def textgrid_words(path: str | Path, *, tier: str | None = None) -> pd.DataFrame:
    """The non-silent intervals of a TextGrid's word tier, in spoken order.

    Parameters
    ----------
    path : str or Path
        The ``.TextGrid`` file.
    tier : str, optional
        Tier name; default the tier named ``words``/``word`` (any case), else the first interval tier.

    Returns
    -------
    DataFrame
        ``word``, ``onset_s``, ``offset_s`` (s from the start of the audio file).
    """
    tiers = read_textgrid(path)
    if not tiers:
        raise ValueError(f"{path} has no interval tier")
    if tier is None:
        named = [n for n in tiers if n.strip().lower() in ("words", "word")]
        tier = named[0] if named else next(iter(tiers))
    if tier not in tiers:
        raise ValueError(f"{path} has no tier {tier!r}; its interval tiers are {list(tiers)}")
    rows = tiers[tier]
    rows = rows[~rows["label"].str.lower().isin(SILENCE)]
    return pd.DataFrame({"word": rows["label"].to_numpy(str), "onset_s": rows["start_s"].to_numpy(float),
                         "offset_s": rows["stop_s"].to_numpy(float)})  # fmt: skip


def write_textgrid(path: str | Path, tiers: dict[str, pd.DataFrame], *, xmax: float | None = None) -> Path:
    """Write interval tiers (``start_s``, ``stop_s``, ``label``) as a long-form Praat TextGrid.

    Gaps between intervals are filled with silent ("") intervals, as Praat requires. Used by the
    tests to write dataset fixtures in the released form.
    """
    end = xmax if xmax is not None else max(float(t["stop_s"].max()) for t in tiers.values())
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0 ", f"xmax = {end} ",
             "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]  # fmt: skip
    for number, (name, tier) in enumerate(tiers.items(), start=1):
        filled, t = [], 0.0
        for start, stop, label in zip(tier["start_s"], tier["stop_s"], tier["label"]):
            if start > t:
                filled.append((t, float(start), ""))
            filled.append((float(start), float(stop), str(label)))
            t = float(stop)
        if t < end:
            filled.append((t, end, ""))
        lines += [f"    item [{number}]:", '        class = "IntervalTier" ', f'        name = "{name}" ',
                  "        xmin = 0 ", f"        xmax = {end} ", f"        intervals: size = {len(filled)} "]
        for k, (start, stop, label) in enumerate(filled, start=1):
            text = label.replace('"', '""')
            lines += [f"        intervals [{k}]:", f"            xmin = {start!r} ", f"            xmax = {stop!r} ",
                      f'            text = "{text}" ']  # fmt: skip
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
