"""The CLIP model (OpenAI attribute and state-dict names) and ``build_model`` from a state dict."""

import math

import torch
from torch import nn

from clip.layers import LayerNorm, Transformer
from clip.resnet import ModifiedResNet
from clip.text import text_path
from clip.vision import VisionTransformer

PRECISIONS = {"fp32": torch.float32, "amp": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
NON_TENSOR_KEYS = ("input_resolution", "context_length", "vocab_size")


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """``x / ||x||`` along the last axis: how CLIP compares features (no epsilon, as OpenAI's)."""
    return x / x.norm(dim=-1, keepdim=True)


class CLIP(nn.Module):
    """Image tower (``visual``: ViT or ModifiedResNet) and text tower, as in OpenAI's release.

    Prompt and adapter objects are passed to ``encode_image`` / ``encode_text_embeddings`` as arguments;
    with none given the computation is exactly plain CLIP.

    ``build_hook(tower, position, width)``, when given, is called while the modules are constructed:
    ("visual", -1) right after the ViT's patch embedding, (tower, i) right after block ``i`` of the
    "visual" or "text" transformer. Upstream's modified CLIPs draw prompt tensors from the global RNG at
    exactly these points; a hook that draws there reproduces their random streams (see ``build_model``).
    """

    def __init__(self, embed_dim: int, image_resolution: int, vision_layers, vision_width: int,
                 vision_patch_size: int | None, context_length: int, vocab_size: int,
                 transformer_width: int, transformer_heads: int, transformer_layers: int, build_hook=None):
        super().__init__()
        self.context_length = context_length
        self.vocab_size = vocab_size
        if isinstance(vision_layers, (tuple, list)):
            self.visual = ModifiedResNet(layers=vision_layers, output_dim=embed_dim,
                                         heads=vision_width * 32 // 64, input_resolution=image_resolution,
                                         width=vision_width)
        else:
            if vision_width % 64:
                raise ValueError(f"ViT width {vision_width} is not a multiple of 64 (heads = width / 64)")
            self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width, vision_layers,
                                            heads=vision_width // 64, output_dim=embed_dim,
                                            build_hook=build_hook)
        if transformer_heads < 1 or transformer_width % transformer_heads:
            raise ValueError(f"text width {transformer_width} cannot be split into {transformer_heads} heads")
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads,
                                       build_hook=build_hook, tower="text")
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.initialize_parameters()

    def initialize_parameters(self) -> None:
        """OpenAI's initialisation (used when a tiny CLIP is trained from scratch)."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        if isinstance(self.visual, ModifiedResNet):
            pool = self.visual.attnpool
            std = pool.c_proj.in_features ** -0.5
            for layer in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
                nn.init.normal_(layer.weight, std=std)
            for stage in (self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4):
                for block in stage:
                    nn.init.zeros_(block.bn3.weight)
        width, layers = self.transformer.width, self.transformer.layers
        proj_std = width ** -0.5 * (2 * layers) ** -0.5
        attn_std = width ** -0.5
        fc_std = (2 * width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width ** -0.5)

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    def encode_image(self, images: torch.Tensor, prompts=None, adapters=None, return_tokens: bool = False):
        """Images [B, 3, H, W] -> features [B, D] (and, with ``return_tokens``, the final tokens)."""
        return self.visual(images.to(self.dtype), prompts=prompts, adapters=adapters,
                           return_tokens=return_tokens)

    def encode_text_embeddings(self, embeddings: torch.Tensor, eot_indices: torch.Tensor, prompts=None,
                               return_tokens: bool = False):
        """Ready token embeddings [C, L, W] + end-token positions [C] -> features [C, D]."""
        return text_path(self, embeddings, eot_indices, prompts=prompts, return_tokens=return_tokens)

    def encode_text(self, token_ids: torch.Tensor, prompts=None, return_tokens: bool = False):
        """Token ids [C, L] -> features [C, D]; the end token has the largest id, so argmax finds it."""
        embeddings = self.token_embedding(token_ids).to(self.dtype)
        return self.encode_text_embeddings(embeddings, token_ids.argmax(dim=-1), prompts=prompts,
                                           return_tokens=return_tokens)

    def forward(self, images: torch.Tensor, token_ids: torch.Tensor):
        """OpenAI's forward: (logits_per_image [B, C], logits_per_text [C, B])."""
        image = self.encode_image(images)
        text = self.encode_text(token_ids)
        logits = self.logit_scale.exp() * l2_normalize(image) @ l2_normalize(text).t()
        return logits, logits.t()

    def lock_image_tower(self) -> "CLIP":
        """Freeze every parameter of ``visual``."""
        self.visual.requires_grad_(False)
        return self

    def lock_text_tower(self) -> "CLIP":
        """Freeze the text tower (transformer, embeddings, final norm, projection)."""
        for part in (self.transformer, self.token_embedding, self.ln_final):
            part.requires_grad_(False)
        self.positional_embedding.requires_grad_(False)
        self.text_projection.requires_grad_(False)
        return self

    def lock(self) -> "CLIP":
        """Freeze the whole model, ``logit_scale`` included (prompt tuning trains only added modules)."""
        self.requires_grad_(False)
        return self


def convert_weights(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """OpenAI-style low precision: Conv/Linear/attention weights and the two projection matrices.

    LayerNorm, BatchNorm, embeddings and ``logit_scale`` stay fp32 (LayerNorm computes in fp32).
    """
    def convert(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            module.weight.data = module.weight.data.to(dtype)
            if module.bias is not None:
                module.bias.data = module.bias.data.to(dtype)
        if isinstance(module, nn.MultiheadAttention):
            for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight",
                         "in_proj_bias", "bias_k", "bias_v"):
                tensor = getattr(module, name, None)
                if tensor is not None:
                    tensor.data = tensor.data.to(dtype)
        for name in ("text_projection", "proj"):
            tensor = getattr(module, name, None)
            if isinstance(tensor, nn.Parameter):
                tensor.data = tensor.data.to(dtype)

    model.apply(convert)
    return model


def precision_dtype(precision: str) -> torch.dtype:
    """Map "fp32" / "amp" / "fp16" / "bf16" to the weight dtype of the towers."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {sorted(PRECISIONS)}")
    return PRECISIONS[precision]


def _count_blocks(state_dict, prefix: str) -> int:
    return len({k.split(".")[len(prefix.split("."))] for k in state_dict if k.startswith(prefix + ".")})


def infer_config(state_dict) -> dict:
    """Architecture sizes of an OpenAI-layout state dict (the arguments of ``CLIP``)."""
    def get(key):
        if key not in state_dict:
            raise KeyError(f"state dict has no key {key!r}; is it an OpenAI-format CLIP state dict?")
        return state_dict[key]

    if "visual.proj" in state_dict:
        conv = get("visual.conv1.weight")
        vision_width, patch = conv.shape[0], conv.shape[-1]
        layers = sum(1 for k in state_dict if k.startswith("visual.") and k.endswith(".attn.in_proj_weight"))
        grid = round((get("visual.positional_embedding").shape[0] - 1) ** 0.5)
        vision = {"vision_layers": layers, "vision_width": vision_width, "vision_patch_size": patch,
                  "image_resolution": patch * grid}
    else:
        counts = tuple(_count_blocks(state_dict, f"visual.layer{b}") for b in (1, 2, 3, 4))
        rows = get("visual.attnpool.positional_embedding").shape[0]
        side = round((rows - 1) ** 0.5)
        if side * side + 1 != rows:
            raise ValueError(f"visual.attnpool.positional_embedding has {rows} rows, expected side^2 + 1")
        vision = {"vision_layers": counts, "vision_width": get("visual.layer1.0.conv1.weight").shape[0],
                  "vision_patch_size": None, "image_resolution": side * 32}
    width = get("ln_final.weight").shape[0]
    return {
        "embed_dim": get("text_projection").shape[1],
        **vision,
        "context_length": get("positional_embedding").shape[0],
        "vocab_size": get("token_embedding.weight").shape[0],
        "transformer_width": width,
        "transformer_heads": width // 64,
        "transformer_layers": _count_blocks(state_dict, "transformer.resblocks"),
    }


def draw_init_like(model: CLIP) -> None:
    """Consume the global torch RNG exactly as constructing another CLIP of ``model``'s size would.

    Upstream trainers build extra CLIP copies (e.g. PromptSRC's frozen zero-shot towers) where this
    project reuses the one it has; drawing their initialisation keeps the later random streams equal.
    """
    CLIP(**infer_config(model.state_dict()))


def build_model(state_dict: dict, precision: str = "fp32", init_draws: bool = False, build_hook=None) -> CLIP:
    """Build a CLIP of the size the state dict implies and load it (strict), in eval mode on CPU.

    ``precision``: "fp32" (or "amp"), "fp16" (OpenAI's mixed layout) or "bf16" (same layout in bfloat16).
    The integer entries of TorchScript archives (input_resolution, ...) are ignored.
    ``init_draws``: construct the modules on the CPU with OpenAI's random initialisation, consuming the
    global torch RNG exactly as OpenAI's ``build_model`` does (the modules are created in the same order
    with the same init calls), before the weights overwrite every value. The default builds on the meta
    device and leaves the RNG untouched. ``build_hook`` (see ``CLIP``) is only called with ``init_draws``.
    """
    dtype = precision_dtype(precision)
    state_dict = {k: v for k, v in state_dict.items() if k not in NON_TENSOR_KEYS}
    if init_draws:
        model = CLIP(**infer_config(state_dict), build_hook=build_hook)
    else:
        with torch.device("meta"):
            model = CLIP(**infer_config(state_dict))
        model = model.to_empty(device="cpu")
    if dtype != torch.float32:
        convert_weights(model, dtype)
    for name, buffer in model.named_buffers():
        if name.endswith("num_batches_tracked"):  # BatchNorm step counters, optional in state dicts
            buffer.zero_()
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f"state dict does not match the CLIP layout it implies: "
                       f"missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return model.eval()
