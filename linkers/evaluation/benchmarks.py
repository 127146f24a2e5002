"""The MEL benchmarks' readers: `read_wikimel`, `read_wikidiverse` (documents with gold mentions) and
`read_i2cr_fixture` (mentions with given candidates); their docstrings describe the files and official splits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.model import is_qid
from kg.linkers.records import NIL, Document, GivenCandidate, GivenCandidatesMention, Mention, MentionIds

__all__ = ["read_i2cr_fixture", "read_wikidiverse", "read_wikimel", "wikidiverse_title_qids"]

_WORD_RE = re.compile(r"\w+")





def read_wikimel(root: Path, split: str | None = None, limit: int | None = None) -> Iterator[Document]:
    """WikiMEL (Wikidata-MEL captions of MELBench, GHMFC's splits) as documents with gold mentions.

    Files in `root`: ``Wikidata-MEL.json`` ``{sample id: {id, sentence, mentions: [surface], entities:
    [name], answer: [QID]}}`` (22,136 samples, 25,846 mentions, all golds are QIDs, no NIL);
    ``splits.json`` ``{train, dev, test: [sample id]}``, the official GHMFC split (17,091 / 2,443 / 4,883
    ids, disjoint); ``images/<sample id>.jpg`` for the few images kept (45 files, 38 of them samples).
    Split ids absent from Wikidata-MEL.json are skipped: 1,580 train, 230 dev and 471 test ids, so the test
    split reads as 4,412 captions with 5,131 mentions. `split` None reads every sample in file order; "val" is
    accepted for "dev". `limit` caps the number of documents.

    Mentions are located in the sentence: whole word first, then anywhere, then ignoring case, then with up
    to two words between the surface's words (the dataset dropped particles and middle names: "Hermann
    Beckerath" is "Hermann von Beckerath", 734 mentions); the mention's surface is the sentence's text there.
    6 of 25,846 mentions (none of the test split) are found nowhere (their words are out of order, as
    "Count Camillo") and keep start/end None with the dataset's surface. A surface listed twice for two
    people ("The Fords") yields two mentions on one span (ids ``~2``).
    """
    root = Path(root)
    samples = _load_json(root / "Wikidata-MEL.json", dict, "WikiMEL")
    splits = _load_json(root / "splits.json", dict, "WikiMEL")
    ids = _split_ids(splits, split, "WikiMEL", aliases={"val": "dev"}) if split else list(samples)
    member = _membership(splits)
    images = root / "images"
    for sample_id in _limited((i for i in ids if i in samples), limit):
        sample = samples[sample_id]
        image = images / f"{sample_id}.jpg"
        yield _mel_document(
            f"wikimel:{sample_id}", sample["sentence"], sample["mentions"], sample["answer"],
            image=str(image.resolve()) if image.is_file() else None,
            meta={"dataset": "wikimel", "sample_id": sample_id, "splits": member.get(sample_id, [])},
        )


def read_wikidiverse(root: Path, split: str | None = None, limit: int | None = None) -> Iterator[Document]:
    """WikiDiverse (KGMEL's MIMIC-cleaned copy) as documents with gold mentions; `image` is the image URL.

    Files in `root`: ``WikiDiverse.json`` ``[{id: int, sentence, imgPath, mention: [surface], entity:
    [Wikipedia title], answer: [QID], img-url?}]`` (7,405 samples, ids 0..7404, 14,851 mentions, 7,643
    distinct QIDs, no NIL; 226 samples have no img-url); ``mapping/ids_split_mappings.json`` holds the
    official split under ``WikiDiverse``: train 5,570 / val 803 / test 1,058 samples (11,204 / 1,663 / 2,044
    mentions). The split lists are not disjoint: 23 ids are in two or three of them (train and val 11, train
    and test 14, val and test 4, all three 3); meta "splits" names every split listing a sample.
    ``mapping/ids_blank_image.json`` lists ids whose image is blank or missing (238; meta "blank_image").
    `split` None reads every sample in file order; "dev" is accepted for "val". A gold answer that is not a
    QID (none in this copy) becomes "NIL". Every mention is found in its sentence.
    """
    root = Path(root)
    samples = _load_json(root / "WikiDiverse.json", list, "WikiDiverse")
    mapping = _load_json(root / "mapping" / "ids_split_mappings.json", dict, "WikiDiverse")
    splits = {name: [str(i) for i in ids] for name, ids in mapping.get("WikiDiverse", {}).items()}
    blank_path = root / "mapping" / "ids_blank_image.json"
    blank: set[str] = set()
    if blank_path.is_file():
        blank = {str(i) for i in _load_json(blank_path, dict, "WikiDiverse").get("WikiDiverse", [])}
    by_id = {str(s["id"]): s for s in samples}
    ids = _split_ids(splits, split, "WikiDiverse", aliases={"dev": "val"}) if split else list(by_id)
    member = _membership(splits)
    for sample_id in _limited((i for i in ids if i in by_id), limit):
        sample = by_id[sample_id]
        yield _mel_document(
            f"wikidiverse:{sample_id}", sample["sentence"], sample["mention"], sample["answer"],
            image=sample.get("img-url"),
            meta={"dataset": "wikidiverse", "sample_id": sample_id, "splits": member.get(sample_id, []),
                  "image_file": sample.get("imgPath"), "blank_image": sample_id in blank},
        )


def wikidiverse_title_qids(root: Path) -> dict[str, str]:
    """Wikipedia title (underscored, as I2CR writes it) -> QID, from WikiDiverse.json's gold pairs."""
    samples = _load_json(Path(root) / "WikiDiverse.json", list, "WikiDiverse")
    return {
        title.replace(" ", "_"): qid
        for s in samples for title, qid in zip(s["entity"], s["answer"]) if is_qid(str(qid))
    }


I2CR_CHUNKS = range(2, 11)


def read_i2cr_fixture(root: Path, title_qids: Mapping[str, str] | None = None) -> Iterator[GivenCandidatesMention]:
    """The I2CR WikiDiverse test fixture: 90 distinct mentions, 10 given candidates each, sorted by id.

    Files in `root` (I2CR's ``cut_temp`` chunks 2..10): ``N.json`` maps an I2CR WikiDiverse test id
    ("1416", an index into I2CR's own 1,570-mention test set, not a KGMEL sample id) to ``{mention,
    mention_context, Candentity: [{name, desc}] x 10, mention_imgpath, mention_imgdesc_Azure: {Caption,
    "Dense Captions", Tags, "OCR text" ("; "-joined strings), "Dense Captions detail", Objects: [{object_name,
    bounding_box, confidence}]}}``; ``N_res.json`` is the same with the LLM's answer ``GPTans`` added. The
    chunks overlap: ``2.json`` (50 entries) repeats ``6..10.json``, every ``N.json`` id is in a
    ``*_res.json``, and ``2_res.json`` holds 10 ids found nowhere else: 130 entries, 90 distinct mentions,
    all in ``*_res.json``. The two files differ only in ``desc``: ``*_res.json`` has the Wikipedia abstract
    (used as `description`), ``N.json`` an LLM's one-sentence summary (`summary`, 80 mentions).
    ``WikiDiverse_testset_label.json`` maps all 1,570 ids to the gold title or "nil" (287): here 20 of the 90
    are NIL and the other 70 golds are always among the candidates; GPTans is right for 71 of 90.

    `title_qids` (e.g. `wikidiverse_title_qids`) fills candidate QIDs; it knows 112 of the 900 candidate
    titles and 68 of the 70 gold titles.
    """
    root = Path(root)
    labels = _load_json(root / "WikiDiverse_testset_label.json", dict, "I2CR fixture")
    inputs: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    for n in I2CR_CHUNKS:
        inputs.update(_load_json(root / f"{n}.json", dict, "I2CR fixture"))
        outputs.update(_load_json(root / f"{n}_res.json", dict, "I2CR fixture"))
    titles = title_qids or {}
    for key in sorted(set(inputs) | set(outputs), key=int):
        entry = outputs.get(key) or inputs[key]
        summaries = {c["name"]: c["desc"] for c in inputs.get(key, {}).get("Candentity", [])}
        candidates = [
            GivenCandidate(c["name"], c["desc"], titles.get(c["name"]), summaries.get(c["name"]))
            for c in entry["Candentity"]
        ]
        text, surface = entry["mention_context"], entry["mention"]
        span = _locate(text, surface, set())
        start, end = span if span else (None, None)
        pick = entry.get("GPTans")
        yield GivenCandidatesMention(
            id=f"i2cr-wikidiverse:{key}", text=text, surface=text[start:end] if span else surface,
            start=start, end=end, candidates=candidates, clues=_clues(entry.get("mention_imgdesc_Azure") or {}),
            gold=_nil_or(labels[key]), image=entry.get("mention_imgpath"), llm_pick=_nil_or(pick) if pick else None,
        )


def _nil_or(title: str) -> str:
    return NIL if title.strip().lower() == "nil" else title


def _clues(azure: Mapping[str, Any]) -> dict[str, list[str] | str]:
    """Azure image analysis -> caption (str), dense_captions, tags, ocr, objects (lists of strings)."""
    def parts(value: Any) -> list[str]:
        return [p.strip() for p in str(value or "").split(";") if p.strip()]

    return {
        "caption": str(azure.get("Caption") or ""),
        "dense_captions": parts(azure.get("Dense Captions")),
        "tags": parts(azure.get("Tags")),
        "ocr": parts(azure.get("OCR text")),
        "objects": [o["object_name"] for o in azure.get("Objects") or [] if o.get("object_name")],
    }


def _mel_document(doc_id: str, text: str, surfaces: list[str], answers: list[Any], image: str | None,
                  meta: dict[str, Any]) -> Document:
    ids = MentionIds(doc_id)
    taken: set[tuple[int, int]] = set()
    mentions = []
    for index, (surface, answer) in enumerate(zip(surfaces, answers)):
        gold = answer if isinstance(answer, str) and is_qid(answer) else NIL
        span = _locate(text, surface, taken)
        if span is None:
            mentions.append(Mention(ids.unplaced(index), None, None, surface, gold=gold))
            continue
        taken.add(span)
        start, end = span
        mentions.append(Mention(ids.span(start, end), start, end, text[start:end], gold=gold))
    return Document(doc_id, text, image, mentions, meta)


def _locate(text: str, surface: str, taken: set[tuple[int, int]]) -> tuple[int, int] | None:
    """The first occurrence of `surface` in `text` not in `taken` (or the first one when all are)."""
    spans = _occurrences(text, surface)
    return next((s for s in spans if s not in taken), spans[0] if spans else None)


def _occurrences(text: str, surface: str) -> list[tuple[int, int]]:
    """Spans of `surface`, best kind first: exact whole word, exact substring, any case, words with gaps."""
    if not surface.strip():
        return []
    found, at = [], text.find(surface)
    while at >= 0:
        found.append((at, at + len(surface)))
        at = text.find(surface, at + 1)
    if found:
        whole = [s for s in found if _whole_word(text, surface, *s)]
        return whole + [s for s in found if s not in whole]
    pattern = re.compile(re.escape(surface), re.IGNORECASE)
    found = [m.span() for m in pattern.finditer(text) if _whole_word(text, surface, *m.span())]
    return found or _with_gaps(text, surface)


def _whole_word(text: str, surface: str, start: int, end: int) -> bool:
    """No word character glued to the span on a side where the surface itself ends in one."""
    def word(c: str) -> bool:
        return c.isalnum() or c == "_"

    left = not word(surface[0]) or start == 0 or not word(text[start - 1])
    return left and (not word(surface[-1]) or end == len(text) or not word(text[end]))


def _with_gaps(text: str, surface: str, max_gap: int = 2) -> list[tuple[int, int]]:
    """Spans where the surface's words occur in order, up to `max_gap` words between two of them.

    MEL datasets drop particles and middle names from surfaces ("Hermann Beckerath" for "Hermann von
    Beckerath", "Paul Draper" for "Paul W Draper"); the span covers what the text says.
    """
    words = [w.casefold() for w in _WORD_RE.findall(surface)]
    tokens = list(_WORD_RE.finditer(text))
    folded = [t.group().casefold() for t in tokens]
    spans = []
    for i, token in enumerate(folded):
        if not words or token != words[0]:
            continue
        j = i
        for word in words[1:]:
            nxt = next((k for k in range(j + 1, min(j + 2 + max_gap, len(tokens))) if folded[k] == word), None)
            if nxt is None:
                break
            j = nxt
        else:
            spans.append((tokens[i].start(), tokens[j].end()))
    return spans


def _split_ids(splits: Mapping[str, list], split: str, dataset: str, aliases: Mapping[str, str]) -> list[str]:
    name = aliases.get(split, split)
    if name not in splits:
        raise InputError(f"{dataset}: unknown split {split!r}; the official splits are {', '.join(splits)}")
    return [str(i) for i in splits[name]]


def _membership(splits: Mapping[str, list]) -> dict[str, list[str]]:
    """sample id -> names of the splits listing it (WikiDiverse's lists overlap)."""
    out: dict[str, list[str]] = {}
    for name, ids in splits.items():
        for i in ids:
            out.setdefault(str(i), []).append(name)
    return out


def _limited(items: Iterable[str], limit: int | None) -> Iterator[str]:
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}")
    for n, item in enumerate(items):
        if limit is not None and n >= limit:
            return
        yield item


def _load_json(path: Path, kind: type, dataset: str) -> Any:
    """A whole JSON file of the expected top-level type; InputError naming the file otherwise."""
    if not path.is_file():
        raise InputError(
            f"{path}: not found; is {path.parent} a {dataset} directory (layout in linkers/evaluation/benchmarks.py)?"
        )
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, kind):
        raise InputError(f"{path}: expected a JSON {kind.__name__}, found {type(data).__name__}")
    return data
