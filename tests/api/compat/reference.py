"""Reads the vendor pages in ``../shared/reference/``: their curl examples and JSON answers, as written."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.procs import IN_CI

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference"


@dataclass
class CurlExample:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def json(self) -> object:
        assert self.body is not None
        return json.loads(self.body)


def page(name: str) -> str:
    path = REFERENCE / name
    if not path.exists():
        msg = f"vendor reference page {path} not found (the shared/ folder sits beside the checkout)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path.read_text()


def _command_blocks(text: str) -> list[str]:
    """Each curl command: from a line starting with ``curl`` through its continuation lines."""
    lines = text.splitlines()
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("curl "):
            i += 1
            continue
        parts = [lines[i]]
        while True:
            joined = "\n".join(parts)
            try:
                shlex.split(joined.replace("\\\n", " "))
                open_quote = False
            except ValueError:
                open_quote = True
            if not (open_quote or parts[-1].rstrip().endswith("\\")) or i + 1 >= len(lines):
                break
            i += 1
            parts.append(lines[i])
        blocks.append("\n".join(parts))
        i += 1
    return blocks


def curl_examples(text: str) -> list[CurlExample]:
    examples = []
    for block in _command_blocks(text):
        args = shlex.split(block.replace("\\\n", " "))
        ex = CurlExample(method="GET", url="")
        it = iter(args[1:])
        for arg in it:
            if arg in ("-X", "--request"):
                ex.method = next(it)
            elif arg == "--url":
                ex.url = next(it)
            elif arg in ("-H", "--header"):
                name, _, value = next(it).partition(":")
                ex.headers[name.strip()] = value.strip()
            elif arg in ("-d", "--data", "--data-raw"):
                ex.body = next(it)
                if ex.method == "GET":
                    ex.method = "POST"
            elif not arg.startswith("-"):
                ex.url = arg
        examples.append(ex)
    return examples


def json_objects(text: str) -> list[object]:
    """Every top-level JSON object on the page that starts at the beginning of a line."""
    decoder = json.JSONDecoder()
    found: list[object] = []
    pos = 0
    while True:
        start = text.find("\n{", pos)
        if start < 0:
            return found
        try:
            obj, end = decoder.raw_decode(text, start + 1)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        found.append(obj)
        pos = end
