"""The command line's docstring names every command it has, and its help too."""
import argparse

import cli.__main__ as cli


def commands():
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def test_the_module_docstring_names_every_command():
    assert len(commands()) >= 15
    missing = [name for name in commands() if name not in cli.__doc__]
    assert not missing, missing


def test_create_token_takes_the_four_roles():
    parsed = cli.build_parser().parse_args(["create-token", "--role", "reviewer", "--name", "r"])
    assert parsed.role == "reviewer"
    for role in ("admin", "client", "analyst"):
        assert cli.build_parser().parse_args(["create-token", "--role", role, "--name", "x"])
