"""Every file the project writes goes through dassl.atomic_io: whole files only, with the umask's mode."""

import os
import stat

import pytest
import torch

from dassl import atomic_io
from dassl.atomic_io import atomic_path, copy_file_atomic, write_json_atomic, write_text_atomic

UMASKS = {0o022: 0o644, 0o002: 0o664}


@pytest.fixture(params=sorted(UMASKS), ids=lambda m: f"umask{m:03o}")
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(folder):
    return [p for p in os.listdir(folder) if p.endswith(atomic_io.TEMP_SUFFIX)]


def test_helpers_give_the_umask_mode(tmp_path, umask):
    write_text_atomic("x", str(tmp_path / "a.txt"))
    write_json_atomic({"a": 1}, str(tmp_path / "sub" / "b.json"))
    copy_file_atomic(str(tmp_path / "a.txt"), str(tmp_path / "c.txt"))
    for path in ("a.txt", "sub/b.json", "c.txt"):
        assert mode(tmp_path / path) == UMASKS[umask], path
    assert (tmp_path / "sub" / "b.json").read_text() == '{\n    "a": 1\n}\n'


def test_the_umask_is_read_without_being_left_changed(umask):
    assert atomic_io.current_umask() == umask
    assert os.umask(umask) == umask


def test_umask_fallback_without_proc(monkeypatch, umask):
    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise OSError("no /proc here")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert atomic_io.current_umask() == umask
    assert os.umask(umask) == umask


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic({"old": True}, str(target))
    with pytest.raises(RuntimeError), atomic_path(str(target)) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n    "old": true\n}\n'
    assert leftovers(tmp_path) == []


def test_temp_names_match_what_a_restarted_run_cleans_up(tmp_path):
    from dassl.run_state import remove_stale_temp_files

    with atomic_path(str(tmp_path / "model.pth.tar-1")) as tmp:
        assert remove_stale_temp_files(str(tmp_path)) == [tmp]  # what a killed write leaves behind
        open(tmp, "w").close()


def test_atomic_open_refuses_append():
    with pytest.raises(ValueError, match="mode must start with 'w'"), atomic_io.atomic_open("x", "a"):
        pass


def test_checkpoints_results_and_run_records(tmp_path, umask):
    from dassl.engine.reporting import write_eval_outputs
    from dassl.run_state import mark_finished
    from dassl.utils import save_checkpoint

    state = {"state_dict": {"w": torch.zeros(2)}, "epoch": 3, "optimizer": None, "scheduler": None}
    save_checkpoint(state, str(tmp_path / "m"), is_best=True)
    write_eval_outputs(str(tmp_path), "test", {"accuracy": 1.0}, {}, [], ["a"], wrong=[])
    mark_finished(str(tmp_path), "train", {})
    for path in ("m/model.pth.tar-3", "m/model-best.pth.tar", "m/checkpoint", "results.json",
                 "wrong_predictions.json", "finished.json"):
        assert mode(tmp_path / path) == UMASKS[umask], path


def test_heatmap_png(tmp_path, umask):
    pytest.importorskip("matplotlib")
    from tools.confusion.heatmap import plot_confusion

    path = plot_confusion([[0, 2], [1, 0]], ["a", "b"], "t", str(tmp_path / "h.png"))
    assert mode(path) == UMASKS[umask]
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert leftovers(tmp_path) == []


def test_caches_and_banks(tmp_path, umask):
    from datasets.splits import load_or_create_fewshot
    from trainers.capt.bank import save_bank
    from trainers.ucp.tci import TCICache

    cache = tmp_path / "split_fewshot" / "shot_1-seed_1.pkl"
    load_or_create_fewshot(str(cache), [], [], 1, str(tmp_path))
    tci = TCICache(str(tmp_path / "tci")).save({"k": 1}, torch.zeros(2, 3))
    save_bank({"version": 1}, str(tmp_path / "confusion_bank.pt"))
    for path in (cache, tci, tmp_path / "confusion_bank.pt"):
        assert mode(path) == UMASKS[umask], path
