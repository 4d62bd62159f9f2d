"""``hotline prompts``: the prompt audio the PBX plays."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from hotline.commands import Subparsers, say
from hotline.config import Config


def add_commands(sub: Subparsers) -> None:
    prompts = sub.add_parser("prompts", help="prompt audio")
    prompts_sub = prompts.add_subparsers(required=True, metavar="ACTION")
    prompts_sub.add_parser("build", help="synthesise missing prompts").set_defaults(
        handler=cmd_prompts
    )
    prompts_import = prompts_sub.add_parser("import", help="use your own recording")
    prompts_import.add_argument("prompt_id")
    prompts_import.add_argument("file", type=Path)
    prompts_import.add_argument("--lang", default="zh", choices=["zh", "en"])
    prompts_import.set_defaults(handler=cmd_prompts_import)


def cmd_prompts(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    build_prompts(config)
    return 0


def cmd_prompts_import(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from prompts.build import import_prompt, load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    seconds = import_prompt(
        config.prompts_dir, load_catalogue(names), args.prompt_id, args.lang, args.file
    )
    say(f"prompt {args.lang}/{args.prompt_id}: imported {args.file.name} ({seconds:.1f} s)")
    return 0


def build_prompts(config: Config) -> None:
    """Synthesise the catalogue's missing or stale prompts, with the service's names."""
    from prompts.build import build, load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    build(config.prompts_dir, load_catalogue(names), say)
