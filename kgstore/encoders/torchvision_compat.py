"""Keep a CUDA-only torchvision from breaking imports beside a CPU build of torch.

`open_clip_torch` needs torchvision, and for torch 2.13 the only torchvision (0.28.0) on PyPI is a CUDA build.
With CPU torch its compiled ops cannot load, and its import then fails on `torchvision::nms does not exist` - in
every module that imports it, transformers and sentence-transformers included. torchvision's Python parts
(transforms, which is all open_clip uses) work once the two operator schemas it registers fakes for exist.

`install()` adds an import hook that runs just before the first `import torchvision`: it loads torchvision's own
ops when they match torch, and only otherwise defines the two schemas (no kernels: calling `nms` would fail,
nothing in kg calls it). Nothing happens, and torch is not imported, when torchvision is absent or never imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_libraries: list = []  # torch.library.Library objects unregister their definitions when garbage-collected


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            define_missing_ops()
        return None  # the regular finders import it


def install() -> None:
    """Arm the hook once per process; a no-op without torchvision or once it is imported."""
    if "torchvision" in sys.modules or any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        return
    if importlib.util.find_spec("torchvision") is None:
        return
    sys.meta_path.insert(0, _BeforeTorchvision())


def define_missing_ops() -> None:
    import torch

    spec = importlib.util.find_spec("torchvision")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        for lib in sorted(Path(location).glob("_C*.so")):
            try:
                torch.ops.load_library(str(lib))  # a torchvision built for this torch registers everything
                return
            except (OSError, RuntimeError):
                pass
    library = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in _SCHEMAS.items():
        if not _has_op(torch, name):
            library.define(schema)
    _libraries.append(library)


def _has_op(torch_module, name: str) -> bool:
    try:
        getattr(torch_module.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False
