"""Every object of the server is wired when it is built: no part sets an attribute of
another part afterwards (a stream's callbacks, a catalog's handler), so each one's
collaborators are those its constructor was given."""

from __future__ import annotations

import ast
from pathlib import Path

import jupyter_inferless

SERVER = Path(jupyter_inferless.__file__).parent / "server"

#: Assignments to attributes of objects other than ``self`` that are not wiring, by module:
#: records the module keeps itself, and the frameworks' objects it configures.
NOT_WIRING = {
    "decode/decoding.py": {
        "read.packed.offload",  # the Read it returns, before returning it
        "current.__traceback__",  # an exception's traceback, dropped
    },
    "http/request_body.py": {"self.request.body"},  # tornado's request: the body it read
    "kernels/registry.py": {  # the registry's own ModelEntry records and their counters
        "entry.requests",
        "entry.events",
        "entry.errors",
        "entry.active",
        "entry.joined",
    },
    "kernels/transport/zmq.py": {"sock.linger"},  # a socket option
    "tornado_direct.py": {"handler._transforms"},  # the handler's output transforms
}


def assigned_attributes(tree: ast.AST) -> set[str]:
    """Every ``x.attr`` assigned (``=``, ``+=``, annotated) in ``tree`` whose object is not
    ``self`` (or ``cls``) itself."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        pending = list(targets)
        while pending:
            target = pending.pop()
            if isinstance(target, (ast.Tuple, ast.List)):
                pending.extend(target.elts)
            elif isinstance(target, ast.Attribute) and not (
                isinstance(target.value, ast.Name) and target.value.id in ("self", "cls")
            ):
                found.add(ast.unparse(target))
    return found


def test_no_server_part_sets_another_parts_attributes():
    wired = {}
    for path in sorted(SERVER.rglob("*.py")):
        name = path.relative_to(SERVER).as_posix()
        extra = assigned_attributes(ast.parse(path.read_text())) - NOT_WIRING.get(name, set())
        if extra:
            wired[name] = sorted(extra)
    assert wired == {}, "wire these through constructors instead"


def test_the_check_finds_what_it_looks_for():
    code = "stream.on_consumed = f\nself.catalog.requests = r\nself.x = 1\na.b, c = 1, 2\n"
    assert assigned_attributes(ast.parse(code)) == {
        "stream.on_consumed",
        "self.catalog.requests",
        "a.b",
    }
