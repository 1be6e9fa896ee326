"""parse_results --published: our table beside a paper's, ours - paper per cell; and the shipped tables."""

import json

import pytest

from tools import parse_results as pr
from tools import published

TOY = {"fashion_mnist": "FashionMNIST", "fashion_mnist_edges": "FashionMNISTEdges",
       "fashion_mnist_inverted": "FashionMNISTInverted"}
# Ours, per method and toy dataset: (base per seed, new per seed); CoOp lacks the inverted copy.
OURS = {
    "UCPCoOp": {"fashion_mnist": ((81.0, 84.0), (60.0, 63.0)),
                "fashion_mnist_edges": ((70.0, 71.0), (50.0, 54.0)),
                "fashion_mnist_inverted": ((90.0, 92.0), (40.0, 45.0))},
    "CoOp": {"fashion_mnist": ((80.0, 82.0), (55.0, 56.0)),
             "fashion_mnist_edges": ((69.0, 70.0), (48.0, 49.0))},
}
# The stand-in paper: CoOp+CaPT (our UCPCoOp), CoOp, and a column we have no runs of.
PAPER = {
    "title": "toy stand-in", "source": "a test table",
    "columns": [
        {"name": "CoOp+CaPT", "methods": ["UCPCoOp"],
         "rows": {"Average": [80.0, 55.0, 65.18], "fashion_mnist": [83.0, 60.0, 69.65],
                  "fashion_mnist_edges": [72.5, 51.0, 59.88], "fashion_mnist_inverted": [89.0, 44.0, 58.89]}},
        {"name": "CoOp", "methods": ["CoOp"],
         "rows": {"Average": [79.0, 50.0, 61.24], "fashion_mnist": [81.5, 55.0, 65.68],
                  "fashion_mnist_edges": [70.0, 47.5, 56.6], "fashion_mnist_inverted": [88.0, 40.0, 55.0]}},
        {"name": "Zero-shot CLIP", "methods": ["ZeroshotCLIP"],
         "rows": {"fashion_mnist": [60.0, 70.0, 64.62]}},
    ],
    "notes": ["a printed value that disagrees with its inputs"],
}


def write_run(folder, accuracy, trainer, dataset_name, seed, half):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(
        {"schema": 1, "split": "test", "accuracy": accuracy, "trainer": trainer, "dataset": dataset_name,
         "seed": seed, "subsample_classes": half}))
    (folder / "finished.json").write_text(json.dumps({"schema": 1, "kind": "train", "weights": []}))


@pytest.fixture
def toy_runs(tmp_path):
    """The CaPT-runner layout (train_base / test_new) on the toy datasets, seeds 1 and 2."""
    root = tmp_path / "output"
    for trainer, datasets in OURS.items():
        for dataset, (base, new) in datasets.items():
            for seed in (1, 2):
                tail = f"{trainer}/{dataset}/shots16/toy_vit_s/seed{seed}"
                write_run(root / "train_base" / tail, base[seed - 1], trainer, TOY[dataset], seed, "base")
                write_run(root / "test_new" / tail, new[seed - 1], trainer, TOY[dataset], seed, "new")
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps(PAPER))
    return root, paper


def block(out, title):
    """The rows of the comparison block titled ``title``: {row name: [cells...]}."""
    lines = out.split(f"### {title}\n", 1)[1].strip("\n").split("\n\n", 1)[0].splitlines()[2:]
    rows = ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    return {cells[0]: cells[1:] for cells in rows}


def mean(values):
    return sum(values) / len(values)


def h(b, n):
    return 2 * b * n / (b + n)


def expected_cells(base, new, paper):
    ours = [mean(base), mean(new), h(mean(base), mean(new))]
    return [x for o, p in zip(ours, paper) for x in (f"{o:.2f}", f"{p:.2f}", f"{o - p:+.2f}")]


def test_published_file_prints_ours_paper_and_ours_minus_paper(toy_runs, capsys):
    root, paper = toy_runs
    assert pr.main([str(root), "--published-file", str(paper)]) == 0
    out = capsys.readouterr().out
    assert "Source: a test table" in out and "Note: a printed value that disagrees with its inputs" in out

    ucp = block(out, "CoOp+CaPT (paper) vs UCPCoOp/toy_vit_s (ours)")
    assert list(ucp) == ["Average", "fashion_mnist", "fashion_mnist_edges", "fashion_mnist_inverted"]
    for dataset, (base, new) in OURS["UCPCoOp"].items():
        assert ucp[dataset] == [*expected_cells(base, new, PAPER["columns"][0]["rows"][dataset]), "2/2"]
    # complete: the average follows the paper (B and N averaged over the datasets, H of those)
    b = mean([mean(v[0]) for v in OURS["UCPCoOp"].values()])
    n = mean([mean(v[1]) for v in OURS["UCPCoOp"].values()])
    avg = [b, n, h(b, n)]
    paper_avg = PAPER["columns"][0]["rows"]["Average"]
    assert ucp["Average"][2::3] == [f"{o - p:+.2f}" for o, p in zip(avg, paper_avg)]
    assert ucp["Average"][0] == f"{b:.2f}" and ucp["Average"][-1] == "3/3 datasets"

    coop = block(out, "CoOp (paper) vs CoOp/toy_vit_s (ours)")  # UCPCoOp is not taken for CoOp
    base, new = OURS["CoOp"]["fashion_mnist_edges"]
    assert coop["fashion_mnist_edges"][:9] == expected_cells(base, new, PAPER["columns"][1]["rows"][
        "fashion_mnist_edges"])
    missing = coop["fashion_mnist_inverted"]  # no run of ours: "–", the paper's value, no difference
    assert missing == ["–", "88.00", "–", "–", "40.00", "–", "–", "55.00", "–", "–"]
    assert coop["Average"][0:9:3] == ["–", "–", "–"] and coop["Average"][-1] == "2/3 datasets"
    assert "### Zero-shot CLIP: no runs of ZeroshotCLIP here" in out


def test_our_dataset_names_map_to_the_papers_rows(tmp_path, capsys):
    root = tmp_path / "output"
    for dataset, name in (("oxford_flowers", "OxfordFlowers"), ("dtd", "DescribableTextures")):
        write_run(root / "train_base" / "UCPCoOp" / dataset / "seed1", 97.0, "UCPCoOp", name, 1, "base")
        write_run(root / "test_new" / "UCPCoOp" / dataset / "seed1", 75.0, "UCPCoOp", name, 1, "new")
    assert pr.main([str(root), "--published", "capt_ucp"]) == 0
    rows = block(capsys.readouterr().out, "CoOp+CaPT (paper) vs UCPCoOp (ours)")
    assert rows["Flowers102"][:3] == ["97.00", "96.83", "+0.17"]
    assert rows["DTD"][:3] == ["97.00", "77.87", "+19.13"]
    assert rows["ImageNet"][0] == "–" and rows["Average"][-1] == "2/11 datasets"


def test_a_bad_table_file_is_named_with_the_bad_row(toy_runs, tmp_path, capsys):
    root, _ = toy_runs
    bad = json.loads(json.dumps(PAPER))
    bad["columns"][1]["rows"]["fashion_mnist"] = [81.5, 55.0]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SystemExit):
        pr.main([str(root), "--published-file", str(path)])
    err = capsys.readouterr().err
    assert str(path) in err and "columns[1] (CoOp) row 'fashion_mnist'" in err


# Printed values that disagree with their own inputs (the tables' notes): (table, column, row, index).
ANOMALIES = {("capt", "CAPT", "Average", 1), ("capt", "CAPT", "Average", 2),
             ("capt", "PromptKD", "StanfordCars", 2), ("capt", "PromptKD", "UCF101", 2),
             ("promptkd", "PromptKD", "StanfordCars", 2), ("promptkd", "PromptKD", "UCF101", 2),
             ("capt_ucp", "DAPT", "FGVCAircraft", 2), ("capt_ucp", "DeCaPT", "SUN397", 2),
             *(("capt_ucp", "DAPT", "Average", i) for i in range(3)),
             *(("capt_ucp", "DAPT+CaPT", "Average", i) for i in range(3)),
             *(("capt_ucp", "DeCaPT", "Average", i) for i in (1, 2))}


@pytest.mark.parametrize("name", ["capt", "capt_ucp", "promptkd"])
def test_shipped_tables_cite_their_source_and_add_up(name):
    table = published.load_named(name)
    assert table["source"] and table["notes"]
    for column in table["columns"]:
        rows = column["rows"]
        datasets = [r for r in published.PAPER_ROWS.values() if r != "ImageNet"]
        assert list(rows) == ["Average", "ImageNet", *datasets]
        sums = {}
        for row, (b, n, hh) in rows.items():
            if (name, column["name"], row, 2) not in ANOMALIES and row != "Average":
                assert h(b, n) == pytest.approx(hh, abs=0.011), (name, column["name"], row)
            sums[row] = (b, n)
        means = [mean([v[i] for r, v in sums.items() if r != "Average"]) for i in (0, 1)]
        for i, value in enumerate([*means, h(*rows["Average"][:2])]):
            if (name, column["name"], "Average", i) not in ANOMALIES:
                assert value == pytest.approx(rows["Average"][i], abs=0.011), (name, column["name"], i)


@pytest.mark.slow
def test_real_toy_runs_beside_a_stand_in_table(toy_world, tmp_path, capsys):
    """One-epoch CoOp on the toy world (base training, new-class evaluation) through the sweep, then the
    comparison reads the accuracies those runs wrote."""
    from tools import sweep

    out = tmp_path / "runs"
    opts = {"MODEL.CLIP_WEIGHTS_DIR": str(toy_world.weights_dir), "OPTIM.MAX_EPOCH": 1,
            "DATASET.NUM_SHOTS": 2, "DATALOADER.NUM_WORKERS": 0, "TRAIN.PROGRESS_BAR": False}
    cfg = "configs/trainers/CoOp/toy_vit_s.yaml"
    spec = {"root": str(toy_world.root), "datasets": ["fashion_mnist"], "seeds": [1], "steps": [
        {"name": "coop", "trainer": "CoOp", "config": cfg,
         "output_dir": f"{out}/train_base/CoOp/{{dataset}}/s{{seed}}",
         "opts": {**opts, "DATASET.SUBSAMPLE_CLASSES": "base"}},
        {"name": "coop_new", "trainer": "CoOp", "config": cfg,
         "output_dir": f"{out}/test_new/CoOp/{{dataset}}/s{{seed}}",
         "args": ["--eval-only", "--model-dir", "{coop}", "--load-epoch", "1"],
         "opts": {**opts, "DATASET.SUBSAMPLE_CLASSES": "new"}}]}
    chains = sweep.plan(sweep.validate_spec(spec), cwd=str(pr.REPO))
    assert [s for _, s in sweep.run_local(chains, echo=lambda _: None)] == ["ok", "ok"]
    base = json.loads((out / "train_base/CoOp/fashion_mnist/s1/results.json").read_text())["accuracy"]
    new = json.loads((out / "test_new/CoOp/fashion_mnist/s1/results.json").read_text())["accuracy"]
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"source": "a test table", "columns": [
        {"name": "CoOp", "methods": ["CoOp"], "rows": {"fashion_mnist": [50.0, 40.0, 44.44]}}]}))
    assert pr.main([str(out), "--published-file", str(paper)]) == 0
    rows = block(capsys.readouterr().out, "CoOp (paper) vs CoOp (ours)")
    assert rows["fashion_mnist"] == [*expected_cells([base], [new], [50.0, 40.0, 44.44]), "1/1"]
