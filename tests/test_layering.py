"""The package's layering rules, and a public API that stays cheap to import."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import jupyter_inferless
from jupyter_inferless import protocol
from jupyter_inferless.protocol import LABELS

PACKAGE = Path(jupyter_inferless.__file__).parent
FORBIDDEN = {
    "contract": {"tornado", "jupyter_server", "jupyter_client", "IPython", "ipykernel", "zmq"},
    "kernel": {"tornado", "jupyter_server"},
    "server": {"IPython", "ipykernel", "torch"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def resolved_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    package = ["jupyter_inferless", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1]
            if node.module:
                names.add(".".join([*base, node.module]))
            else:
                names.update(".".join([*base, alias.name]) for alias in node.names)
    return names


def _module_name(path: Path) -> str:
    parts = ["jupyter_inferless", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: list[str], modules: set[str]) -> set[str]:
    """The package modules a tree's import statements name, at any depth, but not under
    ``if TYPE_CHECKING:``. ``import a.b`` names ``a.b``; ``from a import b`` names the
    module ``a.b`` when there is one, else ``a`` (where ``b`` is defined)."""
    names: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                pending.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                module = ".".join([*base, *([child.module] if child.module else [])])
                for alias in child.names:
                    submodule = f"{module}.{alias.name}"
                    names.add(submodule if submodule in modules else module)
            pending.append(child)
    return names & modules


def import_graph() -> dict[str, set[str]]:
    """The package's modules and the package modules each imports."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        graph[name] = _imports(ast.parse(path.read_text()), package, set(paths)) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (its nodes in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for after in sorted(graph.get(node, ())):
            if state.get(after) == 1:
                return [*path[path.index(after) :], after]
            if after not in state and (cycle := visit(after)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def _part_of(module: str) -> str:
    """The subpackage (``kernel``, ``server``, ...) or top-level module a module is in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "jupyter_inferless"


def test_no_import_cycles():
    """No module imports itself back, through any chain of imports.

    Imports inside functions count (a lazy import is still a dependency); imports under
    ``if TYPE_CHECKING:`` do not, since they never run.
    """
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycles_between_subpackages():
    """The subpackages and top-level modules are layered: none imports another that imports
    it back (the kernel does not import the widget, whose runner uses the kernel)."""
    parts: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        part = _part_of(module)
        parts.setdefault(part, set()).update(_part_of(name) for name in imported)
        parts[part].discard(part)
    cycle = find_cycle(parts)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _server_part_of(module: str) -> str:
    """The server's subpackage (``server.http``, ``server.kernels``, ...) a server module is
    in, or the module itself when it sits at the top of ``server/`` (``server.service``)."""
    return ".".join(module.split(".")[1:3])


def test_no_import_cycles_between_server_parts():
    """The server's subpackages are layered too: ``http`` above ``service``, above
    ``kernels``, above ``streams``; none imports one that imports it back."""
    parts: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        if _part_of(module) != "server" or module == "jupyter_inferless.server":
            continue
        part = _server_part_of(module)
        inside = {_server_part_of(name) for name in imported if _part_of(name) == "server"}
        parts.setdefault(part, set()).update(inside - {part, "server"})
    assert {"server.http", "server.kernels", "server.streams", "server.decode"} <= set(parts)
    cycle = find_cycle(parts)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


MAX_MODULE_LINES = 250


def test_every_module_is_small():
    """Each module of the package has one job, in at most 250 lines."""
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    tree = ast.parse("import x.y\ndef f():\n    from . import z\nif TYPE_CHECKING:\n    import w")
    assert _imports(tree, ["p", "q"], {"x.y", "w", "p.q.z"}) == {"x.y", "p.q.z"}


def test_protocol_imports_only_itself_and_the_standard_library():
    allowed = sys.stdlib_module_names | {"__future__"}
    broken = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / "protocol").rglob("*.py"))
        for name in sorted(resolved_imports(path))
        if name.split(".")[0] not in allowed
        and not (
            name == "jupyter_inferless.protocol" or name.startswith("jupyter_inferless.protocol.")
        )
    ]
    assert broken == []


def _outside_the_protocol() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "protocol" not in path.relative_to(PACKAGE).parts
    ]


def test_protocol_messages_are_built_only_by_the_protocol_module():
    """No dict literal with an "op" key outside protocol/: every message has one builder."""
    built = []
    for path in _outside_the_protocol():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "op" for key in node.keys
            ):
                built.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert built == []


MESSAGE_TYPES = {name for name in protocol.__all__ if typing.is_typeddict(getattr(protocol, name))}
MESSAGE_TYPES |= {"KernelMessage", "KernelRequest", "ServerMessage", "CommMessage"}
"""The protocol's message types (and their parts): what a cast could claim a value is."""
SHARED_KEYS = {
    "class", "datatype", "declared", "device", "error", "events", "example", "generation",
    "inputs", "kind", "max_concurrency", "message", "model", "models", "name", "notes",
    "queue_size", "reason", "refused", "replicas", "required", "schema", "shape", "source",
    "status", "streaming", "text", "type",
}  # fmt: skip
"""Field names of comm messages that the HTTP API's JSON (or a Jupyter message) uses too."""
DECODERS = {"decode_from_kernel", "decode_from_server", "decode_open"}


def _fields(kind: Any) -> set[str]:
    """The field names of a TypedDict and of the TypedDicts in its fields, at any depth."""
    found = set()
    for name, hint in typing.get_type_hints(kind).items():
        found.add(name)
        for inner in [hint, *typing.get_args(hint)]:
            for part in [inner, *typing.get_args(inner)]:
                if typing.is_typeddict(part) and part is not kind:
                    found |= _fields(part)
    return found


TYPED = [getattr(protocol, name) for name in sorted(MESSAGE_TYPES)]
ALL_FIELDS = set().union(*(_fields(kind) for kind in TYPED if typing.is_typeddict(kind)))
COMM_ONLY_FIELDS = ALL_FIELDS - SHARED_KEYS
"""Field names only comm messages have: a ``.get`` of one reads a message unchecked."""


def _name(node: ast.AST) -> object:
    """The name a part of a type expression gives: ``X``, ``protocol.X`` or ``"X"``."""
    return getattr(node, "id", getattr(node, "attr", getattr(node, "value", None)))


def _called(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _key(node: ast.AST) -> object:
    """The constant key ``node`` reads: ``x["k"]`` or ``x.get("k", ...)``; else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value
    if isinstance(node, ast.Call) and _called(node) == "get" and node.args:
        first = node.args[0]
        return first.value if isinstance(first, ast.Constant) else None
    return None


def _read_from(node: ast.AST) -> ast.AST | None:
    """What ``x["k"]`` or ``x.get("k")`` reads from (x), else None."""
    if isinstance(node, ast.Subscript):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value
    return None


def _raw_reads(function: ast.AST) -> list[int]:
    """Lines where a function that decodes a message also reads the raw one it decodes
    (subscript, ``.get`` or any attribute of the name it hands the decoder)."""
    raw: set[str] = set()
    inside: set[int] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and _called(node) in DECODERS:
            inside |= {id(n) for n in ast.walk(node)}
            for arg in ast.walk(node):
                if isinstance(arg, ast.Name) and arg is not node.func:
                    raw.add(arg.id)
    raw -= DECODERS | {"comm_data", "protocol"}
    return [
        node.lineno
        for node in ast.walk(function)
        if isinstance(node, (ast.Subscript, ast.Attribute))
        and isinstance(node.value, ast.Name)
        and node.value.id in raw
        and id(node) not in inside
    ]


def unchecked_reads(tree: ast.AST) -> list[str]:
    """Where code reads a comm message other than through the protocol's decoders: a cast
    to a message type, a ``.get`` of a field only comm messages have, a Jupyter comm
    message's ``content`` → ``data``, or a receiver that reads the raw message it decodes."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) == "cast" and node.args:
            named = {
                getattr(n, "id", getattr(n, "attr", getattr(n, "value", None)))
                for n in ast.walk(node.args[0])
            }
            if named & MESSAGE_TYPES:
                found.append(f"{node.lineno}: a cast to {sorted(named & MESSAGE_TYPES)[0]}")
        if isinstance(node, ast.Call) and _called(node) == "get" and _key(node) in COMM_ONLY_FIELDS:
            found.append(f"{node.lineno}: .get({_key(node)!r})")
        if _key(node) == "data" and _key(_read_from(node) or node) == "content":
            found.append(f"{node.lineno}: a comm message's content.data")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [f"{line}: reads the message it decodes" for line in _raw_reads(node)]
    return sorted(set(found), key=lambda text: int(text.split(":")[0]))


def test_comm_messages_are_read_only_through_the_decoders():
    """A comm message is read through ``protocol.decode_*`` where it arrives, and typed
    reads follow; the server's transports hand the comm's data to the bridge unread."""
    transports = PACKAGE / "server" / "kernels" / "transport"
    broken = [
        f"{path.relative_to(PACKAGE)}:{where}"
        for path in _outside_the_protocol()
        if transports not in path.parents
        for where in unchecked_reads(ast.parse(path.read_text()))
    ]
    assert broken == []
    decoding = {
        path.relative_to(PACKAGE).as_posix()
        for path in _outside_the_protocol()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _called(node) in DECODERS
    }
    assert decoding == {"server/kernels/bridge.py", "kernel/link.py"}


OLD_RECEIVERS = """
def on_msg(self, msg):
    data = msg.get("content", {}).get("data") or {}
    if data.get("op") == "batch":
        for message in cast(BatchMessage, data)["messages"]:
            self.handle(message)
def handle(self, bridge, data):
    self._watch(bridge, str(data.get("vid")), data.get("inputs"))
def _on_message(self, comm_id, data, buffers):
    message = protocol.decode_from_kernel(data)
    if data["op"] == "frame":
        self._on_frame(message, buffers)
def fine(self, msg, data):
    message = decode_from_server(comm_data(msg))
    self.publish(msg, message["op"], data.get("status"), data.get("text"))
"""


def test_the_decoder_rule_finds_the_old_receivers():
    assert [line.split(": ", 1)[1] for line in unchecked_reads(ast.parse(OLD_RECEIVERS))] == [
        "a comm message's content.data",
        ".get('op')",
        "a cast to BatchMessage",
        ".get('vid')",
        "reads the message it decodes",
    ]
    assert {"op", "rid", "vid", "qid", "seq", "credit", "protocol"} <= COMM_ONLY_FIELDS
    assert (
        set().union(
            *(
                _fields(getattr(protocol, n))
                for n in MESSAGE_TYPES
                if typing.is_typeddict(getattr(protocol, n))
            )
        )
        > SHARED_KEYS
    )


def _spells_a_label(node: ast.AST, labels: tuple[str, ...]) -> bool:
    """A string that starts with "<label>:", or a ``startswith`` call given a label."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(tuple(f"{label}:" for label in labels))
    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "startswith":
        given = [n.value for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Constant)]
        return any(isinstance(text, str) and text.startswith(labels) for text in given)
    return False


def test_error_texts_are_never_spelled_outside_the_protocol():
    """An error's kind is an ErrorKind; its text's label ("cancelled: ...") is written only
    by protocol.run_error, and nothing reads a label off the text to learn the kind."""
    labels = tuple(LABELS.values())
    spelled = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for layer in ("server", "kernel")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if _spells_a_label(node, labels)
    ]
    assert spelled == []
    old_status_of = ast.parse('if error.startswith(("KernelGone", "cancelled")): pass')
    assert any(_spells_a_label(node, labels) for node in ast.walk(old_status_of))


def test_each_layer_imports_only_what_it_may():
    broken = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for name in imported_modules(path) & forbidden:
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not broken


def test_contract_imports_only_itself_and_the_standard_library():
    """And jsonschema, the validator of the request schemas, which it imports lazily."""
    allowed = sys.stdlib_module_names | {"__future__", "jsonschema"}
    broken = []
    for path in sorted((PACKAGE / "contract").rglob("*.py")):
        for name in sorted(resolved_imports(path)):
            if name.split(".")[0] not in allowed and not (
                name == "jupyter_inferless.contract"
                or name.startswith("jupyter_inferless.contract.")
            ):
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not broken


def modules_loaded_by(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has loaded after ``imports``."""
    code = f"import sys, {imports}; print(','.join(m for m in {watched!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_server_side_never_imports_torch_or_ipython():
    imports = "jupyter_inferless, jupyter_inferless.server.app, jupyter_inferless.client"
    assert modules_loaded_by(imports, ("torch", "IPython", "ipykernel")) == []


KERNEL_SIDE = (
    "jupyter_inferless.magics",
    "jupyter_inferless.kernel",
    "jupyter_inferless.kernel.model",
    "jupyter_inferless.kernel.model.model_dir",
    "jupyter_inferless.kernel.runtime",
)


def test_the_server_process_never_loads_the_kernel_side():
    # The model directory loader imports user files and changes sys.path: kernel only.
    imports = "jupyter_inferless, jupyter_inferless.server.app, jupyter_inferless.client"
    assert modules_loaded_by(imports, KERNEL_SIDE) == []


def test_the_contract_loads_neither_side():
    watched = (*KERNEL_SIDE, "jupyter_inferless.server", "jupyter_inferless.widget", "yaml")
    assert modules_loaded_by("jupyter_inferless.contract", watched) == []


def test_importing_the_package_is_cheap():
    assert modules_loaded_by("jupyter_inferless", ("tornado", "IPython", "torch", "zmq")) == []


def test_no_error_class_name_is_defined_twice():
    """One root per side: ``InferlessError`` (the package's) and ``ClientError`` (the
    client's) are each defined once, and no other class takes their names."""
    defined: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                defined.setdefault(node.name, []).append(where)
    assert len(defined["InferlessError"]) == 1, defined["InferlessError"]
    assert len(defined["ClientError"]) == 1, defined["ClientError"]


def test_all_names_the_public_api():
    for name in jupyter_inferless.__all__:
        assert hasattr(jupyter_inferless, name), name
    public = {
        name
        for name, value in vars(jupyter_inferless).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", "").startswith("jupyter_inferless")
    }
    assert public <= set(jupyter_inferless.__all__), public - set(jupyter_inferless.__all__)


def test_the_exported_classes_are_imported_on_first_use():
    assert {"Served", "StreamCancelled", "StreamView"} <= set(jupyter_inferless.__all__)
    lazy = ("jupyter_inferless.widget", "jupyter_inferless.kernel.runtime", "ipywidgets")
    assert modules_loaded_by("jupyter_inferless", lazy) == []
    from jupyter_inferless.kernel.runtime import Served
    from jupyter_inferless.widget import StreamView

    assert jupyter_inferless.Served is Served
    assert jupyter_inferless.StreamView is StreamView
    cancelled = jupyter_inferless.StreamCancelled
    assert issubclass(cancelled, BaseException) and not issubclass(cancelled, Exception)
