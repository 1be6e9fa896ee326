"""Weight lookup order, file formats, error messages and the preprocessing transform."""

import os

import pytest
import torch
from PIL import Image

import clip
from clip import loader
from clip.preprocess import OPENAI_MEAN, OPENAI_STD
from clip.testing import save_state_dict, save_torchscript_archive

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(loader.ENV_VAR, raising=False)
    return home


def test_file_names():
    assert loader.weights_filename("ViT-B/16") == "ViT-B-16.pt"
    assert loader.weights_filename("ViT-L/14@336px") == "ViT-L-14-336px.pt"
    assert loader.weights_filename("RN50") == "RN50.pt"
    assert loader.weights_filename("ViT-B-32.pt") == "ViT-B-32.pt"


def test_available_models_have_urls():
    assert clip.available_models() == ["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32",
                                       "ViT-B/16", "ViT-L/14", "ViT-L/14@336px"]
    for name, url in loader.MODEL_URLS.items():
        assert url.startswith("https://openaipublic.azureedge.net/clip/models/")
        assert url.endswith("/" + loader.weights_filename(name))


def test_search_order(tmp_path, fake_home, monkeypatch):
    env_dir = tmp_path / "env"
    monkeypatch.setenv(loader.ENV_VAR, str(env_dir))
    package_dir = os.path.dirname(os.path.abspath(loader.__file__))
    assert loader.search_dirs(str(tmp_path / "explicit")) == [
        str(tmp_path / "explicit"), str(env_dir), package_dir, str(fake_home / ".cache" / "clip")]
    assert loader.search_dirs("") == loader.search_dirs(None)


def test_lookup_prefers_explicit_then_env_then_cache(tmp_path, fake_home, monkeypatch, vit_state_dict):
    explicit, env_dir, cache = tmp_path / "explicit", tmp_path / "env", fake_home / ".cache" / "clip"
    for folder in (explicit, env_dir, cache):
        folder.mkdir(parents=True)
    name = "ToyNet-Test/1"  # not shipped in the package folder
    save_state_dict(vit_state_dict, str(cache / "ToyNet-Test-1.pt"))
    assert loader.resolve_weights(name) == str(cache / "ToyNet-Test-1.pt")
    monkeypatch.setenv(loader.ENV_VAR, str(env_dir))
    save_state_dict(vit_state_dict, str(env_dir / "ToyNet-Test-1.pt"))
    assert loader.resolve_weights(name) == str(env_dir / "ToyNet-Test-1.pt")
    save_state_dict(vit_state_dict, str(explicit / "ToyNet-Test-1.pt"))
    assert loader.resolve_weights(name, str(explicit)) == str(explicit / "ToyNet-Test-1.pt")
    model, _ = clip.load(name, weights_dir=str(explicit))
    assert isinstance(model, clip.CLIP) and not model.training


def test_missing_file_lists_paths_and_url(tmp_path, fake_home):
    with pytest.raises(FileNotFoundError) as info:
        clip.load("ViT-L/14", weights_dir=str(tmp_path / "nowhere"))
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "ViT-L-14.pt") in message
    assert str(fake_home / ".cache" / "clip" / "ViT-L-14.pt") in message
    assert loader.MODEL_URLS["ViT-L/14"] in message


def test_unknown_name_lists_known_models(fake_home):
    with pytest.raises(FileNotFoundError, match="ViT-B/16"):
        clip.load("NoSuchNet")


def test_existing_path_is_used_directly(tmp_path, vit_state_dict):
    path = tmp_path / "some name.bin"
    save_torchscript_archive(vit_state_dict, str(path))
    model, preprocess = clip.load(str(path), precision="fp16")
    assert model.dtype == torch.float16
    assert preprocess.transforms[1].size == (32, 32)


def test_wrapped_and_prefixed_state_dicts_load(tmp_path, vit_state_dict, vit_model):
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in vit_state_dict.items()}, "epoch": 3}, str(path))
    state = clip.load_state_dict(str(path))
    assert "input_resolution" not in state and "module.ln_final.weight" not in state
    model, _ = clip.load(str(path))
    for key, value in vit_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        clip.load(str(path))
    listed = tmp_path / "list.pt"
    torch.save([1, 2, 3], str(listed))
    with pytest.raises(ValueError, match="list.pt"):
        clip.load(str(listed))


def test_preprocess_matches_clip_normalisation():
    transform = clip.build_preprocess(32)
    image = Image.new("L", (64, 48), color=128)  # grayscale, not square: resized, cropped, made RGB
    out = transform(image)
    assert out.shape == (3, 32, 32)
    for channel, (mean, std) in enumerate(zip(OPENAI_MEAN, OPENAI_STD)):
        assert torch.allclose(out[channel], torch.full((32, 32), (128 / 255 - mean) / std), atol=1e-5)
    assert transform.transforms[0].interpolation.value == "bicubic"
