"""The code's shape: each process's modules in their folder, no import circle, no module over 400 lines, and
every module name written as a string imports."""
import ast
import importlib
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "horovod_spark_ml"
# What rank/ may import of the package besides rank/ itself: the modules the driver and the ranks share.
SHARED_WITH_RANKS = ("horovod_spark_ml.training.messages", "horovod_spark_ml.training.run_folder",
                     "horovod_spark_ml.training.network", "horovod_spark_ml.data.", "horovod_spark_ml.keras_bytes",
                     "horovod_spark_ml.errors", "horovod_spark_ml.quiet_tensorflow")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "horovod_build" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield (".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)), path


MODULES = dict(_modules())


def _imports(module, path):
    """The package's modules that ``module`` imports, at its top or inside its functions."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_the_ranks_code_imports_only_itself_and_what_it_shares_with_the_driver():
    rank = "horovod_spark_ml.training.rank"
    wrong = {module: sorted(name for name in imported if not name.startswith(rank) and name != "horovod_spark_ml"
                            and not name.startswith(SHARED_WITH_RANKS))
             for module, imported in GRAPH.items() if module.startswith(rank)}
    assert {module: names for module, names in wrong.items() if names} == {}


def test_no_import_circle_anywhere_in_the_package():
    circles, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for name in sorted(GRAPH[module]):
            if state.get(name) == "open":
                circles.append(trail[trail.index(name):] + [name])
            elif name not in state:
                visit(name, trail + [name])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert circles == []


def _attributes_set_on_imported_names(tree):
    """``name.attr`` targets of assignments and deletions (and ``setattr`` calls) where ``name`` was bound by an
    import: another module's attribute, or an attribute of a class imported from one."""
    imported = {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    found = []
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete)) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            base = target
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(target, ast.Attribute) and isinstance(base, ast.Name) and base.id in imported:
                found.append(f"line {node.lineno}: {ast.unparse(target)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_in_the_package_reassigns_an_attribute_of_another_module_or_its_classes():
    assert {m: found for m, p in MODULES.items() if (found := _attributes_set_on_imported_names(
        ast.parse(p.read_text())))} == {}


def test_the_reassignment_check_finds_each_form_of_it():
    code = ("import socketserver\nfrom horovod.spark import runner as r\nfrom zipimport import zipimporter\n"
            "socketserver.ThreadingTCPServer.serve_forever = f\nr._make_mapper = g\nzipimporter.x += 1\n"
            "del r.gloo_run\nsetattr(r, 'a', 1)\nself.ok = 1\nlocal = []\nlocal.append(1)\n")
    assert len(_attributes_set_on_imported_names(ast.parse(code))) == 5


def test_the_stages_and_the_drivers_run_modules_import_no_horovod():
    """A saved model transforms where Horovod is not installed; Horovod is imported when a fit launches."""
    import subprocess
    import sys
    code = ("import sys, horovod_spark_ml, horovod_spark_ml.estimators.mlp, horovod_spark_ml.estimators.cnn, "
            "horovod_spark_ml.training.driver.runs, horovod_spark_ml.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'horovod'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_no_module_is_over_400_lines():
    assert {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400} == {}


def test_every_module_name_written_as_a_string_imports():
    from horovod_spark_ml.moved_modules import MOVED, PACKAGE as ROOT
    from horovod_spark_ml.training.executor import rank_server, warm_ranks
    names = [*rank_server._PRELOAD, *warm_ranks._TASK_MODULES, warm_ranks.SERVER, warm_ranks.COLD,
             *(f"{ROOT}.{new}" for new in MOVED.values())]
    for name in names:
        importlib.import_module(name)
    assert importlib.import_module("horovod_spark_ml.worker").train.__module__ == "horovod_spark_ml.training.rank.worker"


@pytest.mark.parametrize("folder", ["driver", "executor", "rank"])
def test_each_process_folder_says_what_runs_there(folder):
    assert importlib.import_module(f"horovod_spark_ml.training.{folder}").__doc__
