"""The package's shape: every import points down the layers (docs/architecture.md), never
sideways to another room of the same floor, so there is no cycle; the architecture diagram
draws exactly the imports there are; and importing any module changes no environment
variable, starts no thread and initialises no MPI."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import oraclenet

ROOT = Path(__file__).resolve().parent.parent
# Each room of the package, from the bottom up, and the folder it lives in.
LAYERS = {"common": 0, "reference": 1, "judge": 2, "gpu": 3, "parallel": 4, "corpus": 5, "check": 5,
          "regress": 6, "": 7}
FOLDERS = {room: ROOT / room for room in LAYERS if room} | {"": ROOT / "src" / "oraclenet"}


def modules() -> dict[str, Path]:
    """'oraclenet.<room>.<module>' -> its file, for every module of the package."""
    found = {}
    for room, folder in FOLDERS.items():
        for path in folder.glob("*.py"):
            parts = ["oraclenet", *([room] if room else []),
                     *([] if path.stem == "__init__" else [path.stem])]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, source: str, is_package: bool) -> set[str]:
    """The oraclenet modules that module `name` imports in `source`, anywhere in it (lazy
    imports too)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else \
                node.module
            found |= {target} | {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {t for t in found if t in modules() and t != name}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path.read_text(), path.stem == "__init__")
            for name, path in modules().items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""


def upward(g: dict[str, set[str]]) -> list[str]:
    """Every import of another room that is not below the importer's (above it, or beside it
    on the same floor)."""
    return sorted(f"{name} imports {target}" for name, targets in g.items() for target in targets
                  if room(target) != room(name) and LAYERS[room(target)] >= LAYERS[room(name)])


def room_edges(g: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) for every import between two rooms, the root package as 'root'."""
    return {(room(name) or "root", room(target) or "root") for name, targets in g.items()
            for target in targets if room(name) != room(target)}


def drawn_edges(text: str) -> set[tuple[str, str]]:
    """The arrows `a --> b` of docs/architecture.md's mermaid diagram."""
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^\s*(\w+) --> (\w+)\s*$", diagram, re.MULTILINE))


def diagram_errors(drawn: set[tuple[str, str]], actual: set[tuple[str, str]]) -> list[str]:
    """Arrows drawn that no import makes, and imports between rooms that no arrow draws
    (imports of common from above parallel are left out of the drawing, as it says)."""
    undrawn = {e for e in actual - drawn if not (e[1] == "common" and LAYERS.get(
        "" if e[0] == "root" else e[0]) > LAYERS["parallel"])}
    return ([f"drawn but not imported: {a} --> {b}" for a, b in sorted(drawn - actual)]
            + [f"imported but not drawn: {a} --> {b}" for a, b in sorted(undrawn)])


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """A cycle through each part of the graph that has one (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the path being explored, 2: done

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (found := cycle_from(nxt, [*path, node])):
                return found
        state[node] = 2
        return None

    return [c for name in sorted(g) if name not in state and (c := cycle_from(name, []))]


def test_every_import_points_down_the_layers():
    assert upward(graph()) == []


def test_the_architecture_diagram_draws_exactly_the_imports_there_are():
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert diagram_errors(drawn_edges(text), room_edges(graph())) == []


def test_the_diagram_check_sees_a_missing_and_an_invented_arrow():
    """Its teeth: corpus importing check (beside it on its floor: also an upward import), and
    an arrow check --> reference that no import makes."""
    g = graph()
    g["oraclenet.corpus.cases"] |= imports_of("oraclenet.corpus.cases", "from ..check import gemm",
                                              False)
    drawn = drawn_edges((ROOT / "docs" / "architecture.md").read_text())
    assert diagram_errors(drawn | {("check", "reference")}, room_edges(g)) == [
        "drawn but not imported: check --> reference", "imported but not drawn: corpus --> check"]
    assert "oraclenet.corpus.cases imports oraclenet.check.gemm" in upward(g)


def test_there_is_no_import_cycle():
    assert cycles(graph()) == []


def test_both_checks_see_a_planted_import():
    """Their teeth: the oracle's trainer importing the GPU room, and common/data.py importing
    common/params.py (which imports it)."""
    g = graph()
    g["oraclenet.reference.train"] |= imports_of("oraclenet.reference.train",
                                                 "from ..gpu import options", False)
    assert upward(g) == ["oraclenet.reference.train imports oraclenet.gpu",
                         "oraclenet.reference.train imports oraclenet.gpu.options"]
    g = graph()
    g["oraclenet.common.data"] |= imports_of("oraclenet.common.data", "from . import params",
                                             False)
    assert ["oraclenet.common.data", "oraclenet.common.params", "oraclenet.common.data"] in [
        c[-3:] for c in cycles(g)]


IMPORT_ALL = """
import json, os, importlib, sys, threading
import numpy, numba, numba.cuda, tqdm   # what the package's modules import at their top
tasks = lambda: len(os.listdir("/proc/self/task"))
env, threads, native = dict(os.environ), threading.active_count(), tasks()
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
print(json.dumps(dict(modules=names, changed=changed, threads=threading.active_count() - threads,
                      native=tasks() - native, mpi="mpi4py.MPI" in sys.modules)))
"""


def test_importing_every_module_has_no_side_effect(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    names = sorted(set(modules()) - {"oraclenet.__main__"})
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL, *names], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert len(result["modules"]) == len(names) > 30
    assert result["changed"] == [], "os.environ changed by an import"
    assert (result["threads"], result["native"]) == (0, 0), "an import started a thread"
    assert result["mpi"] is False, "an import initialised MPI"


def test_the_package_found_is_this_checkout():
    assert Path(oraclenet.__file__).resolve() == FOLDERS[""] / "__init__.py"


# Paths named in prose that are not files of the checkout, each for a reason: what a command
# writes (into OUT, DIR, a report folder), a placeholder, or a file inside the installed wheel.
NOT_IN_THE_CHECKOUT = {
    "docs/gpu-results.md": "written by `oraclenet gpu bench --out docs` on a GPU (owed)",
    "oraclenet/tolerances.toml": "the installed package's copy of tolerances.toml",
    "reports/regress/report.md": "written by `nox -s regress`",
    "reports/verify/index.md": "written by `nox -s verify`",
    "gradcheck/report.md": "inside verify's report folder",
    "gradcheck/gradcheck.png": "inside verify's report folder",
    "separation/separation.md": "inside verify's report folder",
    "separation/separation.png": "inside verify's report folder",
}
PLACEHOLDERS = ("OUT/", "DIR/", "path/to/")
NAMED_PATH = re.compile(r"(?<![\w/.-])((?:[A-Za-z_][\w.-]*/)+[\w.-]+\.(?:py|md|toml|json|png))\b")


def test_every_path_named_in_the_docs_and_docstrings_exists():
    """README, docs/, examples/README.md and every module of the package and benchmarks: a
    path they name is a file of the checkout (from the root or from the naming file's
    folder), or a stated exception. A renamed module left behind in prose fails here
    (reference/network.py named reference/rowblocks.py, which had become threaded.py)."""
    prose = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "examples" / "README.md",
             *modules().values(), *(ROOT / "benchmarks").glob("*.py")]
    missing = sorted({
        f"{f.relative_to(ROOT)}: {m.group(1)}" for f in prose
        for m in NAMED_PATH.finditer(f.read_text())
        if not (m.group(1) in NOT_IN_THE_CHECKOUT or m.group(1).startswith(PLACEHOLDERS)
                or "*" in m.group(1) or (ROOT / m.group(1)).exists()
                or (f.parent / m.group(1)).exists())})
    assert not missing, "paths named that do not exist:\n" + "\n".join(missing)
