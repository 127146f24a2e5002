"""Model loaders shared by the indexers (entities) and the linkers (queries, mention images).

One loader per family, lazy and cached per process: `load_text_encoder` (sentence-transformers) and
`load_image_encoder` (CLIP through open_clip or transformers). Importing this package imports no model library;
it only arms the torchvision guard (see `torchvision_compat`) so that open_clip's CUDA-only torchvision cannot
break `import transformers` beside a CPU torch.
"""

from kg.kgstore.encoders import torchvision_compat

torchvision_compat.install()

from kg.kgstore.encoders.clip import (  # noqa: E402 - after the guard, on purpose
    BACKENDS,
    ImageEncoder,
    image_encoder_from_config,
    image_model_hint,
    load_image_encoder,
)
from kg.kgstore.encoders.text import (  # noqa: E402
    DEFAULT_TEXT_MODEL,
    TextEncoder,
    load_text_encoder,
    text_encoder_from_config,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_TEXT_MODEL",
    "ImageEncoder",
    "TextEncoder",
    "image_encoder_from_config",
    "image_model_hint",
    "load_image_encoder",
    "load_text_encoder",
    "text_encoder_from_config",
]
