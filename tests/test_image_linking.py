"""The image channel of `kg link` / `kg eval`, end to end on the real servers, with a tiny CLIP trained for seconds.

No real CLIP weights can be had offline, so the test builds a tiny CLIP (transformers layout, tests/tiny_clip.py),
trains it on synthetic pictures (a coloured shape per KB entity) paired with the entities' names, saves it, and
points KG_IMAGE_MODEL at it: the same loader and pipeline path real weights take. Pairs of entities share a name
and the mention texts say nothing else, so text alone cannot tell them apart; the document's picture can.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import cli_env
from PIL import Image, ImageDraw
from tiny_clip import build_hf_clip

from kg.cli.main import cli

# (id, label, description, colour, shape): each name is shared by two entities
ENTITIES = [
    ("test:mercury-planet", "Mercury", "planet", "red", "circle"),
    ("test:mercury-element", "Mercury", "chemical element", "blue", "square"),
    ("test:jaguar-cat", "Jaguar", "big cat", "green", "triangle"),
    ("test:jaguar-car", "Jaguar", "car maker", "yellow", "circle"),
    ("test:apple-fruit", "Apple", "fruit", "magenta", "square"),
    ("test:apple-company", "Apple", "company", "cyan", "triangle"),
]


def draw(colour: str, shape: str, rng: random.Random, size: int = 64, canvas: Image.Image | None = None,
         at: tuple[int, int] | None = None) -> Image.Image:
    """One rendering of a shape: random size and position (or at `at` on `canvas`)."""
    image = canvas or Image.new("RGB", (size, size), "white")
    s = rng.randint(size // 3, size // 2)
    x, y = at or (rng.randint(0, size - s), rng.randint(0, size - s))
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse((x, y, x + s, y + s), fill=colour)
    elif shape == "square":
        pen.rectangle((x, y, x + s, y + s), fill=colour)
    else:
        pen.polygon([(x + s // 2, y), (x, y + s), (x + s, y + s)], fill=colour)
    return image


def train_tiny_clip(path: Path, steps: int = 120) -> Path:
    """Contrastive training on (rendering, "label description") pairs, one per entity per step; seconds on CPU."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    build_hf_clip(path)
    torch.manual_seed(0)
    rng = random.Random(0)
    model, processor = CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path)
    texts = processor.tokenizer([f"{label} {desc}" for _, label, desc, _, _ in ENTITIES], padding=True,
                                return_tensors="pt")
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(steps):
        pictures = [draw(colour, shape, rng) for *_, colour, shape in ENTITIES]
        pixels = processor.image_processor(pictures, return_tensors="pt")["pixel_values"]
        loss = model(input_ids=texts["input_ids"], attention_mask=texts["attention_mask"], pixel_values=pixels,
                     return_loss=True).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    model.save_pretrained(path)
    return path


@pytest.fixture
def collection(graph_config, clean_graph):
    """The test's Qdrant collection, dropped afterwards (the graph is cleaned by clean_graph)."""
    from kg.kgstore.vectors import VectorStore

    yield graph_config
    vectors = VectorStore.from_config(graph_config)
    vectors.delete_collection(graph_config.qdrant.collection)
    vectors.close()


@pytest.fixture(scope="module")
def trained_clip(tmp_path_factory) -> Path:
    return train_tiny_clip(tmp_path_factory.mktemp("tiny-clip") / "model")


def _kb_and_corpus(tmp_path: Path) -> tuple[Path, Path, Path]:
    """KB JSONL (each entity with its picture), a span corpus (neutral text + picture) and a box corpus (two
    shapes side by side, the box on one of them, no text)."""
    rng = random.Random(1)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    kb = tmp_path / "kb.jsonl"
    with kb.open("w") as f:
        for qid, label, desc, colour, shape in ENTITIES:
            path = pictures / f"{qid.split(':')[1]}.png"
            draw(colour, shape, rng).save(path)
            f.write(json.dumps({"id": qid, "label": label, "description": desc, "images": [str(path)]}) + "\n")
    spans, boxes = tmp_path / "spans.jsonl", tmp_path / "boxes.jsonl"
    with spans.open("w") as fs, boxes.open("w") as fb:
        for n in range(2):
            for i, (qid, label, _, colour, shape) in enumerate(ENTITIES):
                image = pictures / f"doc-{n}-{i}.png"
                draw(colour, shape, rng).save(image)
                text = f"A picture of {label}."
                fs.write(json.dumps({"id": f"d{n}-{i}", "text": text, "image": str(image), "mentions": [
                    {"start": text.index(label), "end": text.index(label) + len(label), "gold": qid}]}) + "\n")
                other = ENTITIES[(i + 3) % len(ENTITIES)]  # another entity's shape in the other half
                scene = Image.new("RGB", (128, 64), "white")
                left = n == 0
                draw(colour, shape, rng, canvas=scene, at=(4 if left else 68, 8))
                draw(other[3], other[4], rng, canvas=scene, at=(68 if left else 4, 8))
                scene_path = pictures / f"scene-{n}-{i}.png"
                scene.save(scene_path)
                box = [0, 0, 64, 64] if left else [64, 0, 128, 64]
                fb.write(json.dumps({"id": f"s{n}-{i}", "text": "", "image": str(scene_path),
                                     "mentions": [{"box": box, "gold": qid}]}) + "\n")
    return kb, spans, boxes


def test_images_disambiguate_same_name_mentions_and_link_box_regions(graph_config, collection, trained_clip,
                                                                       tmp_path: Path) -> None:
    kb, spans, boxes = _kb_and_corpus(tmp_path)
    text_env = cli_env(graph_config)
    env = {**text_env, "KG_IMAGE_BACKEND": "hf", "KG_IMAGE_MODEL": str(trained_clip)}
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(kb), "--json"], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["index", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["indexes"]["image"]["encoded"] == len(ENTITIES)

    def hits_at_1(corpus: Path, environment: dict[str, str]) -> float:
        out = runner.invoke(cli, ["eval", str(corpus), "--json"], env=environment)
        assert out.exit_code == 0, out.output
        data = json.loads(out.stdout)
        assert data["n"] == 2 * len(ENTITIES)
        if corpus == boxes:  # reported apart too: every mention here is a region
            assert data["box_mentions"]["n"] == data["n"] and data["box_mentions"]["hits@1"] == data["hits@1"]
        else:
            assert "box_mentions" not in data
        return data["hits@1"]

    text_only = hits_at_1(spans, text_env)
    with_images = hits_at_1(spans, env)
    # text alone cannot tell the two entities of a name apart (at best one of each pair); the pictures can
    assert text_only <= 0.5 + 1e-9 and with_images == 1.0, (text_only, with_images)

    # box mentions without text: linked from the region alone (image candidates), not from the whole scene
    box_text_only, box_images = hits_at_1(boxes, text_env), hits_at_1(boxes, env)
    # no image model: an empty surface and no text leave chance (one of six entities); the region links it
    assert box_text_only <= 1 / 3 and box_images >= 0.9, (box_text_only, box_images)
    print(f"span mentions hits@1: text only {text_only:.3f}, with images {with_images:.3f}; "
          f"box mentions: text only {box_text_only:.3f}, with images {box_images:.3f}")

    # each box's region was cut out once and saved, for the methods' image checks and clue sources
    regions = sorted((graph_config.home / "cache" / "regions").glob("*.png"))
    assert len(regions) == 2 * len(ENTITIES) and all(Image.open(r).size == (64, 64) for r in regions)

    res = runner.invoke(cli, ["link", str(spans), "--no-write", "--explain"], env=env)
    assert res.exit_code == 0, res.output
    assert "image: document image" in res.output and "image=" in res.output  # the image source and feature

    # an unreadable image is a recorded note, and the mention is linked from its text
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    one = tmp_path / "broken.jsonl"
    one.write_text(json.dumps({"id": "b", "text": "A picture of Mercury.", "image": str(broken),
                               "mentions": [{"start": 13, "end": 20}]}) + "\n")
    res = runner.invoke(cli, ["link", str(one), "--no-write", "--explain"], env=env)
    assert res.exit_code == 0, res.output
    assert "image: image not read: not a readable image" in res.output and "-> test:mercury-" in res.output
