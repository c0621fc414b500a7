"""Export against hostile notebooks: it reads a notebook and never runs it, what it writes
cannot be broken out of, it follows no symbolic link, and it will not carry a secret
unless told to."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_inferless.cli import main
from jupyter_inferless.export import ExportError, export_notebook
from jupyter_inferless.export.credentials import is_secret_name, shape_of
from jupyter_inferless.export.directory import directory_files
from jupyter_inferless.export.quoting import docstring, one_line
from tests.support.export_notebooks import (
    DECORATE,
    MODEL,
    SCHEMA,
    SERVE,
    export,
    notebook,
    refusal,
)

ROOT = Path(__file__).resolve().parents[1]
SHOUTER = ROOT / "notebooks" / "shouter"
TEXT = '{"datatype": "STRING", "required": True, "shape": [1]}'
OPENAI_KEY = "sk-proj-" + "a1B2c3D4e5" * 4
HF_KEY = "hf_" + "AbCdEfGhIj" * 4


def touches(marker: Path) -> str:
    """Python that creates ``marker``: the proof that code ran."""
    return f"__import__('os').system('touch {marker}')"


# Export reads, never runs.


def test_a_class_body_the_schema_reads_is_not_run(tmp_path):
    marker = tmp_path / "MARKER"
    path = notebook(
        tmp_path,
        "import os",
        f"class S:\n    os.system('touch {marker}')\n    schema = {{'text': {TEXT}}}",
        "INPUT_SCHEMA = S.schema\nIS_STREAMING_OUTPUT = True",
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        SERVE,
    )
    message = refusal(path)
    assert not marker.exists()
    assert message.startswith(
        "cannot export 'echo' from model.ipynb: INPUT_SCHEMA cannot be read without running "
        "the notebook: it reads the attribute `S.schema` (cell 3, line 1: `S.schema`)"
    )
    assert "run `%inferless export echo OUTDIR` in the kernel that serves the model" in message
    assert "pass --execute to `jupyter inferless export`" in message


def test_a_default_argument_the_schema_reads_is_not_run(tmp_path):
    marker = tmp_path / "MARKER"
    path = notebook(
        tmp_path,
        f"def f(x={touches(marker)}):\n    return x",
        "\n\n".join(
            [
                "import jupyter_inferless",
                'SUFFIX = "!"',
                DECORATE.strip(),
                MODEL.strip(),
                "schema = {'text': {'datatype': 'STRING', 'required': True, 'shape': [1], "
                "'example': [f.__name__]}}",
            ]
        ),
        'jupyter_inferless.serve(Echo, name="echo", input_schema=schema, streaming=True)',
    )
    message = refusal(path)
    assert not marker.exists()
    assert (
        "input_schema cannot be read without running the notebook: it reads the attribute "
        "`f.__name__` (cell 2, line 13: `f.__name__`)"
    ) in message


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("make()", "the variable 'INPUT_SCHEMA' is made interactively in cell 3"),
        ("json.loads('{}')", "the variable 'INPUT_SCHEMA' is made interactively in cell 3"),
        ("[x for x in BASE]", "the variable 'INPUT_SCHEMA' is made interactively in cell 3"),
        ("Config", "'Config' is a class, not a literal (cell 1, line 6: `class Config:`)"),
        ("make", "'make' is a function, not a literal (cell 1, line 3: `def make():`)"),
        ("json", "'json' is imported, not a literal"),
        ("Config.schema", "it reads the attribute `Config.schema` (cell 3, line 1"),
        ("f'{BASE!r:>9}'", "an f-string with a format spec is not read"),
        ("'x' * 10", "is not an operation export reads"),
        ("10 ** 100000", "makes too large a number"),
        ("BASE['missing']", "reading it fails: KeyError: 'missing'"),
    ],
)
def test_a_schema_that_needs_running_is_refused_naming_the_cell_and_the_line(
    tmp_path, expression, why
):
    marker = tmp_path / "MARKER"
    path = notebook(
        tmp_path,
        f"import json\n\ndef make():\n    {touches(marker)}\n\n"
        f"class Config:\n    {touches(marker)}",
        f"BASE = {{'text': {TEXT}}}",
        f"\nINPUT_SCHEMA = {expression}\nIS_STREAMING_OUTPUT = True",
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        SERVE,
    )
    message = refusal(path)
    assert not marker.exists()
    assert why in message
    assert "INPUT_SCHEMA cannot be read without running the notebook" in message


def test_a_call_in_the_serve_statement_is_refused_naming_it(tmp_path):
    path = notebook(
        tmp_path,
        f"def make():\n    {touches(tmp_path / 'MARKER')}",
        'import jupyter_inferless\nSUFFIX = "!"',
        DECORATE,
        MODEL,
        "x = 1\njupyter_inferless.serve(\n"
        "    Echo, name='echo', input_schema=make(), streaming=True\n)",
    )
    assert (
        "input_schema cannot be read without running the notebook: it calls `make(…)` "
        "(cell 5, line 3: `make()`)"
    ) in refusal(path)
    assert not (tmp_path / "MARKER").exists()


def test_a_constant_changed_later_is_not_read_as_written(tmp_path):
    path = notebook(
        tmp_path,
        f"BASE = {{'text': {TEXT}}}",
        "def widen():\n    BASE['extra'] = BASE['text']",
        "widen()",
        "INPUT_SCHEMA = BASE\nIS_STREAMING_OUTPUT = True",
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        SERVE,
    )
    assert "'BASE' is changed in place by the function 'widen' of cell 2" in refusal(path)


def test_a_schema_built_from_constants_is_read_without_running(tmp_path):
    path = notebook(
        tmp_path,
        'MAX = 64\nNAME = "text"\nLIMITS = (MAX, MAX * 2)\nLOW, HIGH = LIMITS[0], -1',
        f"TEXT = {TEXT}\nCOUNT = {{'datatype': 'INT32', 'required': False, 'shape': [1]}}",
        """
        INPUT_SCHEMA = {
            NAME: {**TEXT, "example": [f"a {NAME!r}"]},
            "n": {**COUNT, "example": [LIMITS[1] + LOW]},
            "m": {**COUNT, "example": [HIGH if MAX > 10 else 0]},
        }
        IS_STREAMING_OUTPUT = not False
        """,
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        SERVE,
    )
    assert written_values(export(path) / "input_schema.py") == {
        "INPUT_SCHEMA": {
            "text": {"datatype": "STRING", "required": True, "shape": [1], "example": ["a 'text'"]},
            "n": {"datatype": "INT32", "required": False, "shape": [1], "example": [192]},
            "m": {"datatype": "INT32", "required": False, "shape": [1], "example": [-1]},
        },
        "IS_STREAMING_OUTPUT": True,
    }


def written_values(path: Path) -> dict:
    """The literal assignments of a written file, read as literals."""
    tree = ast.parse(path.read_text())
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }


def test_the_export_path_holds_no_exec_eval_or_compile():
    package = ROOT / "jupyter_inferless" / "export"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"exec", "eval", "compile", "__import__"}, path.name


# Names and generated text cannot be broken out of.


@pytest.mark.parametrize(
    "name", ["../../evil", 'x"""y', "a/b", "two\nlines", "it's", "-leading", "x" * 65]
)
def test_a_model_name_that_breaks_the_name_rule_is_refused(tmp_path, name):
    path = notebook(
        tmp_path,
        "import jupyter_inferless",
        SCHEMA,
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        f"jupyter_inferless.serve(Echo, name={name!r})",
    )
    assert f"invalid model name {name!r}: use 1-64 letters" in refusal(path, name)


@pytest.mark.parametrize(
    "file_name",
    [
        'a""";__import__(\'os\').system(\'touch MARKER\');""".ipynb',
        "a'''\\\";__import__('os').system('touch MARKER')#.ipynb",
        "line\nimport os; os.system('touch MARKER')\nbuild: pwned\\.ipynb",
    ],
)
def test_the_notebook_file_name_cannot_inject_code(tmp_path, file_name):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "!"', DECORATE, MODEL, SERVE, name=file_name)
    outdir = export(path)
    imported = subprocess.run(
        [sys.executable, "-c", "import app, input_schema; print(app.__doc__)"],
        cwd=outdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    assert not (outdir / "MARKER").exists() and not (tmp_path / "MARKER").exists()
    assert imported.stdout == f"echo: exported by `jupyter inferless export` from {file_name}.\n"
    config = yaml.safe_load((outdir / "inferless-runtime-config.yaml").read_text())
    assert set(config) == {"build"}
    assert one_line(file_name) in (outdir / "README.md").read_text()


@pytest.mark.parametrize(
    "text", ['"""', "\\", "a\\", '"', "'''", "\n\r\x00\u2028", 'x"""; import os; """', "é ✓"]
)
def test_a_docstring_holds_any_text_exactly(text):
    written = docstring(text)
    assert ast.literal_eval(written) == text
    assert ast.get_docstring(ast.parse(written + "\nX = 1"), clean=False) == text
    assert "\n" not in written


def test_a_class_served_under_a_name_that_is_no_identifier_is_refused():
    from jupyter_inferless.export.appfile import render_app
    from jupyter_inferless.export.closure import Carried

    with pytest.raises(ExportError, match="is not a class name"):
        render_app(Carried(), "x; import os", "header", "'m'")


# Symbolic links are not followed out of a model directory.


def test_a_symlink_in_a_served_model_directory_is_refused_and_not_copied(tmp_path):
    secret = tmp_path / "private" / "credentials.txt"
    secret.parent.mkdir()
    secret.write_text("the secret\n")
    folder = tmp_path / "shouter"
    shutil.copytree(SHOUTER, folder)
    (folder / "weights").mkdir()
    (folder / "weights" / "notes.txt").symlink_to(secret)
    (folder / "private").symlink_to(secret.parent)
    path = notebook(tmp_path, "%load_ext jupyter_inferless", "%inferless serve shouter")
    message = refusal(path)
    assert f"'weights/notes.txt' in 'shouter' is a symbolic link to {str(secret)!r}" in message
    assert f"'private' in 'shouter' is a symbolic link to {str(secret.parent)!r}" in message
    assert "follows no link" in message
    assert not list(tmp_path.glob("exported*"))


def test_a_symlink_that_stays_inside_the_directory_is_refused_too(tmp_path):
    folder = tmp_path / "shouter"
    shutil.copytree(SHOUTER, folder)
    (folder / "copy.py").symlink_to("app.py")
    with pytest.raises(
        ExportError, match=r"'copy\.py' in 'shouter' is a symbolic link to 'app\.py'"
    ):
        directory_files(folder, "shouter", None, None, "'shouter'")


def test_export_writes_no_file_through_a_symlink_in_outdir(tmp_path):
    target = tmp_path / "elsewhere.py"
    target.write_text("kept = True\n")
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "!"', DECORATE, MODEL, SERVE)
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "app.py").symlink_to(target)
    with pytest.raises(ExportError, match=r"holds a symbolic link 'app\.py'"):
        export_notebook(path, outdir, force=True)
    assert target.read_text() == "kept = True\n"


# Likely secrets are refused unless --allow-secrets.


def model_with(*cells: str) -> tuple[str, ...]:
    """The Echo model, its decorate() reading the names of these cells."""
    return (SCHEMA, *cells, "def decorate(text):\n    return text + str(USED)", MODEL, SERVE)


def test_a_secret_constant_is_refused_and_exported_when_allowed(tmp_path):
    path = notebook(tmp_path, *model_with(f'API_KEY = "{OPENAI_KEY}"\nUSED = API_KEY'))
    message = refusal(path)
    assert message == (
        "cannot export 'echo' from model.ipynb: the constant 'API_KEY' (cell 2, line 1) looks "
        "like a secret: its name ends in a word that names a credential and its value is "
        "written here, so the exported app.py would carry it in plain text. Read it from the "
        'environment instead: `import os` and `API_KEY = os.environ["API_KEY"]`, and set '
        "API_KEY as a secret or environment variable of the model on Inferless; or pass "
        "--allow-secrets to export it as it is"
    )
    assert OPENAI_KEY not in message
    outdir = export(path, allow_secrets=True)
    assert f'API_KEY = "{OPENAI_KEY}"' in (outdir / "app.py").read_text()


def test_a_key_shaped_string_is_refused_whatever_its_name(tmp_path):
    path = notebook(
        tmp_path,
        SCHEMA,
        f'USED = "{HF_KEY}"',
        f'def decorate(text):\n    return text + USED + "{OPENAI_KEY}"',
        MODEL,
        SERVE,
    )
    message = refusal(path)
    assert (
        "the constant 'USED' (cell 2, line 1) looks like a secret: its value holds a "
        "Hugging Face token"
    ) in message
    assert "a string in cell 3, line 2 ('sk-p…') looks like an OpenAI API key" in message
    assert 'os.environ["OPENAI_API_KEY"]' in message
    assert HF_KEY not in message and OPENAI_KEY not in message


def test_a_secret_read_from_the_environment_is_exported_without_running(tmp_path):
    path = notebook(
        tmp_path,
        *model_with(
            "import os\nfrom os import getenv",
            'HF_TOKEN = os.environ["HF_TOKEN"]\nOPENAI_API_KEY = os.getenv("OPENAI_API_KEY", "")\n'
            'DB_PASSWORD = getenv("DB_PASSWORD")\nAWS_KEY = os.environ.get("AWS_KEY")\n'
            "USED = (HF_TOKEN, OPENAI_API_KEY, DB_PASSWORD, AWS_KEY)",
        ),
    )
    app = (export(path) / "app.py").read_text()
    assert 'HF_TOKEN = os.environ["HF_TOKEN"]' in app
    assert 'OPENAI_API_KEY = os.getenv("OPENAI_API_KEY", "")' in app
    assert "import os" in app and "from os import getenv" in app


def test_ordinary_names_are_not_secrets(tmp_path):
    path = notebook(
        tmp_path,
        *model_with(
            'TOKENIZER_NAME = "gpt2"\nKEY_COLUMNS = ["a"]\nmax_tokens = "64"\nMONKEY = "x"\n'
            'EOS_TOKEN = "</s>"\nMODEL_ID = "sk-learn-classifier"\n'
            "USED = (TOKENIZER_NAME, KEY_COLUMNS, max_tokens, MONKEY, EOS_TOKEN, MODEL_ID)"
        ),
    )
    assert 'TOKENIZER_NAME = "gpt2"' in (export(path) / "app.py").read_text()


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("API_KEY", True), ("HF_TOKEN", True), ("DB_PASSWORD", True), ("openai_api_key", True),
        ("apiKey", True), ("SECRET", True), ("AWS_SECRET_ACCESS_KEY", True), ("TOKEN_2", True),
        ("TOKENIZER_NAME", False), ("KEY_COLUMNS", False), ("max_tokens", False),
        ("MONKEY", False), ("EOS_TOKEN", False), ("pad_token", False), ("KEYS", False),
    ],
)  # fmt: skip
def test_secret_names_are_matched_on_word_boundaries(name, secret):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (OPENAI_KEY, "an OpenAI API key"),
        (f"Bearer {OPENAI_KEY}", "an OpenAI API key"),
        (HF_KEY, "a Hugging Face token"),
        ("AKIA" + "ABCDEFGH23456789", "an AWS access key id"),
        ("ghp_" + "aB3" * 12, "a GitHub token"),
        ("xoxb-" + "1234567890-abcdef", "a Slack token"),
        ("sk-learn-classifier-for-text", None),
        ("hf_internal_testing_tiny_model", None),
        ("AKIA-not-a-key", None),
        ("task-1234567890123456789012", None),
    ],
)
def test_key_shapes(value, shape):
    found = shape_of(value)
    assert (found.what if found else None) == shape


def test_a_secret_in_a_served_model_directory_is_refused(tmp_path):
    folder = tmp_path / "shouter"
    shutil.copytree(SHOUTER, folder)
    (folder / "settings.py").write_text(f'HF_TOKEN = "{HF_KEY}"\n')
    with pytest.raises(ExportError, match=r"the constant 'HF_TOKEN' \(settings.py, line 1\)"):
        directory_files(folder, "shouter", None, None, "'shouter'")
    assert directory_files(folder, "shouter", None, None, "'shouter'", allow_secrets=True).copies


# --execute: the one way export runs a notebook, and only when asked.


def test_execute_runs_the_notebook_in_a_fresh_kernel_then_exports(tmp_path):
    from jupyter_inferless.export import export_executed

    ran = tmp_path / "RAN"
    path = notebook(
        tmp_path,
        "%load_ext jupyter_inferless",
        f'import json\n{touches(ran)}\nINPUT_SCHEMA = json.loads(\'{{"text": '
        '{"datatype": "STRING", "required": true, "shape": [1]}}\')\nIS_STREAMING_OUTPUT = True',
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        SERVE,
        "raise RuntimeError('cells after the one that serves the model do not run')",
    )
    assert "the variable 'INPUT_SCHEMA' is made interactively in cell 2" in refusal(path)
    assert not ran.exists()
    said: list[str] = []

    def say(text: str) -> None:
        assert not ran.exists()  # said before anything runs
        said.append(text)

    outdir = tmp_path / "out"
    printed = export_executed(path, outdir, say=say)
    assert ran.exists()
    assert said == [
        "executing model.ipynb in a fresh python3 kernel: its code cells 1-6 run now (up to "
        "the one that serves 'echo'), then the export runs in that kernel"
    ]
    assert printed.startswith(f"exported 'echo' to {outdir}: app.py, input_schema.py")
    schema = (outdir / "input_schema.py").read_text()
    assert '"text": {"datatype": "STRING", "required": True, "shape": [1]}' in schema
    app = (outdir / "app.py").read_text()
    assert "INPUT_SCHEMA" not in app and "json" not in app and "class Echo" in app


def test_execute_reports_the_cell_that_failed(tmp_path):
    from jupyter_inferless.export import export_executed

    path = notebook(tmp_path, SCHEMA, "SUFFIX = 1 / 0", DECORATE, MODEL, SERVE)
    with pytest.raises(ExportError) as raised:
        export_executed(path, tmp_path / "out", say=lambda _: None)
    assert str(raised.value) == (
        "running model.ipynb failed in cell 2: ZeroDivisionError: division by zero; "
        "nothing was exported"
    )
    assert not (tmp_path / "out").exists()


# The command line: --allow-secrets, and --execute (which runs %inferless export in the kernel).


def test_the_command_line_refuses_a_secret_unless_allow_secrets(tmp_path, capsys):
    path = notebook(tmp_path, *model_with(f'API_KEY = "{OPENAI_KEY}"\nUSED = API_KEY'))
    outdir = tmp_path / "out"
    assert main(["export", str(path), str(outdir)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "the constant 'API_KEY' (cell 2, line 1) looks like a secret" in err
    assert not outdir.exists()
    assert main(["export", str(path), str(outdir), "--allow-secrets"]) == 0
    assert f"exported 'echo' to {outdir}" in capsys.readouterr().out


def test_the_command_line_executes_when_asked_and_the_kernel_refuses_a_secret(tmp_path, capsys):
    path = notebook(
        tmp_path,
        "%load_ext jupyter_inferless",
        f"import json\nINPUT_SCHEMA = json.loads('{{\"text\": {TEXT.replace('True', 'true')}}}')",
        f'API_KEY = "{OPENAI_KEY}"\nSUFFIX = API_KEY[:0] + "!"',
        DECORATE,
        MODEL,
        SERVE,
    )
    outdir = tmp_path / "out"
    assert main(["export", "--allow-secrets", str(path), str(outdir)]) == 2
    assert "pass --execute to `jupyter inferless export`" in capsys.readouterr().err

    assert main(["export", "--execute", str(path), str(outdir)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("executing model.ipynb in a fresh python3 kernel: its code cells 1-6")
    assert "the constant 'API_KEY' (In [3], line 1) looks like a secret" in err
    assert not outdir.exists()

    assert main(["export", "--execute", "--allow-secrets", str(path), str(outdir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("executing model.ipynb") and f"exported 'echo' to {outdir}" in out
    assert '"text": {"datatype": "STRING", "required": True, "shape": [1]}' in (
        (outdir / "input_schema.py").read_text()
    )
