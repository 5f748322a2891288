"""The frost corruption: the image dimmed, plus a random crop of one of five frost photographs.

The textures ship with actsearch (``frost/frost1.png`` ... ``frost5.png``, Apache-2.0, see ``frost/NOTICE``),
already resized by 0.2 as ``make_cifar_c.py`` does before cropping, so nothing is fetched at run time.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> black = torch.zeros(2, 3, 32, 32)
    >>> bool((corrupt(black, "frost", 5) > 0).any())  # the frost itself shows on a black image
    True
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from actsearch.trainers.corruptions.ops import pixel_scale, to_gray
from actsearch.trainers.corruptions.registry import register

__all__ = ["frost", "frost_textures"]

_TEXTURE_COUNT = 5


@functools.lru_cache(maxsize=1)
def frost_textures() -> tuple[torch.Tensor, ...]:
    """The five frost textures as uint8 (3, H, W) RGB tensors, at the scale CIFAR-10-C crops them from."""
    folder = resources.files(__package__) / "frost"
    textures = []
    for i in range(1, _TEXTURE_COUNT + 1):
        with (folder / f"frost{i}.png").open("rb") as file:
            textures.append(torch.from_numpy(np.array(Image.open(file).convert("RGB"))).permute(2, 0, 1).contiguous())
    return tuple(textures)


@functools.lru_cache(maxsize=8)
def _texture_stack(scale: float, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The textures resized by ``scale`` and zero-padded into one (5, 3, H, W) tensor in [0, 1], with their
    (height, width) as a (5, 2) tensor."""
    textures = [texture.to(torch.float64)[None] / 255 for texture in frost_textures()]
    if scale != 1.0:
        textures = [F.interpolate(t, scale_factor=scale, mode="bilinear", antialias=scale < 1, align_corners=False)
                    for t in textures]
    sizes = torch.tensor([t.shape[-2:] for t in textures])
    height, width = sizes.amax(0).tolist()
    stack = torch.zeros(len(textures), 3, height, width, dtype=torch.float64)
    for index, texture in enumerate(textures):
        stack[index, :, : texture.shape[-2], : texture.shape[-1]] = texture[0].clamp(0.0, 1.0)
    return stack.to(device=device, dtype=dtype), sizes.to(device)


@register("frost")
def frost(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """c0 * x + c1 * frost, (c0, c1) = (1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45).

    Every image draws one of the five textures and a crop position, uniformly, as ``make_cifar_c.py`` does
    (``randint(5)``, then ``randint(0, side - 32)`` per axis). At 32x32 the textures are used as shipped; other
    sizes scale them by ``min(H, W) / 32``, more if needed for the crop to fit. Gray images get the texture's
    gray value.
    """
    dim, strength = ((1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))[severity - 1]
    n, _, h, w = x.shape
    smallest = torch.tensor([t.shape[-2:] for t in frost_textures()]).amin(0).tolist()
    scale = max(pixel_scale(x), (h + 1) / smallest[0], (w + 1) / smallest[1])
    stack, sizes = _texture_stack(scale, x.device, x.dtype)
    index = torch.randint(0, _TEXTURE_COUNT, (n,), generator=generator, device=x.device)
    room = (sizes[index] - torch.tensor([h, w], device=x.device)).to(torch.float64)  # crop offsets: 0 .. room - 1
    offsets = (torch.rand((n, 2), generator=generator, dtype=torch.float64, device=x.device) * room).long()
    rows = (offsets[:, 0, None] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (offsets[:, 1, None] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    channels = torch.arange(3, device=x.device).view(1, 3, 1, 1)
    crops = stack[index.view(n, 1, 1, 1), channels, rows, cols]
    if x.shape[1] == 1:
        crops = to_gray(crops)
    return dim * x + strength * crops
