"""Export to an Inferless model directory, without kernels: which model, what app.py
carries, the refusals, the pins, the files written, and the command line."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_inferless.cli import main
from jupyter_inferless.export import export_notebook
from jupyter_inferless.export.packages import release, requirements
from jupyter_inferless.kernel.model.model_dir import read_runtime_config
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
DEMO = ROOT / "notebooks" / "text_generation.ipynb"
SHOUTER = ROOT / "notebooks" / "shouter"


def load_app(outdir: Path) -> dict:
    """Run app.py as Inferless would import it; its namespace."""
    namespace: dict = {"__name__": "app"}
    exec(compile((outdir / "app.py").read_text(), "app.py", "exec"), namespace)
    return namespace


def load_schema(outdir: Path) -> dict:
    namespace: dict = {}
    exec((outdir / "input_schema.py").read_text(), namespace)
    return {key: namespace[key] for key in ("INPUT_SCHEMA", "IS_STREAMING_OUTPUT")}


# Which model, and what app.py carries.


def test_the_demo_notebook_exports_its_model_and_nothing_else(tmp_path):
    outdir = tmp_path / "tiny-lm"
    exported = export_notebook(DEMO, outdir)
    assert exported.files == [
        "app.py", "input_schema.py", "inferless-runtime-config.yaml", "README.md"
    ]  # fmt: skip
    app = (outdir / "app.py").read_text()
    tree = ast.parse(app)
    assert [type(node).__name__ for node in tree.body] == [
        "Expr", "Import", "ImportFrom", "Assign", "ClassDef"
    ]  # fmt: skip
    assert "from jupyter_inferless.demo import load_tiny_lm" in app
    for scratch in ("view", "Client", "curl", "json", "shutil", "endpoint", "%"):
        assert scratch not in app
    schema = load_schema(outdir)
    assert schema["IS_STREAMING_OUTPUT"] is True
    assert schema["INPUT_SCHEMA"]["prompt"] == {
        "datatype": "STRING",
        "required": True,
        "shape": [1],
        "example": ["There is a fine house in the forest"],
    }
    assert set(schema["INPUT_SCHEMA"]) == {"prompt", "max_new_tokens", "seed"}
    config = read_runtime_config(outdir / "inferless-runtime-config.yaml")
    version = release(importlib.metadata.version("jupyter_inferless"))
    assert config == {
        "build": {
            "cuda_version": "12.4.1",
            "system_packages": [],
            "python_packages": [f"jupyter_inferless=={version}"],
        }
    }
    readme = (outdir / "README.md").read_text()
    assert "jupyter inferless serve tiny-lm --name tiny-lm" in readme
    assert "| `max_new_tokens` | INT32 | [1] | no | `[64]` |" in readme


def test_a_class_served_under_another_name_is_exposed_as_inferless_python_model(tmp_path):
    path = notebook(
        tmp_path,
        "import jupyter_inferless",
        'SUFFIX = "!"',
        DECORATE,
        MODEL.replace("Echo", "FormattingSlip"),
        """
        jupyter_inferless.serve(
            FormattingSlip,
            name="slip",
            input_schema={"text": {"datatype": "STRING", "required": True, "shape": [1]}},
            streaming=True,
        )
        """,
    )
    outdir = export(path)
    app = load_app(outdir)
    assert app["InferlessPythonModel"] is app["FormattingSlip"]
    assert app["decorate"]("a") == "a!"
    assert "import jupyter_inferless" not in (outdir / "app.py").read_text()  # unused
    assert load_schema(outdir) == {
        "INPUT_SCHEMA": {"text": {"datatype": "STRING", "required": True, "shape": [1]}},
        "IS_STREAMING_OUTPUT": True,
    }
    config = yaml.safe_load((outdir / "inferless-runtime-config.yaml").read_text())
    assert config["build"]["python_packages"] == []


def test_the_magic_line_names_the_model_and_the_default_name_is_the_class(tmp_path):
    path = notebook(tmp_path, "%load_ext jupyter_inferless", SCHEMA, 'SUFFIX = "?"', DECORATE,
                    MODEL, "%inferless serve Echo")  # fmt: skip
    outdir = export(path, "Echo")
    assert load_app(outdir)["InferlessPythonModel"]().infer is not None
    assert "InferlessPythonModel = Echo" in (outdir / "app.py").read_text()


def test_an_instance_served_exports_its_class(tmp_path):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "?"', DECORATE, MODEL, "model = Echo()",
                    "%inferless serve model --name echo")  # fmt: skip
    assert "class Echo" in (export(path) / "app.py").read_text()


def test_an_instance_made_by_a_function_is_a_variable_made_interactively(tmp_path):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "?"', DECORATE, MODEL,
                    "def make():\n    return Echo()", "model = make()",
                    "%inferless serve model --name echo")  # fmt: skip
    assert "the variable 'model' is made interactively in cell 6 (`model = make()`)" in (
        refusal(path)
    )


def test_several_models_need_model_and_an_unknown_one_lists_the_names(tmp_path):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "?"', DECORATE, MODEL,
                    "%inferless serve Echo --name a\n%inferless serve Echo --name b")  # fmt: skip
    assert "serves several models (a, b); choose one with --model NAME" in refusal(path)
    assert "serves no model named 'c' (it serves: a, b)" in refusal(path, "c")
    assert (export(path, "b") / "app.py").is_file()


def test_a_notebook_that_serves_nothing_is_refused(tmp_path):
    path = notebook(tmp_path, SCHEMA, MODEL)
    assert "serves no model: it has no `%inferless serve` line" in refusal(path)


def test_the_closure_is_transitive_and_takes_the_last_definition(tmp_path):
    path = notebook(
        tmp_path,
        SCHEMA,
        "import os\nimport math as m\nfrom functools import wraps, partial",
        "BASE = 2\nPOWER = BASE ** 3\nUNUSED = 1",
        "def decorate(text):\n    return 'old'",
        "print('scratch')\nscratch = 3",
        """
        def logged(fn):
            @wraps(fn)
            def wrapper(*args):
                return fn(*args)
            return wrapper

        class Base:
            def helper(self, text):
                return text + str(POWER) + str(m.floor(1.5))
        """,
        """
        @logged
        def decorate(text):
            return Base().helper(text) + SUFFIX

        SUFFIX = "!"
        """,
        MODEL,
        SERVE,
    )
    outdir = export(path)
    text = (outdir / "app.py").read_text()
    assert "return 'old'" not in text and "scratch" not in text and "UNUSED" not in text
    assert "import os" not in text and "partial" not in text
    assert "from functools import wraps" in text and "import math as m" in text
    assert load_app(outdir)["decorate"]("a") == "a81!"


def test_a_name_rebuilt_from_itself_keeps_both_statements(tmp_path):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "a"', 'SUFFIX = SUFFIX + "b"', DECORATE, MODEL,
                    SERVE)  # fmt: skip
    assert load_app(export(path))["decorate"]("x") == "xab"


def test_magics_and_shell_escapes_are_not_work(tmp_path):
    path = notebook(
        tmp_path,
        SCHEMA,
        '%load_ext jupyter_inferless\n!echo hello\nSUFFIX = "!"',
        DECORATE + "\n%timeit decorate('a')",
        MODEL + "\n" + SERVE,
    )
    assert load_app(export(path))["decorate"]("x") == "x!"


# Refusals: each names the offending thing and where it is.


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("SUFFIX = input()", "SUFFIX = input()"),
        ('SUFFIX = "!" * int("3")', 'SUFFIX = "!" * int("3")'),
        ('for SUFFIX in ["a", "b"]:\n    pass', "for SUFFIX in"),
        ('SUFFIX = "a"\nSUFFIX += "b"', 'SUFFIX += "b"'),
        ("SUFFIX = !echo hi", "SUFFIX = get_ipython().getoutput('echo hi')"),
        ('with open(__file__ if False else "x") as f:\n    SUFFIX = "!"', "with open("),
    ],
)
def test_a_variable_made_interactively_is_refused(tmp_path, cell, shown):
    path = notebook(tmp_path, SCHEMA, cell, DECORATE, MODEL, SERVE)
    message = refusal(path)
    assert "the variable 'SUFFIX' is made interactively in cell 2" in message
    assert f"(`{shown}" in message


def test_a_definition_from_a_cell_that_also_does_other_work_is_refused(tmp_path):
    path = notebook(
        tmp_path, SCHEMA, 'SUFFIX = "!"', DECORATE + '\nprint(decorate("test"))', MODEL, SERVE
    )
    assert refusal(path) == (
        "cannot export 'echo' from model.ipynb: the function 'decorate' is defined in cell 3, "
        'which also does other work (`print(decorate("test"))`); move the definitions to a '
        "cell of their own"
    )


def test_a_constant_changed_in_place_later_is_refused(tmp_path):
    decorate = 'def decorate(text):\n    return text + "".join(PARTS)'
    path = notebook(tmp_path, SCHEMA, 'PARTS = ["!"]', 'PARTS.append("?")', decorate, MODEL, SERVE)
    assert "'PARTS' (defined in cell 2) is changed in place in cell 3 (`PARTS.append" in (
        refusal(path)
    )


@pytest.mark.parametrize(
    "use",
    ['open("weights.pt").read()', 'torch.load("weights.pt")', 'Path("data/train.csv")'],
)
def test_a_local_file_is_refused(tmp_path, use):
    (tmp_path / "weights.pt").write_bytes(b"\0")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,b\n")
    path = notebook(
        tmp_path,
        SCHEMA,
        "from pathlib import Path\nimport torch",
        f'SUFFIX = "!"\n\ndef decorate(text):\n    return str({use})',
        MODEL,
        SERVE,
    )
    file = use.split('"')[1]
    assert f"the model reads the local file {file!r} (cell 3: `def decorate(text):`)" in (
        refusal(path)
    )


def test_a_string_that_names_no_file_is_not_a_local_file(tmp_path):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "model.pt"', DECORATE, MODEL, SERVE)
    assert load_app(export(path))["SUFFIX"] == "model.pt"


@pytest.mark.parametrize("cell", ["%run helpers.py", "exec('SUFFIX = 1')"])
def test_a_name_defined_by_no_cell_is_refused(tmp_path, cell):
    path = notebook(tmp_path, SCHEMA, cell, DECORATE, MODEL, SERVE)
    message = refusal(path)
    assert "the name 'SUFFIX' (used in cell 3) is not defined by any cell" in message


def test_every_problem_is_listed(tmp_path):
    path = notebook(tmp_path, SCHEMA, "SUFFIX = input()", DECORATE + "\nprint(1)", MODEL, SERVE)
    message = refusal(path)
    assert message.startswith("cannot export 'echo' from model.ipynb:\n  - ")
    assert "'SUFFIX' is made interactively in cell 2" in message
    assert "the function 'decorate' is defined in cell 3" in message


def test_a_schema_made_interactively_is_refused(tmp_path):
    path = notebook(
        tmp_path,
        "import json\nINPUT_SCHEMA = json.loads('{}')\nIS_STREAMING_OUTPUT = True",
        'SUFFIX = "!"',
        DECORATE,
        MODEL,
        SERVE,
    )
    assert "the variable 'INPUT_SCHEMA' is made interactively in cell 1" in refusal(path)


def test_a_schema_that_breaks_the_rules_is_refused(tmp_path):
    schema = SCHEMA.replace('"STRING"', '"FP32"')
    path = notebook(tmp_path, schema, 'SUFFIX = "!"', DECORATE, MODEL, SERVE)
    assert "INPUT_SCHEMA['text']" in refusal(path)


def test_local_and_missing_modules_are_refused(tmp_path):
    (tmp_path / "helpers.py").write_text("def shout(text):\n    return text.upper()\n")
    imports = "from helpers import shout\nimport not_a_module_here"
    decorate = "def decorate(text):\n    return shout(not_a_module_here.f(text))"
    path = notebook(tmp_path, SCHEMA, imports, decorate, MODEL, SERVE)
    message = refusal(path)
    assert "the module 'helpers' is a local file next to the notebook" in message
    assert "the module 'not_a_module_here' is not installed here" in message


# Pins.


def test_packages_are_pinned_by_distribution_and_stdlib_stays_out(tmp_path):
    pins = requirements({"yaml", "numpy", "torch", "os", "json", "__future__"}, tmp_path, "m")
    torch = release(importlib.metadata.version("torch"))
    assert pins == [
        f"numpy=={importlib.metadata.version('numpy')}",
        f"PyYAML=={importlib.metadata.version('PyYAML')}",
        f"torch=={torch}",
    ]
    assert release("2.13.0+cpu") == "2.13.0" and release("1.0") == "1.0"


def test_imports_inside_functions_are_pinned_too(tmp_path):
    model = MODEL.replace(
        "    def infer", "    def initialize(self):\n        import yaml\n\n    def infer"
    )
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "!"', DECORATE, model, SERVE)
    config = yaml.safe_load((export(path) / "inferless-runtime-config.yaml").read_text())
    assert config["build"]["python_packages"] == [f"PyYAML=={importlib.metadata.version('PyYAML')}"]


def test_a_non_streaming_model_asks_for_no_cuda_version(tmp_path):
    model = """
    class Sum:
        def infer(self, inputs):
            return {"total": inputs["a"] + 1}
    """
    schema = 'INPUT_SCHEMA = {"a": {"datatype": "INT32", "required": True, "shape": [1]}}'
    path = notebook(tmp_path, schema, model, "%inferless serve Sum --name sum")
    outdir = export(path)
    assert load_schema(outdir)["IS_STREAMING_OUTPUT"] is False
    config = yaml.safe_load((outdir / "inferless-runtime-config.yaml").read_text())
    assert config == {"build": {"system_packages": [], "python_packages": []}}


# A model directory the notebook serves.


def test_a_served_model_directory_is_copied_with_a_merged_runtime_config(tmp_path):
    folder = tmp_path / "shouter"
    shutil.copytree(SHOUTER, folder)
    (folder / "helper.py").write_text("import yaml\n")
    (folder / "inferless-runtime-config.yaml").write_text(
        "build:\n  cuda_version: '12.1.1'\n  system_packages: [libgl1]\n"
        "  python_packages: ['PyYAML==6.0']\n  run: ['echo ready']\n"
    )
    path = notebook(tmp_path, "%load_ext jupyter_inferless", "%inferless serve shouter")
    outdir = export(path)
    assert sorted(p.name for p in outdir.iterdir()) == [
        "README.md", "app.py", "helper.py", "inferless-runtime-config.yaml", "input_schema.py"
    ]  # fmt: skip
    assert (outdir / "app.py").read_text() == (SHOUTER / "app.py").read_text()
    assert load_schema(outdir)["INPUT_SCHEMA"]["upper"] == {
        "datatype": "BOOL", "required": False, "shape": [1], "example": [True]
    }  # fmt: skip
    assert read_runtime_config(outdir / "inferless-runtime-config.yaml") == {
        "build": {
            "cuda_version": "12.4.1",
            "system_packages": ["libgl1"],
            "python_packages": ["PyYAML==6.0"],
            "run": ["echo ready"],
        }
    }


# The command line.


def test_the_command_line_refuses_on_stderr_with_exit_code_2(tmp_path, capsys):
    path = notebook(tmp_path, SCHEMA, "SUFFIX = input()", DECORATE, MODEL, SERVE)
    assert main(["export", str(path), str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith("error: cannot export 'echo' from model.ipynb: the variable 'SUFFIX'")


def test_the_command_line_writes_and_will_not_write_over_a_directory(tmp_path, capsys):
    path = notebook(tmp_path, SCHEMA, 'SUFFIX = "!"', DECORATE, MODEL, SERVE)
    outdir = tmp_path / "out"
    assert main(["export", str(path), str(outdir), "--model", "echo"]) == 0
    assert f"exported 'echo' to {outdir}" in capsys.readouterr().out
    assert main(["export", str(path), str(outdir)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["export", str(path), str(outdir), "--force"]) == 0


def test_jupyter_inferless_export_runs_as_a_command(tmp_path):
    missing = subprocess.run(
        [sys.executable, "-m", "jupyter_inferless.cli", "export", str(tmp_path / "no.ipynb"),
         str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "no.ipynb does not exist" in missing.stderr


# inferless-cli's own offline checks of a model directory.

CLI_CHECKS = """
import json, sys
from inferless_cli.commands.run.helpers import create_input_from_schema, load_yaml_file
from inferless_cli.utils.validators import validate_remote_run_code

validate_remote_run_code("app.py")
inputs = create_input_from_schema("input_schema.py")
with open("inferless-runtime-config.yaml") as config:
    image = load_yaml_file(config, "##base_image##:##version_tag##\\n##piplibraries##")
print(json.dumps({"inputs": inputs, "image": image}))
"""


def inferless_cli_python() -> str | None:
    """A Python with inferless-cli: this one, or $INFERLESS_CLI_PYTHON (inferless-cli pins
    numpy<2, rich<13 and pytest<9, so it is not in the test extra)."""
    if importlib.util.find_spec("inferless_cli") is not None:
        return sys.executable
    return os.environ.get("INFERLESS_CLI_PYTHON")


@pytest.mark.skipif(
    inferless_cli_python() is None,
    reason="inferless-cli is not installed (set INFERLESS_CLI_PYTHON to a Python that has it)",
)
def test_inferless_cli_offline_checks_accept_the_export(tmp_path):
    outdir = tmp_path / "tiny-lm"
    export_notebook(DEMO, outdir)
    python = inferless_cli_python()
    assert python is not None
    done = subprocess.run(
        [python, "-c", CLI_CHECKS], cwd=outdir, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    checked = json.loads(done.stdout.splitlines()[-1])
    assert checked["inputs"]["inputs"][0] == {
        "name": "prompt",
        "shape": [1],
        "data": ["There is a fine house in the forest"],
        "datatype": "BYTES",
    }
    assert [item["name"] for item in checked["inputs"]["inputs"]] == [
        "prompt", "max_new_tokens", "seed"
    ]  # fmt: skip
    version = release(importlib.metadata.version("jupyter_inferless"))
    assert checked["image"].splitlines() == [
        "nvcr.io/nvidia/tritonserver:24.05-py3",  # what inferless-cli builds for CUDA 12.4.1
        f"RUN pip install jupyter_inferless=={version} ",
    ]
