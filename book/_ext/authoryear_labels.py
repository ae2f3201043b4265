"""Author-year labels for the book's bibliography ("Benjamini and Hochberg, 1995", not "[BH95]").

``bibtex_reference_style: author_year`` sets how ``{cite:p}``/``{cite:t}`` read in the text, but the
bibliography's own labels come from the pybtex formatting style (``alpha`` gives ``BH95``). This
Sphinx extension registers a pybtex style ``authoryear`` (unsrt formatting, author-year labels, sorted
by author and year), selected in ``_config.yml`` by ``bibtex_default_style: authoryear``.
"""

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _authors(entry) -> str:
    names = [" ".join(person.last_names) for person in entry.persons.get("author", [])]
    if not names:
        return entry.key
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabels(BaseLabelStyle):
    """``Author, year``; ``a``/``b`` suffixes where two entries would share a label."""

    def format_labels(self, sorted_entries):
        labels = [f"{_authors(entry)}, {entry.fields.get('year', 'n.d.')}" for entry in sorted_entries]
        for position, label in enumerate(labels):
            if labels.count(label) > 1:
                label = label + "abcdefghij"[labels[:position].count(label)]
            yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
