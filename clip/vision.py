"""The ViT image tower in OpenAI's layout, with prompt tokens and per-block adapters as arguments."""

import torch
from torch import nn

from clip.layers import LayerNorm, Transformer
from clip.layout import TokenLayout, batch_tokens


class VisionTransformer(nn.Module):
    """Patch embedding -> [CLS, patches] + positions -> ln_pre -> transformer -> ln_post(CLS) @ proj.

    ``prompts`` (optional) is an object with ``placement`` ("end" or "after_cls"),
    ``shallow_tokens() -> Tensor[n, W] | None`` and ``block_tokens(i) -> Tensor[n, W] | None``:
    "end" appends the shallow tokens after the patches before ``ln_pre`` (IVLP / MaPLe / PromptSRC);
    "after_cls" inserts them right after CLS once ``ln_pre`` has run (DAPT). Deep tokens replace the same
    positions before block ``i``. ``adapters`` maps block index to an adapter (see ``clip.prompts``).
    """

    def __init__(self, input_resolution: int, patch_size: int, width: int, layers: int, heads: int,
                 output_dim: int, build_hook=None):
        super().__init__()
        self.input_resolution = input_resolution
        self.patch_size = patch_size
        self.width = width
        self.output_dim = output_dim
        grid = input_resolution // patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        if build_hook is not None:
            build_hook("visual", -1, width)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, build_hook=build_hook, tower="visual")
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Images [B, 3, H, W] -> ([B, 1 + h*w, W] with CLS and positions added, (h, w))."""
        x = self.conv1(images.to(self.conv1.weight.dtype))
        b, _, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        if x.shape[1] + 1 != self.positional_embedding.shape[0]:
            raise ValueError(
                f"images of size {tuple(images.shape[-2:])} give {h}x{w} patches, but the model "
                f"was built for "
                f"{self.input_resolution}x{self.input_resolution} inputs")
        cls = self.class_embedding.to(x.dtype).expand(b, 1, -1)
        x = torch.cat([cls, x], dim=1)
        return x + self.positional_embedding.to(x.dtype), (h, w)

    def forward(self, images: torch.Tensor, prompts=None, adapters=None, return_tokens: bool = False):
        x, grid = self.embed(images)
        placement = getattr(prompts, "placement", "end") if prompts is not None else "end"
        shallow = prompts.shallow_tokens() if prompts is not None else None
        n = 0 if shallow is None else shallow.shape[-2]
        layout = TokenLayout(num_prefix=1, grid=grid, num_prompts=n, prompt_position=placement)
        via = getattr(prompts, "token_dtype", None)
        if n and placement == "end":
            x = torch.cat([x, batch_tokens(shallow, x, via)], dim=1)
        x = self.ln_pre(x)
        if n and placement == "after_cls":
            x = torch.cat([x[:, :1], batch_tokens(shallow, x, via), x[:, 1:]], dim=1)
        x = self.transformer(x, deep_prompts=prompts, prompt_start=layout.prompt_slice.start,
                             adapters=adapters, layout=layout)
        if return_tokens:
            tokens = self.ln_post(x)
            return tokens[:, 0] @ self.proj, tokens
        return self.ln_post(x[:, 0]) @ self.proj
