"""`hotline menu graph`: a picture of the menu (Graphviz), for admins and reviews."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from hotline.errors import SetupError
from ivr import model
from prompts.build import Prompt

SHAPES = {
    "MenuNode": "box",
    "InputNode": "box",
    "VerifyNode": "box",
    "HangupNode": "octagon",
    "QueueNode": "cylinder",
    "TransferNode": "cds",
    "HoursNode": "diamond",
}


def to_dot(menu: model.Menu, catalogue: Mapping[str, Prompt]) -> str:
    lines = [
        "digraph menu {",
        '  rankdir=LR; node [fontname="WenQuanYi Micro Hei"];',
        "  start [shape=point];",
        f"  start -> {_q(menu.start)};",
    ]
    for node in menu.nodes.values():
        kind = type(node).__name__
        prompt = getattr(node, "prompt", "") or next(iter(getattr(node, "prompts", ())), "")
        text = catalogue[prompt].texts["zh"] if prompt in catalogue else ""
        label = f"{node.id}\\n[{kind.removesuffix('Node').lower()}]"
        if text:
            label += "\\n" + (text[:18] + "…" if len(text) > 18 else text)
        lines.append(f'  {_q(node.id)} [shape={SHAPES.get(kind, "ellipse")}, label="{label}"];')
        for field_name, target in node.targets().items():
            edge = field_name.removeprefix("keys.")
            if field_name == "zero":
                edge = "0"
            lines.append(f'  {_q(node.id)} -> {_q(target)} [label="{edge}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_source: str, output: Path) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise SetupError(
            "graphviz is not installed: run 'make run' as root, or 'apt-get install graphviz'."
        )
    fmt = output.suffix.lstrip(".") or "svg"
    if fmt == "dot":
        output.write_text(dot_source, encoding="utf-8")
        return
    result = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(output)],
        input=dot_source.encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise SetupError(f"graphviz failed: {result.stderr.decode(errors='replace').strip()}")


def _q(node_id: str) -> str:
    return '"' + node_id.replace('"', "") + '"'
