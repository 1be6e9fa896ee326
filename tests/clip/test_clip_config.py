"""The clip package registers MODEL.CLIP_WEIGHTS_DIR with the config engine."""

import clip  # noqa: F401  (registers the hook)
from clip.config import weights_dir
from dassl.config import extend_cfg, get_cfg_default, registered_cfg_hooks


def test_weights_dir_key_is_registered():
    assert "clip.config.add_clip_cfg" in registered_cfg_hooks()
    cfg = extend_cfg(get_cfg_default())
    assert cfg.MODEL.CLIP_WEIGHTS_DIR == ""
    assert weights_dir(cfg) is None
    cfg.MODEL.CLIP_WEIGHTS_DIR = "weights"
    assert weights_dir(cfg) == "weights"
