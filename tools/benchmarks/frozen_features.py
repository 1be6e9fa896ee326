"""Cost of the PromptKD teacher per training batch: text features re-encoded per batch vs encoded once.

The teacher (an IVLP-design prompted CLIP) is frozen, so its class text features never change during
distillation. ``trainers.common.teacher.FrozenTeacher`` encodes them once; the baseline (the upstream
PromptKD teacher forward) encodes image and class text features for every batch. Both variants use one
random teacher-size tiny CLIP and must give the same logits. Run from the repository root::

    python -m tools.benchmarks.frozen_features --classes 100 --batches 20 --batch-size 32
"""


import torch

from clip import build_model, l2_normalize
from clip.testing import make_random_state_dict
from tools.benchmarks.timing import base_parser, best_times, random_batches
from trainers.common.teacher import FrozenTeacher
from trainers.common.vl_prompt import IVLPDesign, VLPromptModel


@torch.no_grad()
def per_batch_teacher(model: VLPromptModel, images: torch.Tensor) -> torch.Tensor:
    """The baseline: teacher logits with the class text features encoded again for this batch."""
    image = l2_normalize(model.encode_image(images).float())
    text = l2_normalize(model.encode_text().float())
    return model.logit_scale.exp().float() * image @ text.t()


def build_parser():
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--vision-width", type=int, default=128, help="teacher image tower width")
    p.add_argument("--vision-layers", type=int, default=6)
    p.add_argument("--text-width", type=int, default=64)
    p.add_argument("--text-layers", type=int, default=2)
    p.add_argument("--depth", type=int, default=2, help="prompt depth of both branches")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    device = torch.device(args.device)
    sizes = dict(embed_dim=96, image_resolution=32, patch_size=4, vision_width=args.vision_width,
                 vision_layers=args.vision_layers, text_width=args.text_width, text_layers=args.text_layers)
    clip_model = build_model(make_random_state_dict("vit", seed=args.seed, **sizes)).to(device)
    torch.manual_seed(args.seed)
    design = IVLPDesign(n_ctx_vision=4, n_ctx_text=4, depth_vision=args.depth, depth_text=args.depth)
    classnames = [f"class {i}" for i in range(args.classes)]
    model = VLPromptModel(clip_model, classnames, design).to(device).requires_grad_(False).eval()
    teacher = FrozenTeacher(model)
    batches = random_batches(args, clip_model.visual.input_resolution, device)

    cached = torch.cat([teacher(images) for images in batches])
    per_batch = torch.cat([per_batch_teacher(model, images) for images in batches])
    if not torch.allclose(cached, per_batch, rtol=1e-4, atol=1e-3):
        raise RuntimeError("cached and per-batch teacher text features give different logits")
    times = best_times(
        {"per_batch": lambda: [per_batch_teacher(model, images) for images in batches],
         "cached": lambda: [teacher(images) for images in batches]},
        args.repeats, device,
    )
    print(f"PromptKD-style teacher over {args.batches} batches of {args.batch_size}: {args.classes} classes, "
          f"random CLIP vision {args.vision_width} x {args.vision_layers}, text {args.text_width} x "
          f"{args.text_layers}, prompt depth {args.depth}, device {device}, {torch.get_num_threads()} "
          f"threads, best of {args.repeats}")
    print(f"teacher text re-encoded per batch: {times['per_batch'] * 1000:9.1f} ms")
    print(f"teacher text features cached     : {times['cached'] * 1000:9.1f} ms")
    print(f"RATIO (speed-up of caching): {times['per_batch'] / times['cached']:.2f}x")
    return times


if __name__ == "__main__":
    main()
