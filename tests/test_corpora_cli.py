"""``scalinglab corpus info`` and ``corpus clear-cache`` on an app built here."""

from __future__ import annotations

import json
import sys

import pytest
import typer
from typer.testing import CliRunner

from scalinglab.cli import corpus_cmd
from scalinglab.cli.common import run_app
from scalinglab.corpora import SyntheticConfig, SyntheticLanguage


def make_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app."""

    corpus_cmd.register(app)
    return app


def invoke_json(args: list[str]) -> dict:
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_info_kjv_json_per_tokenizer(tmp_path):
    report = invoke_json(["corpus", "info", "kjv", "-t", "byte", "-t", "bpe:512",
                          "--budget", "1e7", "--cache-dir", str(tmp_path), "--json"])
    assert report["name"] == "kjv"
    assert report["documents"] == {"train": 1107, "val": 82}
    assert report["bytes"] == {"train": 3_977_280, "val": 209_894}
    assert report["val_groups"][-1] == "Revelation"
    byte, bpe = report["tokenizers"]
    assert byte["train_tokens"] == 3_977_280 and byte["bytes_per_token"] == 1.0
    assert byte["epochs_at_budget"] == pytest.approx(1e7 / 3_977_280)
    assert bpe["vocab_size"] == 512 and bpe["bytes_per_token"] > 2.0
    assert byte["params_one_epoch"] == pytest.approx(3_977_280 / 20)


def test_info_synthetic_reports_exact_entropy(tmp_path):
    report = invoke_json(["corpus", "info", "synthetic:vocab=32,zipf=1.1", "-o",
                          "train_tokens=5000", "--seq-len", "16", "--seq-len", "64",
                          "--cache-dir", str(tmp_path), "--json"])
    language = SyntheticLanguage(SyntheticConfig(vocab_size=32, zipf_exponent=1.1))
    synthetic = report["synthetic"]
    assert synthetic["entropy_rate"] == pytest.approx(language.entropy_rate(), rel=1e-12)
    assert synthetic["best_possible_loss"]["16"] == pytest.approx(language.best_possible_loss(16))
    assert set(synthetic["best_possible_loss"]) == {"16", "64"}
    assert report["tokenizers"][0]["train_tokens"] == 5000


def test_info_table_output_mentions_sizes(tmp_path):
    text = tmp_path / "doc.txt"
    text.write_text("\n\n".join(f"paragraph {i} " * 30 for i in range(100)), encoding="utf-8")
    result = CliRunner().invoke(make_app(), ["corpus", "info", str(text), "--doc-split",
                                             "paragraphs", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "documents: 94 train + 6 validation" in result.stdout
    assert "byte" in result.stdout


def test_clear_cache(tmp_path):
    invoke_json(["corpus", "info", "kjv", "--cache-dir", str(tmp_path), "--json"])
    cleared = invoke_json(["corpus", "clear-cache", "--cache-dir", str(tmp_path), "--json"])
    assert cleared["removed"] == 1
    again = invoke_json(["corpus", "clear-cache", "--cache-dir", str(tmp_path), "--json"])
    assert again["removed"] == 0


@pytest.mark.parametrize("args, message", [
    (["corpus", "info", "/no/such/corpus.txt"], "no such corpus file or folder"),
    (["corpus", "info", "kjv", "-t", "sentencepiece"], "unknown tokenizer"),
    (["corpus", "info", "kjv", "--budget", "-5"], "--budget must be a finite number > 0"),
    (["corpus", "info", "kjv", "--hf-split", "train"], "--hf-split applies only"),
    (["corpus", "info", "synthetic", "-o", "temperature=3"], "unknown synthetic option"),
])
def test_bad_input_is_one_line_on_stderr_with_exit_2(tmp_path, monkeypatch, capsys, args,
                                                     message):
    monkeypatch.setattr(sys, "argv", ["scalinglab", *args, "--cache-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as info:
        run_app(make_app())
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
