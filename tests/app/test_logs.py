import logging

from xtb.logs import redact, register_secret, setup_logging


def test_file_and_console_levels_and_redaction(tmp_path, capsys):
    secret = "c2VjcmV0LXNlZWQtZm9yLXRlc3RzLW9ubHktMzJieXRlcw=="
    register_secret(secret)
    log = setup_logging(level="WARNING", file_level="DEBUG", log_dir=tmp_path)
    child = logging.getLogger("xtb.venues.backpack")
    child.debug("debug line only in file")
    child.warning("key is %s", secret)
    try:
        raise ValueError(f"bad secret {secret}")
    except ValueError:
        child.exception("failed")
    for h in log.handlers:
        h.flush()
    text = (tmp_path / "xtb.log").read_text()
    err = capsys.readouterr().err
    assert "debug line only in file" in text
    assert "debug line only in file" not in err
    assert secret not in text and secret not in err
    assert "key is ***" in text and "key is ***" in err
    assert "bad secret ***" in text


def test_short_strings_are_not_registered():
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_setup_is_idempotent(tmp_path):
    setup_logging(log_dir=tmp_path)
    log = setup_logging(log_dir=tmp_path)
    assert len([h for h in log.handlers if getattr(h, "_xtb", False)]) == 2
