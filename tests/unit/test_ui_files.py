"""The web page's parts that need no browser: reading uploads, writing predictions, the Streamlit
command line, and the checks ``classifine ui`` makes before starting it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from classifine.cli.main import main
from classifine.errors import ConfigError, DataError
from classifine.ui.batch import column_texts, read_upload, text_column_guess, to_bytes
from classifine.ui.launch import check_options, streamlit_command


def test_reads_csv_tsv_jsonl_and_json_lists_as_text() -> None:
    csv = read_upload("a.csv", "\ufeffid,text\n007,café au lait\n".encode())  # BOM, leading zeros kept
    assert csv.to_dict("records") == [{"id": "007", "text": "café au lait"}]
    tsv = read_upload("a.TSV", b"x\ttext\n1\thello, world\n")
    assert tsv["text"].tolist() == ["hello, world"]
    jsonl = read_upload("a.jsonl", b'{"text": "a", "n": 1}\n\n{"text": "b"}\n')
    assert jsonl["text"].tolist() == ["a", "b"]
    listed = read_upload("a.json", json.dumps([{"body": "x"}, {"body": "y"}]).encode())
    assert listed["body"].tolist() == ["x", "y"]
    assert read_upload("lines.json", b'{"text": "a"}\n{"text": "b"}\n')["text"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("latin.csv", "text\ncafé\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at position 8)"),
        ("empty.csv", b"", "the file has no rows"),
        ("header.csv", b"text,label\n", "the file has no rows"),
        ("blank.jsonl", b"\n\n", "the file has no rows"),
        ("bad.jsonl", b'{"text": "a"}\n{oops\n', "line 2 is not valid JSON"),
        ("list.jsonl", b'["a", "b"]\n', "line 1 is not a JSON object"),
        ("scalar.json", b'"text"', "expected a JSON list of objects"),
        ("ragged.csv", b'text\n"unclosed\n', "not a valid CSV file"),
        ("data.xlsx", b"PK\x03\x04", "unsupported file type '.xlsx'"),
    ],
)
def test_malformed_uploads_are_data_errors_naming_the_file(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DataError) as caught:
        read_upload(name, data)
    assert message in str(caught.value) and name in str(caught.value)


def test_text_column_guess_and_column_checks() -> None:
    frame = pd.DataFrame({"id": ["1", "2"], "Message": ["hi there", "call me"], "n": ["3", "4"]})
    assert text_column_guess(frame) == "Message"
    unnamed = pd.DataFrame({"a": ["x", "y"], "b": ["a long sentence here", "another long one"]})
    assert text_column_guess(unnamed) == "b"
    assert column_texts(pd.DataFrame({"t": ["a", None, 3]}), "t") == ["a", "", "3"]
    with pytest.raises(DataError, match="no column 'text'.*choose one of: t"):
        column_texts(pd.DataFrame({"t": ["a"]}), "text")
    with pytest.raises(DataError, match="column 't' has no text"):
        column_texts(pd.DataFrame({"t": ["", " "]}), "t")


def test_predictions_download_as_csv_and_jsonl() -> None:
    frame = pd.DataFrame({"text": ["é", "b"], "label": ["x", None], "confidence": [0.9, None]})
    assert to_bytes(frame, "csv").decode() == "text,label,confidence\né,x,0.9\nb,,\n"
    rows = [json.loads(line) for line in to_bytes(frame, "jsonl").decode().splitlines()]
    assert rows[0] == {"text": "é", "label": "x", "confidence": 0.9}
    assert rows[1] == {"text": "b", "label": None, "confidence": None}


def test_streamlit_runs_headless_offline_and_the_key_stays_out_of_argv() -> None:
    command = streamlit_command("http://127.0.0.1:8000", port=9123, api_key_env="MY_KEY")
    assert command[1:4] == ["-m", "streamlit", "run"]
    for flag in (
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.port=9123",
        "--server.fileWatcherType=none",
        "--client.showErrorDetails=none",
    ):
        assert flag in command
    assert command[-4:] == ["--server", "http://127.0.0.1:8000", "--api-key-env", "MY_KEY"]


def test_options_are_checked_before_streamlit_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--server must be the server's http"):
        check_options("localhost:8000", None)
    monkeypatch.delenv("UNSET_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="UNSET_KEY_VAR .* is not set"):
        check_options("http://127.0.0.1:8000", "UNSET_KEY_VAR")


def test_cli_bad_options_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--server", "127.0.0.1:8000"]) == 2
    err = capsys.readouterr().err
    assert "--server must be the server's http(s) URL" in err and "Traceback" not in err
