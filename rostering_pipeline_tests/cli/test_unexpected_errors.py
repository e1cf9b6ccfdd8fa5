import click

from rostering_pipeline.cli import _run, cli


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(
    data_dir, monkeypatch, capsys
):
    @click.command("explode")
    def explode() -> None:
        raise TypeError("a detail only the log should hold")

    cli.add_command(explode)
    monkeypatch.setattr("sys.argv", ["rostering-pipeline", "explode"])
    try:
        code = _run()  # what main() exits with
    finally:
        cli.commands.pop("explode")
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    log = data_dir / "logs" / "rostering-pipeline.log"
    assert f"details in {log}" in err
    assert "a detail only the log should hold" not in err
    text = log.read_text()
    assert "Traceback" in text and "a detail only the log should hold" in text
