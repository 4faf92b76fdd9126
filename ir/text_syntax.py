"""Pieces the Lark-parsed IR text forms share (kernel IR, tiled IR): syntax errors and tokens.

A parser hands a Lark ``UnexpectedInput`` to :func:`syntax_error` with its parser and a table of
readable terminal names; the result is an :class:`IRParseError` that says what was found, what
was expected and where (``line L:C``), with the level's remedy. :func:`token_name`,
:func:`token_string` and :func:`token_int` read the tokens both grammars share; :func:`fail`
raises an error at a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NoReturn

import lark

from moecc.errors import IRParseError


def describe_terminal(name: str, parser: lark.Lark, names: Mapping[str, str]) -> str:
    """How a terminal reads in a message: its table name, the keyword or punctuation as written
    (``'<-'``, ``'copy'``), or its Lark name."""
    if name in names:
        return names[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    return f"'{pattern.value}'" if isinstance(pattern, lark.lexer.PatternStr) else name


def describe_terminals(found: set[str] | frozenset[str], parser: lark.Lark, names: Mapping[str, str]) -> str:
    readable = sorted({describe_terminal(n, parser, names) for n in found if not n.startswith("$")})
    if not readable:
        return "the end of the text"
    return readable[0] if len(readable) == 1 else "one of " + ", ".join(readable)


def syntax_error(err: lark.exceptions.UnexpectedInput, text: str, parser: lark.Lark, names: Mapping[str, str],
                 remedy: str) -> IRParseError:
    """The :class:`IRParseError` for a Lark syntax error in ``text``."""
    line, column = err.line, err.column
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        message = f"unexpected character {char!r}"
        expected = err.allowed or set()
    elif isinstance(err, lark.exceptions.UnexpectedToken) and err.token.type != "$END":
        message = f"unexpected {err.token.value!r}"
        expected = err.accepts or err.expected
    else:  # end of input: point just past the last non-blank line
        lines = text.rstrip().split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = "unexpected end of text"
        expected = set(getattr(err, "accepts", None) or getattr(err, "expected", None) or ())
    return IRParseError(f"{message}, expected {describe_terminals(expected, parser, names)}",
                        location=f"line {line}:{column}", remedy=remedy)


def fail(message: str, at: lark.Token, *, remedy: str | None = None) -> NoReturn:
    """Raise an :class:`IRParseError` at token ``at``."""
    raise IRParseError(message, location=f"line {at.line}:{at.column}", remedy=remedy)


def token_name(token: lark.Token) -> str:
    """The name in a ``%name`` / ``@name`` token; quoted names use string escapes."""
    body = str(token)[1:]
    return token_string(token, body) if body.startswith('"') else body


def token_string(token: lark.Token, body: str | None = None) -> str:
    try:
        return json.loads(str(token) if body is None else body)
    except json.JSONDecodeError as err:
        fail(f"bad string literal {token}: {err.msg}", token)


def token_int(token: lark.Token) -> int:
    return int(str(token))
