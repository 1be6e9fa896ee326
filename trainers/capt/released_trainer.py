"""``CAPTReleased``: the stage-2 trainer of the released-code replica (:mod:`trainers.capt.released`).

Run with ``--trainer CAPTReleased``, or ``--trainer CAPT`` (or ``StackSPLE_PromptKD``) with ``CAPT.MODE
released``. It shares the stage-1 load, checkpoints and evaluation of :class:`~.stage2.CaptStage2` with the
paper's trainer; what differs is the model (prompts, projector and teacher context trained), its loss and
its inference.
"""

from __future__ import annotations

from dassl.engine import TRAINER_REGISTRY

from .released import ReleasedMode, ReleasedModel, check_released_cfg
from .stage2 import CaptStage2


@TRAINER_REGISTRY.register()
class CAPTReleased(CaptStage2):
    """The authors' released stage 2 as an ablation: hard negatives from the teacher, one contrastive loss."""

    mode = "released"
    needs_guidance = False
    needs_base_teacher = True  # hard-negative ranking and the frozen backbone's base-class text

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.CAPT.MODE != "released":
            raise ValueError(f"trainer CAPTReleased builds CAPT.MODE released, but the config says "
                             f"CAPT.MODE {cfg.CAPT.MODE!r}; set CAPT.MODE released (or use --trainer CAPT)")
        check_released_cfg(cfg)

    def build_from(self, stage1):
        from datasets.pool import load_or_build_pool

        cfg, run = self.cfg, stage1.run
        model = ReleasedModel(run, stage1.teacher, float(cfg.SPLE.STACK.WEIGHT),
                              float(cfg.SPLE.STACK.WEIGHT_FOR_NEW)).to(self.device)
        pool = load_or_build_pool(cfg.SPLE.PIC_LIB, cfg)
        self.released = ReleasedMode(model, pool, self.dm.dataset.split_prefix, run.num_base,
                                     int(cfg.SPLE.INFER_TOPK), int(cfg.SEED), self.tf_test)
        student = model.student
        return model, {"vision_prompts": student.vision_prompts, "VPT_image_trans": student.VPT_image_trans,
                       "text_prompts": model.text_prompts, "ctx": model.ctx}

    def compute_loss(self, image, label):
        losses, base_logits = self.released.compute_loss(image, label)
        return losses, {"acc": self.accuracy(base_logits, label)}

    def inference(self, image, split: str, backbone: bool):
        backbone = self.released.backbone_logits(image) if backbone else None
        return self.released.inference(image, split), backbone
