"""Rules of the layout that a linter of imports cannot see, checked on the source.

- Tenant filters (a comparison with a ``client_id`` column) live in a feature's
  ``repository.py``: a service or an endpoint that filters by hand may forget to.
- Endpoints and pages contain no SQL and call no session methods: they parse, call a
  service, and shape the answer (the session is only passed on).
- Services build and run no statements either: SQL lives in the repositories. Two modules
  are the exception by design (``SQL_HOMES``).

Modules still to move would be listed here (they only shrink); none is left.
"""

from __future__ import annotations

import ast
from pathlib import Path

import studioflow

SOURCE = Path(studioflow.__file__).parent
SESSION_CALLS = {
    "execute",
    "scalar",
    "scalars",
    "get",
    "add",
    "add_all",
    "delete",
    "flush",
    "refresh",
    "merge",
    "commit",
    "rollback",
    "stream",
    "stream_scalars",
}
SQL_BUILDERS = {"select", "update", "delete", "insert"}

# Where SQL may be written outside a repository.py, and why: the engine and its sessions,
# and the execution engine's prebuilt per-item statements (run by studio's EngineRepository).
SQL_HOMES = {"studioflow.platform.db", "studioflow.studio.statements"}

# Modules not yet on repositories (each is moved, then removed from here): none left.
TENANT_FILTERS_LEFT: set[str] = set()
SQL_IN_HTTP_LEFT: set[str] = set()


def modules() -> list[Path]:
    return sorted(p for p in SOURCE.rglob("*.py") if "models" not in p.parts)


def _name(path: Path) -> str:
    return str(path.relative_to(SOURCE.parent)).removesuffix(".py").replace("/", ".")


def tenant_filters(tree: ast.AST) -> list[int]:
    """Lines comparing something's ``client_id`` (``Image.client_id == principal.client_id``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(
                isinstance(s, ast.Attribute) and s.attr == "client_id" and _is_column(s)
                for s in sides
            ):
                found.append(node.lineno)
    return found


def _is_column(node: ast.Attribute) -> bool:
    """``Model.client_id`` or ``table.c.client_id``: a class (capitalised) or a table's c."""
    owner = node.value
    if isinstance(owner, ast.Name):
        return owner.id[:1].isupper()
    return isinstance(owner, ast.Attribute) and owner.attr == "c"


def is_http(path: Path) -> bool:
    return path.stem in {"endpoints", "delivery", "admin_api", "settings_api"} or (
        path.parent.name == "web" and (path.stem.endswith("pages") or path.stem == "pages")
    )


def sql_in(tree: ast.AST) -> list[int]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if (
                node.func.attr in SESSION_CALLS
                and isinstance(target, ast.Name)
                and target.id in {"session", "read", "writer"}
            ):
                found.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("sqlalchemy")
            and any(alias.name in SQL_BUILDERS for alias in node.names)
        ):
            found.append(node.lineno)
    return found


def test_tenant_filters_live_in_repositories() -> None:
    offenders = {}
    for path in modules():
        if path.name == "repository.py":
            continue
        lines = tenant_filters(ast.parse(path.read_text()))
        if lines:
            offenders[_name(path)] = lines
    new = {name: lines for name, lines in offenders.items() if name not in TENANT_FILTERS_LEFT}
    assert not new, f"tenant filters outside a repository.py: {new}"
    done = TENANT_FILTERS_LEFT - set(offenders)
    assert not done, f"moved to repositories: remove from TENANT_FILTERS_LEFT: {sorted(done)}"


def test_endpoints_and_pages_hold_no_sql() -> None:
    offenders = {}
    for path in modules():
        if not is_http(path):
            continue
        lines = sql_in(ast.parse(path.read_text()))
        if lines:
            offenders[_name(path)] = lines
    new = {name: lines for name, lines in offenders.items() if name not in SQL_IN_HTTP_LEFT}
    assert not new, f"SQL or session calls in endpoints or pages: {new}"
    done = SQL_IN_HTTP_LEFT - set(offenders)
    assert not done, f"moved to services: remove from SQL_IN_HTTP_LEFT: {sorted(done)}"


def test_services_leave_sql_to_repositories() -> None:
    offenders = {}
    for path in modules():
        if path.name == "repository.py" or _name(path) in SQL_HOMES:
            continue
        tree = ast.parse(path.read_text())
        lines = [line for line in sql_in(tree) if _runs_a_statement(tree, line)]
        if lines:
            offenders[_name(path)] = lines
    assert not offenders, f"SQL outside a repository.py: {offenders}"


def _runs_a_statement(tree: ast.AST, line: int) -> bool:
    """A builder import, or ``execute``/``scalar(s)`` on a session: what only a repository
    does. Unit-of-work calls (``add``, ``flush``, ``delete`` of a loaded row) stay allowed."""
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) != line:
            continue
        if isinstance(node, ast.ImportFrom):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "scalar", "scalars", "stream", "stream_scalars"}
        ):
            return True
    return False


def test_the_checks_see_what_they_look_for() -> None:
    """The control: the detectors find a filter and a session call when there is one."""
    code = ast.parse(
        "from sqlalchemy import select\n"
        "async def f(session, principal):\n"
        "    return await session.scalar(select(Image).where(Image.client_id == principal.client_id))\n"
    )
    assert tenant_filters(code) == [3]
    assert sql_in(code) == [1, 3]
    assert [line for line in sql_in(code) if _runs_a_statement(code, line)] == [1, 3]
    unit_of_work = ast.parse("async def g(session, row):\n    session.add(row)\n")
    assert [line for line in sql_in(unit_of_work) if _runs_a_statement(unit_of_work, line)] == []
