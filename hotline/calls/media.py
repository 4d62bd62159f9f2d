"""Prompts as the PBX plays them: the prompt audio is mounted into its container."""

from __future__ import annotations

from hotline.pbx.instance import PROMPTS_IN_CONTAINER


def prompt_media(prompt_id: str, language: str) -> str:
    return f"sound:{PROMPTS_IN_CONTAINER}/{language}/{prompt_id}"
