"""SQL compilers that rewrite expressions named after Django's Python functions.

Django's SQLite backend registers ``LPAD``, ``REPEAT``, ``MD5``, ``RAND``,
``STDDEV_POP`` ... as Python functions, and its expressions (``LPad``,
``Repeat``, ``MD5``, ``Random``, ``StdDev`` ...) emit calls to them. A libSQL
server has none of them. Django's ``SQLCompiler.compile()`` is the one place
every expression passes through, so these compilers consult ``REWRITES``
(expression class → native SQL) before Django's own ``as_sqlite``/``as_sql``;
no Django class is patched. Where the server has no equivalent at all
(``MD5``, ``SHA1`` ... ``SHA512``) the rewrite raises
``NotSupportedError`` naming the function, when the query is compiled.

``DatabaseOperations.compiler_module`` points here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldError
from django.db import NotSupportedError
from django.db.models import aggregates, functions, lookups
from django.db.models.expressions import DurationExpression
from django.db.models.sql import compiler as django_compiler

from .operations import render

__all__ = [
    "REWRITES",
    "SQLAggregateCompiler",
    "SQLCompiler",
    "SQLDeleteCompiler",
    "SQLInsertCompiler",
    "SQLUpdateCompiler",
]

SQL = tuple[str, tuple[Any, ...]]
Rewrite = Callable[[Any, Any, Any], SQL | None]
"""``(compiler, connection, node)`` → SQL, or None for Django's own."""


def _arguments(compiler: Any, node: Any) -> list[tuple[str, list[Any]]]:
    return [compiler.compile(source) for source in node.get_source_expressions()]


def _repeat_sql(text: str, count: str) -> str:
    """``text * count`` in SQL: ``count`` zero bytes, each replaced by text."""
    return f"replace(hex(zeroblob(max({count}, 0))), '00', {text})"


def _lpad(compiler: Any, connection: Any, node: Any) -> SQL:
    text, length, fill = _arguments(compiler, node)
    # Python: text[:length] when long enough, else (fill * length)[:delta] + text.
    template = (
        "CASE WHEN {t} IS NULL OR {n} IS NULL OR {f} IS NULL THEN NULL "
        "WHEN length({t}) >= {n} THEN substr({t}, 1, {n}) "
        f"ELSE substr({_repeat_sql('{f}', '{n}')}, 1, {{n}} - length({{t}})) "
        "|| {t} END"
    )
    return render(template, t=text, n=length, f=fill)


def _rpad(compiler: Any, connection: Any, node: Any) -> SQL:
    text, length, fill = _arguments(compiler, node)
    # Python: (text + fill * length)[:length].
    template = (
        "CASE WHEN {t} IS NULL OR {n} IS NULL OR {f} IS NULL THEN NULL "
        f"ELSE substr({{t}} || {_repeat_sql('{f}', '{n}')}, 1, {{n}}) END"
    )
    return render(template, t=text, n=length, f=fill)


def _repeat(compiler: Any, connection: Any, node: Any) -> SQL:
    text, count = _arguments(compiler, node)
    template = (
        "CASE WHEN {t} IS NULL OR {n} IS NULL THEN NULL "
        f"ELSE {_repeat_sql('{t}', '{n}')} END"
    )
    return render(template, t=text, n=count)


def _random(compiler: Any, connection: Any, node: Any) -> SQL:
    # random() is a signed 64-bit integer; 53 of its bits make a float in
    # [0, 1) like Python's random.random().
    return "(((random() >> 11) & 9007199254740991) / 9007199254740992.0)", ()


def _log(compiler: Any, connection: Any, node: Any) -> SQL:
    base, value = _arguments(compiler, node)
    return render("(ln({x}) / ln({b}))", x=value, b=base)


def _mod(compiler: Any, connection: Any, node: Any) -> SQL:
    # math.fmod: the remainder with the sign of the dividend, as a float.
    lhs, rhs = _arguments(compiler, node)
    template = "CAST({x} AS REAL) - {y} * CAST(CAST({x} AS REAL) / {y} AS INTEGER)"
    return render(template, x=lhs, y=rhs)


def _variance(function: str, *, root: bool) -> Callable[..., Any]:
    def rewrite(compiler: Any, connection: Any, node: Any) -> SQL:
        # The server's variance() and stdev() are the sample ones; the
        # population variance is the sample one times (n - 1) / n.
        sample = node.function in ("VAR_SAMP", "STDDEV_SAMP")
        own, own_params = node.as_sql(
            compiler, connection, function="stdev" if root else "variance"
        )
        if sample:
            return own, tuple(own_params)
        variance, params = node.as_sql(compiler, connection, function="variance")
        count, count_params = node.as_sql(compiler, connection, function="COUNT")
        sql, all_params = render(
            "{v} * ({n} - 1) / CAST({n} AS REAL)",
            v=(variance, params),
            n=(count, count_params),
        )
        if root:
            sql = f"sqrt({sql})"
        return sql, all_params

    rewrite.__name__ = f"_{function.lower()}"
    return rewrite


def _any_value(compiler: Any, connection: Any, node: Any) -> SQL:
    # Any value of the group is correct; MIN() is one the server has.
    sql, params = node.as_sql(compiler, connection, function="MIN")
    return sql, tuple(params)


_BIT_AGGREGATES = {"BIT_AND": "MIN", "BIT_OR": "MAX", "BIT_XOR": "SUM"}


def _bit_aggregate(compiler: Any, connection: Any, node: Any) -> SQL:
    """BIT_AND/BIT_OR/BIT_XOR of 64-bit integers, one bit at a time.

    The server has no bit aggregates. Bit ``k`` of BIT_AND is the MIN of
    the inputs' bit ``k``, of BIT_OR the MAX, of BIT_XOR the SUM's parity;
    the 64 bits are shifted back in place and OR-ed. MIN/MAX/SUM are NULL
    when no input is non-NULL, so the result is too. Django's Python
    aggregate (a ``functools.reduce``) returns a lone input as it is and
    NULL when two inputs include a non-integer (its TypeError): so does this.
    Django's Aggregate compiles FILTER; ``default`` is its Coalesce around
    this node.
    """
    params: list[Any] = []

    def aggregate(function: str, argument: str) -> str:
        template = f"%(function)s({argument})%(filter)s"
        sql, own = node.as_sql(
            compiler, connection, function=function, template=template
        )
        params.extend(own)
        return str(sql)

    value = "(%(expressions)s)"
    count = aggregate("COUNT", value)
    lone = aggregate("MAX", value)
    other = aggregate("MAX", f"typeof({value}) NOT IN ('integer', 'null')")
    function = _BIT_AGGREGATES[node.function]
    bits = []
    for bit in range(64):
        sql = aggregate(function, f"({value} >> {bit}) & 1")
        # The parity of the SUM: "& 1" (a "%" would need escaping twice).
        bits.append(
            f"(({sql} & 1) << {bit})" if function == "SUM" else f"({sql} << {bit})"
        )
    sql = (
        f"(CASE WHEN {count} = 1 THEN {lone} WHEN {other} THEN NULL "
        f"ELSE ({' | '.join(bits)}) END)"
    )
    return sql, tuple(params)


def _uuid4(compiler: Any, connection: Any, node: Any) -> SQL:
    # uuid4().hex: 32 hex digits, version nibble 4, variant bits 10.
    return (
        "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2) || "
        "substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) "
        "|| hex(randomblob(6)))"
    ), ()


def _both_cases(char: str) -> str:
    variants = [char]
    for other in (char.lower(), char.upper()):
        if len(other) == 1 and other not in variants:
            variants.append(other)
    return "".join(variants)


def caseless_pattern(pattern: str) -> str:
    """``pattern`` matching both cases of each letter, without ``(?i)``.

    The server's ``regexp`` (SQLite's ``ext/misc/regexp.c``) has no flags:
    each literal letter becomes a class of its cases, and each letter or
    letter range inside a class gains the other case. Escapes are kept.
    """
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if not in_class:
            if char == "[":
                in_class = True
                out.append(char)
                index += 1
                if pattern[index : index + 1] == "^":
                    out.append("^")
                    index += 1
                if pattern[index : index + 1] == "]":
                    out.append("]")
                    index += 1
                continue
            variants = _both_cases(char)
            out.append(f"[{variants}]" if len(variants) > 1 else char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif (
            pattern[index + 1 : index + 2] == "-"
            and index + 2 < len(pattern)
            and (pattern[index + 2] != "]")
        ):
            low, high = char, pattern[index + 2]
            out.append(f"{low}-{high}")
            if low.isalpha() and high.isalpha() and low.islower() == high.islower():
                swapped_low, swapped_high = low.swapcase(), high.swapcase()
                if len(swapped_low) == len(swapped_high) == 1:
                    out.append(f"{swapped_low}-{swapped_high}")
            index += 3
            continue
        else:
            out.append(_both_cases(char))
        index += 1
    return "".join(out)


def has_backreference(pattern: str) -> bool:
    """Whether ``pattern`` has a ``\\1``..``\\9`` (an escaped backslash is
    not one)."""
    index = 0
    while (index := pattern.find("\\", index)) != -1:
        if pattern[index + 1 : index + 2] in tuple("123456789"):
            return True
        index += 2
    return False


def _refuse_backreference(node: Any) -> None:
    """Raise for a constant pattern with a backreference: the server's
    ``regexp`` would fail with "unknown \\ escape" when the query runs."""
    pattern = node.rhs
    constant = node.rhs_is_direct_value() and isinstance(pattern, str)
    if constant and has_backreference(pattern):
        raise NotSupportedError(
            f"__{node.lookup_name} with a backreference ({pattern!r}) is not "
            "supported on libSQL: its regexp() (SQLite's ext/misc/regexp.c) "
            "has no backreferences. Filter those rows in Python."
        )


def _regex(compiler: Any, connection: Any, node: Any) -> SQL | None:
    _refuse_backreference(node)
    return None  # Django's own SQL: REGEXP %s


def _iregex(compiler: Any, connection: Any, node: Any) -> SQL:
    _refuse_backreference(node)
    lhs, lhs_params = node.process_lhs(compiler, connection)
    rhs, rhs_params = node.process_rhs(compiler, connection)
    if rhs != "%s" or len(rhs_params) != 1 or not isinstance(rhs_params[0], str):
        raise NotSupportedError(
            "iregex with a pattern computed in SQL is not supported on libSQL: "
            "its regexp() has no case-insensitive flag. Pass the pattern as a "
            "value."
        )
    return f"{lhs} REGEXP %s", (*lhs_params, caseless_pattern(rhs_params[0]))


def _uuid7(compiler: Any, connection: Any, node: Any) -> SQL | None:
    """uuid7().hex where Django's SQLite backend has it (Python 3.14+).

    Elsewhere, and for the ``shift`` argument, Django's own refusal (the
    same message as on stock SQLite). A 48-bit Unix time in milliseconds,
    version nibble 7, 12 random bits, variant bits 10, 62 random bits
    (RFC 9562's random method: unlike Python's uuid7(), no counter orders
    two values made in the same millisecond).
    """
    if not connection.features.supports_uuid7_function or node.source_expressions:
        return None
    return (
        "(printf('%%012x', CAST(unixepoch('subsec') * 1000 AS INTEGER)) || '7' "
        "|| lower(substr(hex(randomblob(2)), 2) || "
        "substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) "
        "|| hex(randomblob(6))))"
    ), ()


def _internal_type(expression: Any) -> str | None:
    try:
        return str(expression.output_field.get_internal_type())
    except (AttributeError, FieldError):
        return None


def _datetime_chain(node: Any) -> tuple[Any, list[tuple[str, Any]]] | None:
    """``((dt + d1) - d2) + d3`` as ``(dt, [("+", d1), ("-", d2), ("+", d3)])``.

    Only for datetimes ± durations, where Python's step-by-step result
    equals one sum of microseconds (dates floor at each step: not those).
    """
    if not isinstance(node, DurationExpression) or node.connector not in "+-":
        return None
    if _internal_type(node) != "DateTimeField":
        return None
    lhs_type, rhs_type = _internal_type(node.lhs), _internal_type(node.rhs)
    if lhs_type == "DurationField" and node.connector == "+":
        base, delta = node.rhs, node.lhs
    elif rhs_type == "DurationField":
        base, delta = node.lhs, node.rhs
    else:
        return None
    inner = _datetime_chain(base)
    if inner is None:
        return base, [(node.connector, delta)]
    return inner[0], [*inner[1], (node.connector, delta)]


def _duration_chain(compiler: Any, connection: Any, node: Any) -> SQL | None:
    """A chain of datetime ± duration as one addition of summed durations.

    Each step of the native SQL is a subquery; SQLite's parser stack holds
    about five nested ones, so chains are flattened instead of nested.
    """
    chain = _datetime_chain(node)
    if chain is None or len(chain[1]) < 2:
        return None  # Django's as_sqlite(), with its operand checks.
    base, deltas = chain
    base_sql, base_params = compiler.compile(base)
    params = list(base_params)
    terms = []
    for sign, delta in deltas:
        sql, delta_params = compiler.compile(delta)
        terms.append(f"{sign} ({sql})")
        params.extend(delta_params)
    total = "0 " + " ".join(terms)
    sql = connection.ops.combine_duration_expression("+", [base_sql, f"({total})"])
    return f"({sql})", tuple(params)


def _unsupported(name: str, why: str) -> Rewrite:
    def rewrite(compiler: Any, connection: Any, node: Any) -> SQL:
        raise NotSupportedError(
            f"{name}() is not supported on libSQL: {why}. Compute it in "
            "Python, or store it in a column when the row is saved."
        )

    rewrite.__name__ = f"_unsupported_{name.lower()}"
    return rewrite


_NO_HASH = (
    "a libSQL server has no hash functions (Django's SQLite backend adds "
    "them in Python)"
)

REWRITES: dict[type, Rewrite] = {
    functions.LPad: _lpad,
    functions.RPad: _rpad,
    functions.Repeat: _repeat,
    functions.Random: _random,
    functions.Log: _log,
    functions.Mod: _mod,
    lookups.Regex: _regex,
    lookups.IRegex: _iregex,
    DurationExpression: _duration_chain,
    aggregates.StdDev: _variance("STDDEV", root=True),
    aggregates.Variance: _variance("VARIANCE", root=False),
    functions.MD5: _unsupported("MD5", _NO_HASH),
    functions.SHA1: _unsupported("SHA1", _NO_HASH),
    functions.SHA224: _unsupported("SHA224", _NO_HASH),
    functions.SHA256: _unsupported("SHA256", _NO_HASH),
    functions.SHA384: _unsupported("SHA384", _NO_HASH),
    functions.SHA512: _unsupported("SHA512", _NO_HASH),
}
# Django 6.x.
_DJANGO6_AGGREGATES: tuple[tuple[str, Rewrite], ...] = (
    ("AnyValue", _any_value),
    ("BitAnd", _bit_aggregate),
    ("BitOr", _bit_aggregate),
    ("BitXor", _bit_aggregate),
)
_DJANGO6_FUNCTIONS: tuple[tuple[str, Rewrite], ...] = (
    ("UUID4", _uuid4),
    ("UUID7", _uuid7),
)
for _name, _rewrite in _DJANGO6_AGGREGATES:
    if hasattr(aggregates, _name):
        REWRITES[getattr(aggregates, _name)] = _rewrite
for _name, _rewrite in _DJANGO6_FUNCTIONS:
    if hasattr(functions, _name):
        REWRITES[getattr(functions, _name)] = _rewrite


def rewrite_for(node: Any) -> Rewrite | None:
    """The rewrite for ``node``'s class or its nearest ancestor in ``REWRITES``."""
    for klass in type(node).__mro__:
        rewrite = REWRITES.get(klass)
        if rewrite is not None:
            return rewrite
    return None


class SQLCompiler(django_compiler.SQLCompiler):
    """Django's compiler, with ``REWRITES`` consulted first."""

    def compile(self, node: Any) -> Any:
        rewrite = rewrite_for(node)
        if rewrite is not None:
            result = rewrite(self, self.connection, node)
            if result is not None:
                return result
        return super().compile(node)


class SQLInsertCompiler(SQLCompiler, django_compiler.SQLInsertCompiler):
    pass


class SQLDeleteCompiler(SQLCompiler, django_compiler.SQLDeleteCompiler):
    pass


class SQLUpdateCompiler(SQLCompiler, django_compiler.SQLUpdateCompiler):
    pass


class SQLAggregateCompiler(SQLCompiler, django_compiler.SQLAggregateCompiler):
    pass
