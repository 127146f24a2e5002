"""How alike two normal forms of names are: the name similarity that candidate lookup ranks fuzzy hits by and that
the `name` and `name_words` features read."""

from __future__ import annotations

from rapidfuzz import fuzz

SHORT_NAME = 3  # names this short (abbreviations) must match whole
PARTIAL_LENGTHS = 1.5  # WRatio matches a form inside another at least this many times as long (partial_ratio)
TOKEN_SCALE = 0.95  # WRatio's weight of the token sort and set ratios


def name_score(query_form: str, name_form: str) -> float:
    """rapidfuzz WRatio (0-100) of two normal forms; a very short one is compared whole, since WRatio's partial
    matching would find the alias "ms" (Mississippi) inside "douglas adams"."""
    if min(len(query_form), len(name_form)) <= SHORT_NAME:
        return fuzz.ratio(query_form, name_form)
    return fuzz.WRatio(query_form, name_form)


def whole_word_score(query_form: str, name_form: str, score: float) -> float:
    """`score` (name_score of the two forms) with WRatio's partial match of the shorter form inside the longer one
    counted only at whole words: "obama" in "barack obama" keeps its 90; "rome" inside "quentin jerome tarantino"
    and "london" inside "londonderry" are compared whole (ratio, token sort and set ratios) instead."""
    shorter, longer = sorted((query_form, name_form), key=len)
    if len(shorter) <= SHORT_NAME or len(longer) < PARTIAL_LENGTHS * len(shorter):
        return score  # compared whole already
    at = fuzz.partial_ratio_alignment(shorter, longer)
    if at is None:  # no alignment at all: nothing partial to discount
        return score
    if (at.dest_start == 0 or longer[at.dest_start - 1] == " ") and \
            (at.dest_end == len(longer) or longer[at.dest_end] == " "):
        return score
    return max(fuzz.ratio(query_form, name_form), TOKEN_SCALE * fuzz.token_sort_ratio(query_form, name_form),
               TOKEN_SCALE * fuzz.token_set_ratio(query_form, name_form))
