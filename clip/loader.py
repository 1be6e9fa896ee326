"""Find and load CLIP weights without touching the network, and build the matching preprocessing
(with the normalisation statistics stored with the weights, :mod:`clip.preprocess`).

Names such as "ViT-B/16" map to OpenAI's file names ("ViT-B-16.pt"), searched in an explicit folder, the
``CLIP_WEIGHTS_DIR`` environment variable, this package's folder and ``~/.cache/clip``. Both OpenAI's
TorchScript archives and plain state dicts load.
"""

import os
import warnings
from collections.abc import Callable

import torch

from clip.model import CLIP, NON_TENSOR_KEYS, build_model
from clip.preprocess import OPENAI, PixelStats, build_preprocess, record_path, stats_from_record

ENV_VAR = "CLIP_WEIGHTS_DIR"

_BASE = "https://openaipublic.azureedge.net/clip/models"
MODEL_URLS = {
    "RN50": f"{_BASE}/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "RN101": f"{_BASE}/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
    "RN50x4": f"{_BASE}/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
    "RN50x16": f"{_BASE}/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
    "RN50x64": f"{_BASE}/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
    "ViT-B/32": f"{_BASE}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": f"{_BASE}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": f"{_BASE}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    "ViT-L/14@336px": f"{_BASE}/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/"
                      "ViT-L-14-336px.pt",
}


def available_models() -> list[str]:
    """Names of the released OpenAI models (their files still have to be present locally)."""
    return list(MODEL_URLS)


def weights_filename(name: str) -> str:
    """"ViT-B/16" -> "ViT-B-16.pt", "ViT-L/14@336px" -> "ViT-L-14-336px.pt"; a "*.pt" name is kept."""
    if name.endswith(".pt"):
        return os.path.basename(name)
    return name.replace("/", "-").replace("@", "-") + ".pt"


def search_dirs(weights_dir: str | None = None) -> list[str]:
    """Folders searched for weight files, in order (empty settings are skipped)."""
    dirs = [weights_dir, os.environ.get(ENV_VAR), os.path.dirname(os.path.abspath(__file__)),
            os.path.join(os.path.expanduser("~"), ".cache", "clip")]
    return [os.path.expanduser(d) for d in dirs if d]


def resolve_weights(name_or_path: str, weights_dir: str | None = None) -> str:
    """Path of the weights for a model name or file path; FileNotFoundError listing every place tried."""
    if os.path.isfile(name_or_path):
        return name_or_path
    filename = weights_filename(name_or_path)
    tried = [os.path.join(d, filename) for d in search_dirs(weights_dir)]
    for path in tried:
        if os.path.isfile(path):
            return path
    lines = [f"CLIP weights for {name_or_path!r} not found. Looked for:"] + [f"  {p}" for p in tried]
    url = {weights_filename(k): u for k, u in MODEL_URLS.items()}.get(filename)
    if url:
        lines.append(f"Download {url} and put it in one of these folders "
                     f"(or set {ENV_VAR} / MODEL.CLIP_WEIGHTS_DIR).")
    else:
        lines.append(f"Known model names: {', '.join(available_models())}; or pass a weights file path.")
    raise FileNotFoundError("\n".join(lines))


def _unwrap(obj, path: str) -> dict:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"{path}: expected a TorchScript archive or a state dict, got {type(obj).__name__}")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_state_dict(path: str) -> dict:
    """Tensor state dict of a weights file (TorchScript archive or ``torch.save``d dict), on CPU,
    without the integer entries of the archives."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            state_dict = torch.jit.load(path, map_location="cpu").state_dict()
    except RuntimeError:
        try:
            state_dict = _unwrap(torch.load(path, map_location="cpu", weights_only=True), path)
        except Exception as err:
            raise ValueError(f"{path}: not a loadable CLIP weights file ({err})") from err
    return {k: v for k, v in state_dict.items() if k not in NON_TENSOR_KEYS}


def pixel_stats(name_or_path: str, weights_dir: str | None = None) -> PixelStats:
    """The normalisation statistics of these weights: OpenAI's for a released model name (no file needed),
    else those in the record beside the resolved file, else OpenAI's (see :mod:`clip.preprocess`)."""
    if name_or_path in MODEL_URLS:
        return OPENAI
    return stats_from_record(record_path(resolve_weights(name_or_path, weights_dir))) or OPENAI


def load_model(name_or_path: str, device="cpu", precision: str = "fp32", weights_dir: str | None = None,
               init_draws: bool = False, build_hook=None) -> CLIP:
    """The model in eval mode on ``device`` for a model name or weights file. ``init_draws``, ``build_hook``:
    consume the global torch RNG as OpenAI's loader does (see ``build_model``)."""
    path = resolve_weights(name_or_path, weights_dir)
    return build_model(load_state_dict(path), precision=precision, init_draws=init_draws,
                       build_hook=build_hook).to(device)


def load(name_or_path: str, device="cpu", precision: str = "fp32",
         weights_dir: str | None = None, init_draws: bool = False, build_hook=None) -> tuple[CLIP, Callable]:
    """(:func:`load_model`, preprocess with the weights' mean/std), as OpenAI's ``clip.load``."""
    model = load_model(name_or_path, device, precision, weights_dir, init_draws, build_hook)
    return model, build_preprocess(model.visual.input_resolution, pixel_stats(name_or_path, weights_dir))
