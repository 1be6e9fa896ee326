"""Demo glue: the PromptSRC run becomes PromptKD's teacher; CAPT stages point at the demo's folders."""

from pathlib import Path

from tools.confusion.demo_steps import place_teacher


def test_place_teacher_copies_the_last_epoch(tmp_path):
    run = tmp_path / "promptsrc_teacher" / "VLPromptLearner"
    run.mkdir(parents=True)
    for epoch in (2, 10, 4):
        (run / f"model.pth.tar-{epoch}").write_bytes(f"epoch {epoch}".encode())
    dest = place_teacher(run.parent, tmp_path / "teacher_model", "FashionMNIST")
    assert dest == tmp_path / "teacher_model/FashionMNIST/VLPromptLearner/model-best.pth.tar"
    assert dest.read_bytes() == b"epoch 10"


def test_capt_stages_are_wired_to_stage1():
    from tools import demo

    names = [s.name for s in demo.STAGES]
    assert names.index("promptsrc_teacher") < names.index("promptkd/base") < names.index("capt/base")
    capt = next(s for s in demo.STAGES if s.name == "capt/base")
    argv = capt.argv("DATA", Path("out"), 2)
    assert argv[argv.index("SPLE.BACK_CKPT_PATH") + 1] == "out/promptkd/base"
    assert argv[argv.index("TRAINER.PROMPTKD.TEACHER_ROOT") + 1] == "out/teacher_model"
    new = next(s for s in demo.STAGES if s.name == "capt/new")
    assert "--eval-only" in new.argv("DATA", Path("out"), 1)
