"""stdout tee into log.txt."""

import sys

from dassl.utils import Logger, setup_logger


def test_setup_logger_tees_and_rotates(tmp_path, capsys):
    original = sys.stdout
    logger = setup_logger(str(tmp_path))
    try:
        print("first run")
        sys.stdout.flush()
    finally:
        sys.stdout = original
        logger.close()
    assert (tmp_path / "log.txt").read_text() == "first run\n"
    assert "first run" in capsys.readouterr().out

    logger = setup_logger(str(tmp_path))
    try:
        print("second run")
    finally:
        sys.stdout = original
        logger.close()
    assert (tmp_path / "log.txt").read_text() == "first run\n"  # the first log is kept
    rotated = [p for p in tmp_path.iterdir() if p.name.startswith("log.txt-")]
    assert len(rotated) == 1 and rotated[0].read_text() == "second run\n"
    assert setup_logger(None) is None and sys.stdout is original


def test_logger_file_path_and_console_stays_open(tmp_path):
    class Console:
        closed = False
        encoding = "utf-8"

        def write(self, msg):
            pass

        def flush(self):
            pass

        def close(self):
            self.closed = True

    console = Console()
    saved = sys.stdout
    sys.stdout = console
    try:
        logger = Logger(str(tmp_path / "sub" / "x.log"))
    finally:
        sys.stdout = saved
    logger.write("hello")
    assert logger.encoding == "utf-8"
    del logger
    assert not console.closed
    assert (tmp_path / "sub" / "x.log").read_text() == "hello"
