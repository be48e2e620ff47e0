"""Statement by statement: what lets a deep cell's ledger (:class:`memtrack.measure.ledger.
CellLedger`) read the traced memory and the names each top-level statement touches.

For a cell IPython runs natively, a wrapper put on ``shell.run_code`` (an instance attribute, only
while a deep cell runs) calls the ledger around each statement that belongs to the cell; no line
tracer. For the fallback cell magic (``%%memtrack`` nested, or through ``run_cell_magic``),
:func:`exec_body` runs the body itself, statement by statement, as IPython would."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from ..measure import type_counts
from ..measure.ledger import CellLedger
from ..measure.type_counts import TypeCounter
from .lifecycle import warn

_MISSING = object()


def unfreeze_for_collect(counter: TypeCounter | None, code_obj: Any) -> None:
    # gc.collect() in the cell must free old cycles as it would without memtrack.
    if counter is not None and counter.frozen and "collect" in code_obj.co_names:
        counter.unfreeze("the cell calls gc.collect()")


class RunCodeHook:
    """``shell.run_code`` while a deep cell is tracked. ``ledger_for(code_obj)`` gives the
    ledger a statement of the running cell reports to (None: not the cell's own statement)."""

    def __init__(self, shell: Any, ledger_for: Callable[[Any], CellLedger | None]) -> None:
        self.shell = shell
        self._ledger_for = ledger_for
        self._saved: Any = _MISSING  # shell.__dict__["run_code"] before the wrapper
        self._inner: Any = None
        self._hook = self._run_code  # one bound method: compared by identity

    @property
    def installed(self) -> bool:
        return self._inner is not None

    def install(self) -> None:
        shell = self.shell
        if shell.__dict__.get("run_code") is self._hook:
            return
        self._saved = shell.__dict__.get("run_code", _MISSING)
        self._inner = shell.run_code
        shell.run_code = self._hook

    def remove(self) -> None:
        shell = self.shell
        if shell.__dict__.get("run_code") is self._hook:
            if self._saved is _MISSING:
                del shell.run_code
            else:
                shell.run_code = self._saved
        self._saved = _MISSING
        self._inner = None

    def _run_code(self, code_obj: Any, result: Any = None, *, async_: bool = False):
        """Returns the awaitable IPython awaits (the ledger reads the traced memory before and
        after each statement). Statements that are not the cell's own go straight to IPython's
        coroutine."""
        inner = self._inner
        if inner is None:  # removed while a cell ran: the class's own method
            inner = type(self.shell).run_code.__get__(self.shell)
        ledger = None
        try:
            ledger = self._ledger_for(code_obj)
            if ledger is not None:
                ledger.before(code_obj)
        except KeyboardInterrupt as e:  # Ctrl-C before the statement: as if it came in it
            return _report_interrupt(self.shell, result, e)
        except Exception as e:
            warn("statement accounting failed", e)
            ledger = None
        if ledger is None:
            return inner(code_obj, result, async_=async_)
        return _run_with_ledger(self.shell, inner, ledger, code_obj, result, async_)


def _after(ledger: CellLedger) -> KeyboardInterrupt | None:
    """The ledger's look after a statement; a Ctrl-C that landed in it, returned."""
    try:
        ledger.after()
    except KeyboardInterrupt as e:
        return e
    except Exception as e:
        warn("statement accounting failed", e)
    return None


async def _run_with_ledger(
    shell: Any, inner: Any, ledger: CellLedger, code_obj: Any, result: Any, async_: bool
) -> Any:
    try:
        raised = await inner(code_obj, result, async_=async_)
    except BaseException:
        _after(ledger)  # what the statement raised goes on (a Ctrl-C here is the same one)
        raise
    interrupted = _after(ledger)
    if interrupted is not None and not raised:
        return await _report_interrupt(shell, result, interrupted)
    return raised


async def _report_interrupt(shell: Any, result: Any, exc: KeyboardInterrupt) -> bool:
    """A Ctrl-C that landed in memtrack's own accounting between two statements is reported
    as IPython's run_code reports one raised in a statement (``error_in_exec``, the traceback,
    the cell stops): the cell behaves as untracked."""
    if result is not None:
        result.error_in_exec = exc
    try:  # showtraceback shows the exception being handled
        raise exc
    except KeyboardInterrupt:
        shell.showtraceback()
    return True


def exec_body(shell: Any, cell: str, ledger: CellLedger | None = None) -> Any:
    """Run ``cell`` statement by statement (so the ledger sees each), like IPython does; return
    its last expression's value."""
    source = shell.transform_cell(cell)
    filename = shell.compile.cache(source, raw_code=cell)
    tree = shell.compile.ast_parse(source, filename=filename)
    tree = shell.transform_ast(tree)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    glob, loc = shell.user_global_ns, shell.user_ns
    steps = [(shell.compile(ast.Module([node], []), filename, "exec"), False) for node in tree.body]
    if last is not None:
        steps.append((shell.compile(last, filename, "eval"), True))
    value = None
    counter = type_counts.active_counter()
    for code, is_last in steps:
        unfreeze_for_collect(counter, code)
        if ledger is not None:
            try:
                ledger.before(code)
            except Exception as e:
                warn("statement accounting failed", e)
                ledger = None
        try:
            if is_last:
                value = eval(code, glob, loc)
            else:
                exec(code, glob, loc)
        finally:
            if ledger is not None:
                try:
                    ledger.after()
                except Exception as e:
                    warn("statement accounting failed", e)
    return value
