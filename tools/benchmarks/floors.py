"""The floor of each method: the CLIP passes that one training step or one evaluation batch cannot avoid.

A floor is built from the trainer's own modules (same weights, same prompts, same precision), so it costs
what the method's unavoidable network passes cost and nothing else: no loss, no optimiser step, no data
transfer, no bookkeeping. Frozen passes run without gradients; a pass whose output receives gradients runs
forward and backward (``sum().backward()`` into the same trainable tensors the step optimises, or into a
leaf input where only the input carries the gradient). What each method's floor holds:

=========  ====================================================  =============================================
method     training step                                         evaluation batch
=========  ====================================================  =============================================
CoOp       image tower (no grad); text tower over the C class    image tower (class text encoded once per
           prompts, forward + backward                           evaluation)
CoCoOp     image tower (no grad); text tower over the B x C      image tower; text tower over B x C prompts
           image-conditioned prompts, forward + backward         (no grad)
PromptSRC  prompted image tower and prompted text tower,         prompted image tower
           forward + backward; unprompted image tower (no grad)
PromptKD   teacher image tower (no grad); the student (prompted  the student (prompted image tower + feature
           image tower + feature projector), forward + backward  projector)
UCPCoOp    as CoOp                                               as CoOp
CAPT       frozen stage-1 pass (no grad); adapted pass over the  stage-1 pass and adapted pass (no grad)
           batch and over its retrieved representatives,
           forward + backward
=========  ====================================================  =============================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _backward(*outputs: torch.Tensor) -> None:
    sum(out.float().sum() for out in outputs).backward()


def _clear_grads(module: torch.nn.Module) -> None:
    for p in module.parameters():
        p.grad = None


# ------------------------------------------------------------------------------------------ CoOp family
def _image_then_text_step(trainer, image: torch.Tensor, prompts: torch.Tensor,
                          eot: torch.Tensor) -> Callable[[], None]:
    """Frozen image pass without gradients, then the text pass over ``prompts`` forward and backward."""
    clip = trainer.model.clip
    prompts = prompts.detach().requires_grad_(True)

    def floor():
        with trainer.autocast():
            with torch.no_grad():
                clip.encode_image(image)
            text = clip.encode_text_embeddings(prompts, eot)
        _backward(text)
        prompts.grad = None

    return floor


def coop_step(trainer, image: torch.Tensor) -> Callable[[], None]:
    learner = trainer.model.prompt_learner
    return _image_then_text_step(trainer, image, learner(), learner.eot_indices)


def coop_eval(trainer, image: torch.Tensor) -> Callable[[], None]:
    clip = trainer.model.clip
    return lambda: clip.encode_image(image)


def _cocoop_prompts(trainer, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The B x C image-conditioned prompts of ``image`` flattened to [B * C, L, W], and their EOT indices."""
    net = trainer.model
    with torch.no_grad():
        feats = net.clip.encode_image(image)
        prompts = net.prompt_learner.image_prompts(feats / feats.norm(dim=-1, keepdim=True))
    eot = net.prompt_learner.eot_indices.repeat(prompts.shape[0])
    return prompts.flatten(0, 1), eot


def cocoop_step(trainer, image: torch.Tensor) -> Callable[[], None]:
    return _image_then_text_step(trainer, image, *_cocoop_prompts(trainer, image))


def cocoop_eval(trainer, image: torch.Tensor) -> Callable[[], None]:
    clip = trainer.model.clip
    prompts, eot = _cocoop_prompts(trainer, image)

    def floor():
        clip.encode_image(image)
        clip.encode_text_embeddings(prompts, eot)

    return floor


# ------------------------------------------------------------------------------------- IVLP / PromptKD
def promptsrc_step(trainer, image: torch.Tensor) -> Callable[[], None]:
    model = trainer.model

    def floor():
        with trainer.autocast():
            with torch.no_grad():
                model.encode_image(image, prompted=False)
            out = (model.encode_image(image), model.encode_text())
        _backward(*out)
        _clear_grads(model)

    return floor


def promptsrc_eval(trainer, image: torch.Tensor) -> Callable[[], None]:
    return lambda: trainer.model.encode_image(image)


def promptkd_step(trainer, image: torch.Tensor) -> Callable[[], None]:
    student, teacher = trainer.model, trainer.teacher.model

    def floor():
        with trainer.autocast():
            with torch.no_grad():
                teacher.encode_image(image)
            out = student(image)
        _backward(out)
        _clear_grads(student)

    return floor


def promptkd_eval(trainer, image: torch.Tensor) -> Callable[[], None]:
    return lambda: trainer.model(image)


# ----------------------------------------------------------------------------------------------- CAPT
def _capt_alpha(net) -> float:
    return float(net.settings.alpha)


def capt_representatives(trainer, batch) -> int:
    """How many representatives one training step of ``batch`` retrieves (they all go through the adapted
    encoder)."""
    image, _, exclude = trainer.parse_batch_train(batch)
    net = trainer.model
    with torch.no_grad(), trainer.autocast():
        out = net(image, "base", use_bank=True, exclude=exclude, train_views=True)
    return 0 if out.rep_index is None else int((out.rep_index >= 0).sum())


def capt_step(trainer, image: torch.Tensor, n_reps: int) -> Callable[[], None]:
    net = trainer.model
    reps = torch.randn(n_reps, *image.shape[1:], device=image.device, dtype=image.dtype)

    def floor():
        with trainer.autocast():
            with torch.no_grad():
                net.student(image)
            outs = [net.adapted_features(image, _capt_alpha(net))]
            if n_reps:
                outs.append(net.adapted_features(reps, _capt_alpha(net)))
        _backward(*outs)
        _clear_grads(net)

    return floor


def capt_eval(trainer, image: torch.Tensor) -> Callable[[], None]:
    net = trainer.model

    def floor():
        net.student(image)
        net.adapted_features(image, _capt_alpha(net))

    return floor


# method name -> (training-step floor, evaluation floor); each builder takes (trainer, images) and returns
# the floor as a callable (the evaluation floor is called under ``torch.no_grad`` and the run's autocast).
FLOORS = {
    "CoOp": (coop_step, coop_eval),
    "CoCoOp": (cocoop_step, cocoop_eval),
    "PromptSRC": (promptsrc_step, promptsrc_eval),
    "PromptKD": (promptkd_step, promptkd_eval),
    "UCPCoOp": (coop_step, coop_eval),
    "CAPT": (capt_step, capt_eval),
}
