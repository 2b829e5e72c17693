"""A mistyped option gets argparse's error with the nearest option of that sub-command suggested."""
import pytest

from twin.cli import main


@pytest.mark.parametrize("typo, meant", [("--every_min", "--every-min"), ("--every-mins", "--every-min"),
                                         ("--no_figures", "--no-figures"), ("--grup-by", "--group-by")])
def test_a_typo_gets_a_did_you_mean(typo, meant, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "paper-toluene", "--out", "unused", typo, "5"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {typo}" in err and f"(did you mean {meant}?)" in err


def test_no_suggestion_for_an_option_like_nothing(capsys):
    with pytest.raises(SystemExit):
        main(["watch", "unused", "--frobnicate"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --frobnicate" in err and "did you mean" not in err
