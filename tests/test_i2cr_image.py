"""I2CR's image side: the inter-modal check through a real CLIP loader (tiny random-init model: plumbing, not
quality) and visual rounds whose OCR clue comes from tesseract reading the mention's image."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from index_helpers import WIKIMEL_IMAGES
from llm_server import StubServer, completion
from PIL import Image, ImageDraw, ImageFont
from tiny_clip import build_hf_clip, build_tiny_blip

from kg.kgstore.encoders import load_image_encoder
from kg.kgstore.encoders.text import load_text_encoder
from kg.kgstore.images import ImageLoader
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.clues import build_sources, clip_tags, first_clue, tesseract_ocr, transformers_captioner
from kg.linkers.ranking import MentionInput, load_reranker
from kg.linkers.ranking.llm import LLMClient, LLMSettings
from kg.linkers.ranking.llm_method import LLMOptions, MethodServices

NO_TESSERACT = shutil.which("tesseract") is None
TESSERACT_HINT = "tesseract is not installed (apt-get install tesseract-ocr; .ci/run installs it)"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return load_image_encoder("hf", str(build_hf_clip(tmp_path_factory.mktemp("clip"))))


@pytest.fixture(scope="module")
def encoder():
    return load_text_encoder("all-MiniLM-L6-v2")


def sign(tmp_path: Path, text: str = "KODAK THEATRE") -> Path:
    image = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(image).text((30, 60), text, fill="black", font=ImageFont.load_default(size=64))
    path = tmp_path / "sign.png"
    image.save(path)
    return path


def i2cr(services: MethodServices, **settings):
    return load_reranker("i2cr", services=services, llm=LLMOptions(when="always"), settings=settings)


def test_iav_scores_the_mention_image_against_the_description_with_clip(clip, tmp_path) -> None:
    image = str(sorted(WIKIMEL_IMAGES.glob("*.jpg"))[0])
    services = MethodServices(client=None, image_encoder=clip, load_image=ImageLoader(tmp_path).open)
    pick = Candidate("Q1", "Somebody", {"description": "an American actor"})
    mention = MentionInput("m", "Somebody", "Somebody at the premiere.", image=image)
    passed, score, how = i2cr(services, beta=-1000)._iav(mention, pick)
    assert how == "clip" and isinstance(score, float) and -100 <= score <= 100 and passed
    again = i2cr(services, beta=score + 0.01)._iav(mention, pick)
    assert again == (False, score, "clip")  # the same score, now under the threshold
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    failed = i2cr(services)._iav(MentionInput("m", "x", "x", image=str(broken)), pick)
    assert failed[0] is False and failed[2].startswith("clip:")  # a broken image fails the check, no crash


@pytest.mark.skipif(NO_TESSERACT, reason=TESSERACT_HINT)
def test_tesseract_reads_the_mention_image(tmp_path) -> None:
    source = tesseract_ocr(ImageLoader(tmp_path).open)
    assert source is not None
    clue = source.clue(MentionInput("m", "x", "x", image=str(sign(tmp_path))))
    assert clue and "KODAK" in clue.upper()


@pytest.mark.skipif(NO_TESSERACT, reason=TESSERACT_HINT)
def test_failed_image_check_starts_a_visual_round_with_the_ocr_clue(clip, encoder, tmp_path) -> None:
    cands = [Candidate("Q1", "Kodak Theatre", {"description": "a theatre in Hollywood"}),
             Candidate("Q2", "Kodak", {"description": "an American photography company"})]
    for c in cands:
        c.features = {"name": 0.5, "context": 0.5}
    mention = MentionInput("m", "Kodak", "The ceremony was held at the Kodak.", image=str(sign(tmp_path)))
    with StubServer(lambda n, body, headers: (200, completion('{"answer": "Kodak Theatre"}'))) as server:
        services = MethodServices(client=LLMClient(LLMSettings(base_url=server.base_url, model="stub", retries=0)),
                                  encode=encoder.encode, image_encoder=clip,
                                  load_image=ImageLoader(tmp_path).open)
        ranking = i2cr(services, beta=1000, alpha=-1, order=["ocr", "caption"]).rerank(mention, cands)
        prompts = [r["messages"][-1]["content"] for r in server.requests]
    rounds = ranking.trace["rounds"]
    assert [r["clue_kind"] for r in rounds] == [None, "ocr"]  # no caption source: the rounds end after OCR
    assert "KODAK" in rounds[1]["clue"].upper() and all(r["iav_mode"] == "clip" for r in rounds)
    assert "mention image information" not in prompts[0] and "KODAK" in prompts[1].upper()
    assert ranking.candidates[0].qid == "Q1" and ranking.trace["final"] == "clues exhausted: round-1 pick"


def test_clip_zero_shot_tags_rank_the_vocabulary_against_the_image(clip, tmp_path) -> None:
    image = str(sorted(WIKIMEL_IMAGES.glob("*.jpg"))[0])
    opener = ImageLoader(tmp_path).open
    vocabulary = ["person", "building", "car", "animal", "stage", "person"]
    clue = clip_tags(clip, vocabulary, opener, top=3).clue(MentionInput("m", "x", "x", image=image))
    tags = clue.split("; ")
    assert len(tags) == 3 and len(set(tags)) == 3 and set(tags) <= set(vocabulary)
    # the same ranking as scoring the vocabulary by hand through the encoder (tiny random model: no quality claim)
    words = list(dict.fromkeys(vocabulary))
    scores = clip.encode_texts([f"a photo of {w}" for w in words]) @ clip.encode_images([opener(image)])[0]
    assert tags == [words[i] for i in (-scores).argsort()[:3]]
    # configured through build_sources, precomputed tags still come first
    sources = build_sources({"tag_vocabulary": vocabulary, "ocr": "none"}, clip, opener)
    given = MentionInput("m", "x", "x", image=image, clues={"tags": ["stadium", "crowd"]})
    assert first_clue(sources["tags"], given) == "stadium; crowd"
    assert first_clue(sources["tags"], MentionInput("m", "x", "x", image=image)) == "; ".join(
        [words[i] for i in (-scores).argsort()[:5]])


def test_transformers_captioner_captions_the_mention_image_once(tmp_path) -> None:
    """Loaded through the real transformers path from a saved tiny BLIP; its words are random, its plumbing not."""
    model = build_tiny_blip(tmp_path / "blip")
    source = transformers_captioner(str(model), ImageLoader(tmp_path).open)
    mention = MentionInput("m", "x", "x", image=str(sorted(WIKIMEL_IMAGES.glob("*.jpg"))[0]))
    caption = source.clue(mention)
    assert isinstance(caption, str) and caption.strip()
    assert source.clue(mention) == caption and len(source.cache) == 1  # once per image
    sources = build_sources({"caption_model": str(model), "ocr": "none"}, None, ImageLoader(tmp_path).open)
    assert first_clue(sources["caption"], mention)
