"""Every option of both command lines has help text written for users."""
from __future__ import annotations

import argparse
import re

import pytest

from ionmorph.cli import COMMAND_MODULES, DESCRIPTION, build_parser
from tumor3d.cli import DESCRIPTION as TUMOR3D_DESCRIPTION

#: Developer references that mean nothing to a user reading ``--help``: spec sections, issue numbers,
#: reStructuredText markup, dotted Python paths (``tumor3d.cohort.TASKS``).
JARGON = re.compile(r"SPEC|issue \d|TODO|FIXME|``|:(func|mod|data|class|meth):|\b\w+\.\w+\.[A-Za-z_]\w*\b")


def _walk(parser: argparse.ArgumentParser, path: str):
    """(command path, what, help text) of every argument, sub-command and description of ``parser``."""
    if parser.description:
        yield path, "description", parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield path, name, helps.get(name)
                yield from _walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, "/".join(action.option_strings) or action.dest, action.help


@pytest.mark.parametrize("prog,modules,description", [("ionmorph", COMMAND_MODULES, DESCRIPTION),
                                                      ("tumor3d", ("tumor3d.cli",), TUMOR3D_DESCRIPTION)])
def test_every_option_has_user_facing_help(prog, modules, description):
    """As each command's ``main`` builds its parser: every sub-command, option and description."""
    missing, jargon = [], []
    for path, what, text in _walk(build_parser(modules, prog, description), prog):
        if not (text or "").strip() or text == argparse.SUPPRESS:
            missing.append(f"{path} {what}")
        elif JARGON.search(text):
            jargon.append(f"{path} {what}: {text}")
    assert not missing and not jargon, ("options without help: " + ", ".join(missing)
                                        + "\nhelp with developer references: " + "; ".join(jargon))
