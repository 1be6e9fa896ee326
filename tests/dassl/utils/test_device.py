"""Device choice: CUDA when asked for and usable, the CPU when chosen or absent, an error when unusable."""

import pytest
import torch

from dassl.utils import device as dev


def test_use_cuda_false_chooses_the_cpu_even_with_a_gpu():
    assert dev.select_device(False, cuda_available=True, visible=True) == torch.device("cpu")


def test_no_gpu_visible_falls_back_to_the_cpu():
    assert dev.select_device(True, cuda_available=False, visible=False) == torch.device("cpu")


def test_usable_cuda_is_chosen_with_the_rank_index():
    assert dev.select_device(True, index=1, cuda_available=True) == torch.device("cuda", 1)
    assert dev.select_device(True, cuda_available=True) == torch.device("cuda")


def test_visible_gpu_with_unusable_cuda_is_an_error_naming_versions_and_fix(monkeypatch):
    monkeypatch.setattr(dev, "driver_version", lambda: "470.82.01")
    with pytest.raises(dev.CudaUnusableError) as err:
        dev.select_device(True, cuda_available=False, visible=True)
    message = str(err.value)
    assert "driver 470.82.01" in message and torch.__version__ in message
    assert "TORCH_CUDA=" in message and "USE_CUDA False" in message


def test_driver_version_is_read_from_the_driver_file(tmp_path):
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 UTC 2023\n"
                       "GCC version:  gcc version 12.2.0\n")
    assert dev.driver_version(str(version)) == "535.104.05"
    assert dev.driver_version(str(tmp_path / "absent")) is None


def test_gpu_visibility_follows_device_nodes_and_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(dev.shutil, "which", lambda name: None)
    absent = str(tmp_path / "none")
    assert not dev.gpu_visible(str(tmp_path / "nvidia[0-9]*"), absent)
    (tmp_path / "nvidia0").write_text("")
    assert dev.gpu_visible(str(tmp_path / "nvidia[0-9]*"), absent)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not dev.gpu_visible(str(tmp_path / "nvidia[0-9]*"), absent)


def test_cpu_description_and_log_line():
    info = dev.describe_device(torch.device("cpu"), use_cuda=False)
    assert info["type"] == "cpu" and info["reason"] == "USE_CUDA False" and info["threads"] >= 1
    assert dev.device_line(info) == f"Device: CPU ({info['threads']} threads, torch {torch.__version__}; " \
                                    "USE_CUDA False)"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_description_names_the_gpu():
    info = dev.describe_device(torch.device("cuda", 0))
    assert info["name"] == torch.cuda.get_device_name(0) and info["memory_gib"] > 0
    assert dev.device_line(info).startswith(f"Device: cuda:0 ({info['name']}, ")
