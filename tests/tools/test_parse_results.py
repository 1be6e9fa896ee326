"""tools.parse_results on synthetic run trees: our results.json runs and upstream-style log-only runs."""

import csv
import json

import pytest

from tools import parse_results as pr


def write_results(folder, accuracy, trainer, dataset, seed, subsample, split="test", history=()):
    folder.mkdir(parents=True, exist_ok=True)
    data = {"schema": 1, "split": split, "accuracy": accuracy, "trainer": trainer, "dataset": dataset,
            "seed": seed, "subsample_classes": subsample, "history": list(history)}
    (folder / "results.json").write_text(json.dumps(data))
    (folder / "log.txt").write_text("this log must not be read\n* accuracy: 1.00%\n")
    (folder / "finished.json").write_text(json.dumps({"schema": 1, "kind": "train", "weights": []}))


def write_log(folder, *accuracies, name="log.txt"):
    folder.mkdir(parents=True, exist_ok=True)
    body = ["Loading CLIP (backbone: ViT-B/16)", "Finish training"]
    body += [f"=> result\n* total: 100\n* accuracy: {a}%\n* error: {100 - a}%" for a in accuracies]
    (folder / name).write_text("\n".join(body) + "\n")


# CoOp (ours, results.json): dtd B 80/82 N 50/54, eurosat B 90/92 N 60/64.
OURS = {("dtd", "DescribableTextures"): ((80.0, 82.0), (50.0, 54.0)),
        ("eurosat", "EuroSAT"): ((90.0, 92.0), (60.0, 64.0))}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "output"
    for (stem, name), (base, new) in OURS.items():
        for seed in (1, 2):
            tail = f"{stem}/shots_16/CoOp/vit_b16_ctxv1/seed{seed}"
            write_results(root / "base2new/train_base" / tail, base[seed - 1], "CoOp", name, seed, "base")
            write_results(root / "base2new/test_new" / tail, new[seed - 1], "CoOp", name, seed, "new")
    # CaPT-runner layout, log files only: last accuracy wins; seed_<N> spelling; a rotated newer log
    capt = root / "capt"
    write_log(capt / "train_base/KgCoOp/dtd/shots16/vit_b16_ep10_ctx_batch4/seed1", 60.0, 70.0)
    write_log(capt / "test_new/KgCoOp/dtd/shots16/vit_b16_ep10_ctx_batch4/seed1", 40.0)
    write_log(capt / "train_base/KgCoOp/dtd/shots16/vit_b16_ep10_ctx_batch4/seed_2", 74.0)
    new2 = capt / "test_new/KgCoOp/dtd/shots16/vit_b16_ep10_ctx_batch4/seed_2"
    write_log(new2, 10.0)
    write_log(new2, 44.0, name="log.txt-2026-01-01-00-00-00")
    import os
    os.utime(new2 / "log.txt", (1_000_000, 1_000_000))
    # an unfinished run is reported, not counted
    unfinished = capt / "train_base/KgCoOp/dtd/shots16/vit_b16_ep10_ctx_batch4/seed3"
    unfinished.mkdir(parents=True)
    (unfinished / "log.txt").write_text("epoch [1/10]\n")
    # DAPT's prototype pass has no accuracy by design: neither counted nor reported
    prototype = capt / "prototype/DAPT/dtd/shots16/vit_b16/seed1"
    prototype.mkdir(parents=True)
    (prototype / "log.txt").write_text("Saved prototypes (47, 512) to x.pkl\n")
    (prototype / "results.json").write_text(json.dumps(
        {"schema": 1, "split": None, "evaluated": False, "trainer": "DAPT", "dataset": "DescribableTextures",
         "seed": 1, "outputs": {"prototypes": "x.pkl"}}))
    (prototype / "finished.json").write_text(json.dumps({"schema": 1, "kind": "train", "weights": []}))
    return root


def harmonic(b, n):
    return 2 * b * n / (b + n)


def test_runs_are_found_and_described(tree):
    runs, notes = pr.collect_runs(str(tree))
    assert len(runs) == 12 and len(notes) == 1 and "seed3" in notes[0]
    ours = [r for r in runs if r.method == "CoOp/vit_b16_ctxv1"]
    assert {(r.dataset, r.seed, r.split, r.accuracy) for r in ours} >= {
        ("dtd", 1, "base", 80.0), ("eurosat", 2, "new", 64.0)}
    assert all(r.source == "results.json" for r in ours)
    capt = {(r.seed, r.split): r.accuracy for r in runs if r.method == "KgCoOp/vit_b16_ep10_ctx_batch4"}
    assert capt == {(1, "base"): 70.0, (1, "new"): 40.0, (2, "base"): 74.0, (2, "new"): 44.0}


def test_statistics_and_paper_average(tree):
    table = pr.group(pr.collect_runs(str(tree))[0])
    dtd = pr.b2n_row(table["CoOp/vit_b16_ctxv1"]["dtd"])
    assert (dtd.base, dtd.new, dtd.base_std, dtd.new_std) == (81.0, 52.0, 1.0, 2.0)
    assert dtd.h == pytest.approx(2 * 81 * 52 / 133)
    assert dtd.h_std == pytest.approx(abs(harmonic(80, 50) - harmonic(82, 54)) / 2)
    text = pr.markdown(table)
    # average row: H of the averaged base (86) and new (57), and the mean of per-dataset H beside it
    mean_h = (harmonic(81, 52) + harmonic(91, 62)) / 2
    assert f"| CoOp/vit_b16_ctxv1 | 86.00 | 57.00 | {harmonic(86, 57):.2f} | {mean_h:.2f} | 2 |" in text
    assert "| CoOp/vit_b16_ctxv1 | 81.00 ± 1.00 | 52.00 ± 2.00 | 63.34 ± " in text
    assert "| KgCoOp/vit_b16_ep10_ctx_batch4 | 72.00 ± 2.00 | 42.00 ± 2.00 | 53.05 ± " in text
    assert text.index("### dtd") < text.index("### eurosat") < text.index("### Average")


def test_csv_has_the_capt_layout(tree, tmp_path):
    table = pr.group(pr.collect_runs(str(tree))[0])
    only_coop = {"CoOp/vit_b16_ctxv1": table["CoOp/vit_b16_ctxv1"]}
    [path] = pr.write_csvs(only_coop, str(tmp_path / "b2n.csv"))
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["dataset", "base_acc_seed1", "new_acc_seed1", "H_seed1", "base_acc_seed2",
                       "new_acc_seed2", "H_seed2", "base_acc", "new_acc", "H"]
    assert rows[1][0] == "dtd" and rows[2][0] == "eurosat" and rows[3][0] == "average"
    assert rows[1][1:3] == ["80.0", "50.0"] and rows[1][3] == str(round(harmonic(80, 50), 2))
    assert rows[1][7:] == ["81.0", "52.0", str(round(harmonic(81, 52), 2))]
    average = [float(x) for x in rows[3][1:]]
    assert average[0] == 85.0  # mean of the seed-1 base accuracies 80, 90
    assert average[2] == round((harmonic(80, 50) + harmonic(90, 60)) / 2, 2)  # per-seed H columns averaged
    assert average[-3:] == [86.0, 57.0, round(harmonic(86, 57), 2)]  # H recomputed from the averages
    # several methods -> one file per method
    paths = pr.write_csvs(table, str(tmp_path / "all.csv"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "all-CoOp-vit_b16_ctxv1.csv", "all-KgCoOp-vit_b16_ep10_ctx_batch4.csv"]


def test_results_json_of_a_val_split_falls_back_to_history(tmp_path):
    folder = tmp_path / "out/run/seed1"
    write_results(folder, 99.0, "PromptKD", "Caltech101", 1, "base", split="val",
                  history=[{"epoch": 20, "split": "test", "accuracy": 95.5}])
    [run], _ = pr.collect_runs(str(tmp_path / "out"))
    assert (run.accuracy, run.dataset, run.split, run.method) == (95.5, "caltech101", "base", "PromptKD")


def test_results_json_of_a_val_split_without_test_history_is_used_unrounded(tmp_path):
    # PromptKD / CAPT base runs evaluate with TEST.SPLIT val; their log prints 65.2%, results.json 65.16.
    folder = tmp_path / "out/run/seed1"
    write_results(folder, 65.16, "CAPT", "FashionMNISTEdges", 1, "base", split="val")
    (folder / "log.txt").write_text("* accuracy: 65.2%\n")
    [run], _ = pr.collect_runs(str(tmp_path / "out"))
    assert (run.accuracy, run.source) == (65.16, "results.json")


def test_resolved_column(tree):
    folder = tree / "base2new/test_new/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1"
    (folder / "confusion_compare.json").write_text(json.dumps({"resolved_rate": 30.0}))
    (folder.parent / "seed2" / "confusion_compare.json").write_text(json.dumps({"resolved_rate": 40.0}))
    table = pr.group(pr.collect_runs(str(tree), with_resolved=True)[0])
    text = pr.markdown(table, with_resolved=True)
    assert "Resolved |" in text
    dtd_line = next(line for line in text.splitlines() if line.startswith("| CoOp/vit_b16_ctxv1 | 81.00"))
    assert dtd_line.endswith("| 35.00 |")


def test_path_inference_for_both_layouts():
    known = {"dtd", "caltech101"}
    path = "base2new/test_new/dtd/shots_16/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1/seed3"
    coop = pr.infer_from_path(path, known)
    assert coop == {"seed": 3, "split": "new", "dataset": "dtd", "trainer": "CoCoOp",
                    "cfg": "vit_b16_c4_ep10_batch1_ctxv1"}
    capt = pr.infer_from_path("x/train_base/UCPCoOp/caltech101/shots16/vit_b16_ep10_ctx_batch4/seed_2", known)
    assert capt == {"seed": 2, "split": "base", "trainer": "UCPCoOp", "dataset": "caltech101",
                    "cfg": "vit_b16_ep10_ctx_batch4"}


def test_main_prints_tables_and_fails_on_empty_root(tree, tmp_path, capsys):
    assert pr.main([str(tree), "--csv", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "### Average over datasets" in out and "CSV written to" in out
    (tmp_path / "empty").mkdir()
    assert pr.main([str(tmp_path / "empty")]) == 1
    with pytest.raises(FileNotFoundError, match="not a directory"):
        pr.main([str(tmp_path / "missing")])


def test_eval_classes_decides_the_half_over_subsample_classes(tmp_path):
    # PromptKD-family runs: one config (SUBSAMPLE_CLASSES all), base = split val, new = split test.
    root = tmp_path / "out"
    for seed, (base, new) in ((1, (70.0, 60.0)), (2, (72.0, 62.0))):
        for half, acc in (("base", base), ("new", new)):
            folder = root / f"kd/{half}/seed{seed}"
            write_results(folder, acc, "PromptKD", "FashionMNIST", seed, "all")
            data = json.loads((folder / "results.json").read_text())
            data["eval_classes"] = half
            (folder / "results.json").write_text(json.dumps(data))
    runs, _ = pr.collect_runs(str(root))
    assert sorted((r.seed, r.split) for r in runs) == [(1, "base"), (1, "new"), (2, "base"), (2, "new")]
    row = pr.b2n_row(pr.group(runs)["PromptKD"]["fashion_mnist"])
    assert (row.base, row.new) == (pytest.approx(71.0), pytest.approx(61.0))


def test_train_time_column_reads_elapsed_from_the_logs(tree, capsys):
    base = tree / "base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1"
    with open(base / "seed1" / "log.txt", "a") as f:
        f.write("Finish training\nElapsed: 0:01:40\n* accuracy: 80.00%\n")
    with open(base / "seed2" / "log.txt", "a") as f:
        f.write("Elapsed: 0:00:05\nElapsed: 1 day, 0:00:20\n")  # the last one counts
    assert pr.train_seconds_from_log(str(base / "seed1")) == 100.0
    assert pr.train_seconds_from_log(str(base / "seed2")) == 86420.0
    eval_only = tree / "base2new/test_new/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1"
    assert pr.train_seconds_from_log(str(eval_only)) is None

    runs, _ = pr.collect_runs(str(tree), with_times=True)
    text = pr.markdown(pr.group(runs), with_times=True)
    assert "| Train time (s) |" in text
    dtd_line = next(line for line in text.splitlines() if line.startswith("| CoOp/vit_b16_ctxv1 | 81.00"))
    assert dtd_line.endswith("| 43260 ± 43160 |")  # mean and population std of 100 and 86420
    eurosat_line = next(line for line in text.splitlines() if line.startswith("| CoOp/vit_b16_ctxv1 | 91.00"))
    assert eurosat_line.endswith("| - |")
    assert "Train time" not in pr.markdown(pr.group(runs))

    assert pr.main([str(tree), "--times", "--list"]) == 0
    assert "trained 100s" in capsys.readouterr().out


def test_runs_selected_on_test_data_are_marked(tmp_path):
    root = tmp_path / "out"
    for method, selected in (("PromptKD", True), ("CAPT", False)):
        for half, acc in (("base", 70.0), ("new", 60.0)):
            folder = root / f"{method}/{half}/seed1"
            write_results(folder, acc, method, "FashionMNIST", 1, half)
            data = json.loads((folder / "results.json").read_text())
            data["selected_on_test"] = selected and half == "new"  # one run of the method is enough
            (folder / "results.json").write_text(json.dumps(data))
    text = pr.markdown(pr.group(pr.collect_runs(str(root))[0]))
    rows = [line for line in text.splitlines() if line.startswith("| PromptKD") or line.startswith("| CAPT")]
    assert sorted(r.split(" | ")[0] for r in rows) == ["| CAPT", "| CAPT", f"| PromptKD {pr.TEST_MARK}",
                                                        f"| PromptKD {pr.TEST_MARK}"]
    assert f"{pr.TEST_MARK} checkpoint selected on test images" in text
