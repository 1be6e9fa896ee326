"""The clip package registers MODEL.CLIP_WEIGHTS_DIR and MODEL.CLIP_INIT_DRAWS with the config engine."""

import pytest

import clip  # noqa: F401  (registers the hook)
from clip.config import init_draws, weights_dir
from dassl.config import extend_cfg, get_cfg_default, registered_cfg_hooks


def test_weights_dir_key_is_registered():
    assert "clip.config.add_clip_cfg" in registered_cfg_hooks()
    cfg = extend_cfg(get_cfg_default())
    assert cfg.MODEL.CLIP_WEIGHTS_DIR == ""
    assert weights_dir(cfg) is None
    cfg.MODEL.CLIP_WEIGHTS_DIR = "weights"
    assert weights_dir(cfg) == "weights"


def test_init_draws_default_on_and_checked():
    cfg = extend_cfg(get_cfg_default())
    assert cfg.MODEL.CLIP_INIT_DRAWS is True and init_draws(cfg) is True
    cfg.MODEL.CLIP_INIT_DRAWS = False
    assert init_draws(cfg) is False
    cfg.MODEL.CLIP_INIT_DRAWS = "no"
    with pytest.raises(ValueError, match="MODEL.CLIP_INIT_DRAWS must be True or False, got 'no'"):
        init_draws(cfg)
