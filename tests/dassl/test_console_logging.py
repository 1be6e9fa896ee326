"""Library log records reach the console and ``log.txt`` as the same bare lines ``print`` wrote."""

import logging
import sys

import pytest

import dassl  # noqa: F401  (installs the handlers)
from dassl.console_logging import LIBRARY_LOGGERS, StdoutHandler, install_stdout_handlers
from dassl.utils import setup_logger


@pytest.fixture
def restore_levels():
    saved = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("package", LIBRARY_LOGGERS)
def test_records_print_as_bare_lines(package, capsys):
    logging.getLogger(f"{package}.some.module").info("* accuracy: 81.0%")
    logging.getLogger(f"{package}.some.module").warning("Note: a fallback")
    assert capsys.readouterr().out == "* accuracy: 81.0%\nNote: a fallback\n"


def test_console_and_log_txt_get_identical_lines_in_order_with_prints(tmp_path, capsys):
    original = sys.stdout
    logger = setup_logger(str(tmp_path))
    try:
        print("** Config **")
        logging.getLogger("dassl.engine.trainer").info("Finish training")
        logging.getLogger("trainers.promptsrc").warning("GPA covers epochs [2] only")
    finally:
        sys.stdout = original
        logger.close()
    expected = "** Config **\nFinish training\nGPA covers epochs [2] only\n"
    assert (tmp_path / "log.txt").read_text() == expected
    assert capsys.readouterr().out == expected


def test_levels_control_the_output_and_records_do_not_reach_the_root_logger(capsys, restore_levels):
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    root_handler = Collect()
    logging.getLogger().addHandler(root_handler)
    try:
        logging.getLogger("datasets").setLevel(logging.WARNING)
        log = logging.getLogger("datasets.splits")
        log.info("Reading split from x.json")
        log.warning("Using the GENERATED split")
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert capsys.readouterr().out == "Using the GENERATED split\n"
    assert seen == []


def test_install_is_idempotent_and_keeps_a_level_set_before(restore_levels):
    logging.getLogger("trainers").setLevel(logging.ERROR)
    install_stdout_handlers()
    install_stdout_handlers()
    for name in LIBRARY_LOGGERS:
        handlers = [h for h in logging.getLogger(name).handlers if isinstance(h, StdoutHandler)]
        assert len(handlers) == 1
    assert logging.getLogger("trainers").level == logging.ERROR
