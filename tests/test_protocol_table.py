"""ARCHITECTURE.md's message table is the protocol: every message type has its row, and each
row names an existing message, its direction, its builder and exactly its fields."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest

import jupyter_inferless
from jupyter_inferless import protocol
from jupyter_inferless.protocol.decode import FROM_KERNEL, FROM_SERVER, op_of

ARCHITECTURE = Path(jupyter_inferless.__file__).parent.parent / "ARCHITECTURE.md"
OPEN = "comm_open data"
EVERY_MESSAGE = {"op", "protocol"}  # what every message carries, besides its fields
TYPES: dict[str, tuple[str, Any]] = {
    OPEN: ("server → kernel", protocol.OpenData),
    **{op_of(kind): ("server → kernel", kind) for kind in FROM_SERVER},
    **{op_of(kind): ("kernel → server", kind) for kind in FROM_KERNEL},
}


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the message table (the one headed "| message |")."""
    section = text.split("| message | direction | builder | fields |", 1)[1]
    rows = []
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def named(cell: str) -> list[str]:
    """The names a cell gives in backticks: each one's leading identifier."""
    return [re.match(r"\w*", code)[0] for code in re.findall(r"`([^`]+)`", cell)]  # type: ignore[index]


def message_of(cell: str) -> str:
    return cell if cell == OPEN else named(cell)[0]


ROWS = table_rows(ARCHITECTURE.read_text())


def test_every_message_type_has_one_row_and_every_row_a_message_type():
    listed = [message_of(row[0]) for row in ROWS]
    assert sorted(listed) == sorted(TYPES)


@pytest.mark.parametrize("row", ROWS, ids=[message_of(row[0]) for row in ROWS])
def test_a_row_names_its_direction_builder_and_exactly_its_fields(row: list[str]) -> None:
    message, direction, builder, fields = row
    expected_direction, kind = TYPES[message_of(message)]
    assert direction == expected_direction
    build = getattr(protocol, named(builder)[0])
    assert typing.get_type_hints(build)["return"] is kind
    declared = set(typing.get_type_hints(kind)) - EVERY_MESSAGE
    assert (
        named(fields) == sorted(declared, key=named(fields).index)
        and set(named(fields)) == declared
    ), f"{message}: the table says {named(fields)}, the TypedDict {sorted(declared)}"


def test_the_table_reader_reads_cells():
    text = "| message | direction | builder | fields |\n|---|\n| `a` | x | `b` (c: `d`) | `e: f \\| g`, `h` |\n\nafter"  # noqa: E501
    assert table_rows(text) == [["`a`", "x", "`b` (c: `d`)", "`e: f \\| g`, `h`"]]
    assert named("`e: f \\| g`, `h` (note)") == ["e", "h"]
