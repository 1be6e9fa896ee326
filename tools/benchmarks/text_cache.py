"""Evaluation speed of a CoOp-style model: class-text features encoded once per evaluation vs per batch.

The prompted text features (``trainers.common.coop_prompt``) depend only on the learned context, which
is fixed during an evaluation, so ``EvalCacheMixin`` encodes them once; the baseline (the CoOp-family
code) re-encodes all class prompts for every test batch. Both variants share one random tiny CLIP and one
context, and must give the same logits. Run from the repository root::

    python -m tools.benchmarks.text_cache --classes 100 --batches 20 --batch-size 32
"""


import torch
from torch import nn

from clip import build_model
from clip.testing import make_random_state_dict
from tools.benchmarks.timing import base_parser, best_times, random_batches
from trainers.common.base import EvalCacheMixin
from trainers.common.coop_prompt import CoOpPromptLearner, cosine_logits


class CoOpStyleModel(EvalCacheMixin, nn.Module):
    """CoOp: the shared learnable context of ``CoOpPromptLearner`` before each class name, frozen CLIP."""

    def __init__(self, clip_model, classnames, n_ctx: int = 16, cache_text: bool = True):
        super().__init__()
        self.prompt_learner = CoOpPromptLearner(classnames, clip_model, n_ctx=n_ctx, verbose=False)
        self.clip = clip_model
        self.cache_text = cache_text

    def encode_text(self) -> torch.Tensor:
        return self.prompt_learner.encode(self.clip, self.prompt_learner())

    def text_features(self) -> torch.Tensor:
        return self.cached("text", self.encode_text) if self.cache_text else self.encode_text()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        image = self.clip.encode_image(images)
        return cosine_logits(image.float(), self.text_features().float(), self.clip.logit_scale)


def evaluate(model: CoOpStyleModel, batches: torch.Tensor, cache_text: bool) -> torch.Tensor:
    """One evaluation pass like ``SimpleTrainer.test``: eval mode, no gradients, every batch."""
    model.cache_text = cache_text
    model.eval()
    with torch.no_grad():
        return torch.cat([model(images) for images in batches])


def build_parser():
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n-ctx", type=int, default=16)
    p.add_argument("--width", type=int, default=64, help="width of both towers of the random CLIP")
    p.add_argument("--layers", type=int, default=2, help="layers of both towers of the random CLIP")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    device = torch.device(args.device)
    sizes = dict(embed_dim=args.width, vision_width=args.width, text_width=args.width,
                 vision_layers=args.layers, text_layers=args.layers)
    clip_model = build_model(make_random_state_dict("vit", seed=args.seed, **sizes)).to(device)
    torch.manual_seed(args.seed)
    model = CoOpStyleModel(clip_model, [f"class {i}" for i in range(args.classes)], args.n_ctx).to(device)
    res = clip_model.visual.input_resolution
    batches = random_batches(args, res, device)

    cached, per_batch = evaluate(model, batches, True), evaluate(model, batches, False)
    if not torch.allclose(cached, per_batch, rtol=1e-4, atol=1e-4):
        raise RuntimeError("cached and per-batch text features give different logits")
    times = best_times({"per_batch": lambda: evaluate(model, batches, False),
                        "cached": lambda: evaluate(model, batches, True)}, args.repeats, device)
    print(f"CoOp-style evaluation: {args.classes} classes, {args.batches} batches of {args.batch_size}, "
          f"n_ctx {args.n_ctx}, random CLIP width {args.width} x {args.layers} layers, {res}px, "
          f"device {device}, {torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"text re-encoded per batch : {times['per_batch'] * 1000:9.1f} ms")
    print(f"text encoded once per eval: {times['cached'] * 1000:9.1f} ms")
    print(f"RATIO (speed-up of caching): {times['per_batch'] / times['cached']:.2f}x")
    return times


if __name__ == "__main__":
    main()
