"""The sandbox (chatsite/lib/sandbox.py) itself; what it is for is tested where it is used:
hostile PDFs in test_files.py and test_server.py, JSON Schemas in test_json_answers.py."""

import logging

import pytest

from chatsite.lib import sandbox

OPTIONS = {"max_pages": 10, "max_chars": 1000}


def test_only_chatsite_functions_run_in_the_sandbox():
    with pytest.raises(sandbox.SandboxError) as caught:
        sandbox.run("os.system", b"", seconds=5, memory_mb=256)
    assert not isinstance(caught.value, sandbox.TooSlow | sandbox.TooLarge)


def test_a_function_that_fails_in_the_child_is_an_error_with_its_reason_in_the_log(caplog):
    with caplog.at_level(logging.INFO, logger="chatsite.lib.sandbox"), pytest.raises(sandbox.SandboxError):
        sandbox.run("chatsite.chat.pdftext.extract", b"%PDF-1.7 no PDF", seconds=5, memory_mb=256, options=OPTIONS)
    assert (
        "pypdf.errors.PdfStreamError: Stream has ended unexpectedly" in caplog.text
    )  # the child's traceback, for whoever reads the log
