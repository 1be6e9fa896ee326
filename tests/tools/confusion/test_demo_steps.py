"""Demo glue: the PromptSRC run is PromptKD's teacher (TEACHER_CKPT); CAPT stages use the demo's folders."""

from pathlib import Path

from yacs.config import CfgNode

from trainers.common.teacher import resolve_teacher_checkpoint


def test_promptkd_reads_the_last_epoch_of_the_teacher_stage(tmp_path):
    from tools import demo

    teacher = next(s for s in demo.STAGES if s.name == "promptsrc_teacher")
    run = teacher.output_dir(tmp_path) / "VLPromptLearner"
    run.mkdir(parents=True)
    for epoch in (2, 10, 4):
        (run / f"model.pth.tar-{epoch}").write_bytes(f"epoch {epoch}".encode())
    for name in ("promptkd/base", "capt/base"):
        stage = next(s for s in demo.STAGES if s.name == name)
        argv = stage.argv("DATA", tmp_path, 1)
        given = argv[argv.index("TRAINER.PROMPTKD.TEACHER_CKPT") + 1]
        assert given == str(teacher.output_dir(tmp_path))
        node = CfgNode({"TEACHER_CKPT": given, "TEACHER_ROOT": "unused"})
        path = resolve_teacher_checkpoint(node, "FashionMNIST", "base2novel")
        assert Path(path).read_bytes() == b"epoch 10"


def test_capt_stages_are_wired_to_stage1():
    from tools import demo

    names = [s.name for s in demo.STAGES]
    assert names.index("promptsrc_teacher") < names.index("promptkd/base") < names.index("capt/base")
    capt = next(s for s in demo.STAGES if s.name == "capt/base")
    argv = capt.argv("DATA", Path("out"), 2)
    assert argv[argv.index("SPLE.BACK_CKPT_PATH") + 1] == "out/promptkd/base"
    assert argv[argv.index("TRAINER.PROMPTKD.TEACHER_CKPT") + 1] == "out/promptsrc_teacher"
    new = next(s for s in demo.STAGES if s.name == "capt/new")
    assert "--eval-only" in new.argv("DATA", Path("out"), 1)
