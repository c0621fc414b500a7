"""The kernel's compute device: the GPU when torch sees one, else the CPU."""

from __future__ import annotations

import sys
from typing import Any


def device() -> Any:
    """The best torch device for this kernel: ``cuda`` when available, else ``cpu``."""
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            "jupyter_inferless.device() needs torch; "
            "install it with pip install 'jupyter_inferless[torch]'"
        ) from err
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device() -> dict[str, Any]:
    """What the kernel computes on, for listings: name, memory, torch and CUDA versions.

    torch is consulted only when the notebook has imported it: a model without
    torch runs on the CPU, and serving it should not pay for importing torch.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return {"device": "cpu", "name": "cpu", "torch": None, "cuda": None}
    info: dict[str, Any] = {
        "device": "cpu",
        "name": "cpu",
        "torch": torch.__version__,
        "cuda": None,
    }
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update(
            device=f"cuda:{index}",
            name=props.name,
            memory_gb=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    return info


def cuda_note(requested: str | None, info: dict[str, Any]) -> str | None:
    """A line comparing the CUDA version a runtime config asks for with the kernel's."""
    if requested is None:
        return None
    have = info.get("cuda") or "none (CPU)"
    same = str(have).split(".")[:2] == str(requested).split(".")[:2]
    verdict = "matches" if same else "differs; production will use the requested one"
    return f"CUDA requested by the runtime config: {requested}; this kernel: {have} ({verdict})"
