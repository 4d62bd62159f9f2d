"""Prompts' entry: the commands that build and import prompt audio (the controller only
reads the files, through the voice menu's catalogue)."""

from __future__ import annotations

from hotline.wiring import Feature
from prompts import cli

# The PBX plays prompts from a mount of the prompts directory, so missing ones are
# synthesised before it starts.
FEATURE = Feature("prompts", commands=cli.add_commands, before_pbx_up=cli.build_prompts)
