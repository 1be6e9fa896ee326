"""Keys the engine adds on top of the Dassl schema (all default to upstream behaviour)."""

from .hooks import add_cfg_node, cfg_hook

ENGINE_TRAIN_DEFAULTS = {
    # Deterministic algorithms, seeded data-loader workers, cudnn.benchmark off.
    "DETERMINISTIC": False,
    # cudnn.benchmark when running on CUDA (ignored when DETERMINISTIC).
    "CUDNN_BENCHMARK": True,
    # tqdm bar (on stderr) while evaluating.
    "PROGRESS_BAR": True,
    # Append "max mem <MiB>" to the progress lines on CUDA.
    "PRINT_MAX_MEM": False,
    # Print torch's environment report at start-up (takes a few seconds).
    "COLLECT_ENV_INFO": True,
}

ENGINE_TEST_DEFAULTS = {
    # Decimals of the percentages in the printed result block (1 = Dassl, 2 = DPC/CAPT).
    "DECIMALS": 1,
    # Write results.json and wrong_predictions.json into OUTPUT_DIR after each test().
    "WRITE_RESULTS": True,
    # published: select as the config says (FINAL_MODEL); clean: never select on test images (the last
    # epoch is deployed and loaded by default) - see dassl/engine/selection.py.
    "PROTOCOL": "published",
}


@cfg_hook
def add_engine_cfg(cfg):
    add_cfg_node(cfg, "TRAIN", ENGINE_TRAIN_DEFAULTS)
    add_cfg_node(cfg, "TEST", ENGINE_TEST_DEFAULTS)


def cfg_get(node, key, default):
    """Read ``node.key`` from configs built with or without the engine hook."""
    return node[key] if key in node else default
