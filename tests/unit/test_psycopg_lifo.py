"""Tripwire: our LIFO pool copies one psycopg_pool method; it must still match.

django_multipool.adapters.psycopg._LifoConnectionPool._get_ready_connection is
psycopg_pool's own, with ``pop()`` for ``popleft()`` and one branch added (parked
connections). If a psycopg_pool
release changes the original, this fails, so the copy is reviewed instead of
silently diverging (or breaking on a renamed attribute at the first checkout).
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

psycopg_pool = pytest.importorskip("psycopg_pool")


class _DropAnnotations(ast.NodeTransformer):
    """``x: T = v`` reads ``x = v``: the types name each side's own imports."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        assert node.value is not None
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)


def body_of(function: object) -> str:
    """The function's statements, without docstring, comments, formatting or types."""
    source = textwrap.dedent(inspect.getsource(function))  # type: ignore[arg-type]
    tree = _DropAnnotations().visit(ast.parse(source))
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef)
    statements = definition.body
    first = statements[0] if statements else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):  # docstring
        statements = statements[1:]
    return "\n".join(ast.unparse(statement) for statement in statements)


PARKED_BRANCH = (
    "elif self._parked and (conn := self._parked.take_longest()) is not None:\n    pass\n"
)


def test_our_copy_is_psycopg_pools_method_with_pop_for_popleft() -> None:
    from django_multipool.adapters.psycopg import _LifoConnectionPool

    theirs = body_of(psycopg_pool.ConnectionPool._get_ready_connection)
    ours = body_of(_LifoConnectionPool._get_ready_connection)
    # Our copy names the errors through the package, as the module imports them.
    ours = ours.replace("psycopg_pool.PoolTimeout", "PoolTimeout")
    ours = ours.replace("psycopg_pool.TooManyRequests", "TooManyRequests")
    assert ours.count("self._pool.pop()") == 1
    # Our one branch: connections parked between statements (release="transaction").
    assert ours.count(PARKED_BRANCH) == 1
    ours = ours.replace(PARKED_BRANCH, "")
    assert ours.replace("self._pool.pop()", "self._pool.popleft()") == theirs, (
        f"psycopg_pool {psycopg_pool.__version__} changed "
        f"ConnectionPool._get_ready_connection: update the copy in "
        f"django_multipool/adapters/psycopg.py (_LifoConnectionPool)."
    )
