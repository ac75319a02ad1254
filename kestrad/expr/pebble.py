"""Pebble (Kestra's template dialect) translated to Jinja2 source, before Jinja lexes it.

Pebble and Jinja share delimiters and most syntax, but not operator precedence nor a handful of
constructs Kestra flows rely on: `??`/`???`, the ternary `c ? a : b`, ranges `1..5`,
`contains`/`equals`, `{% elseif %}`, 0-based `loop.index`, `for` over map entries, functions
living in their own namespace. Jinja's lexer rejects `?` outright, so rewriting its token
stream is not an option: this module lexes and parses each `{{ }}` / `{% %}` tag the way
Pebble's `LexerImpl`/`ExpressionParser` do (same precedence table, same string rules) and
prints a fully parenthesised Jinja equivalent. Text outside tags and the content of
`{% raw %}`/`{% verbatim %}` blocks are kept as they are (whitespace control aside).

Kestra-specific operators are emitted as calls of private filters (`_pb_*`, defined in
`functions.py`); `??`, `???`, `default` and `is defined` are then compiled lazily by the engine's
code generator, so their left side may be undefined and their right side is only evaluated
when needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

FUNCTION_PREFIX: Final = "__f_"
"""Functions live in their own namespace (as in Pebble): `now()` is `__f_now()` in Jinja."""

VARIABLE_PREFIX: Final = "__v_"
"""Variables whose names Jinja reserves (`self`, `caller`...) are renamed `__v_<name>`."""

_JINJA_RESERVED: Final = frozenset({"self", "caller", "varargs", "kwargs"})

NAMESPACE: Final = "__pb_ns"
"""Holds `{% set %}` variables, so that a `set` inside a loop updates the variable outside it
(Pebble's scoping; Jinja would create a loop-local variable)."""


def variable(name: str) -> str:
    """The Jinja name of a Pebble variable."""
    return VARIABLE_PREFIX + name if name in _JINJA_RESERVED else name


class PebbleSyntaxError(Exception):
    """The template is not valid Pebble; `line` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Translation:
    """A translated template.

    `expression` is set when the whole source is one `{{ expr }}` (whitespace around allowed):
    it holds the Jinja expression, so that typed rendering can return the native value.
    `loops` tells whether the template has `for` loops or macros, i.e. whether its output can
    grow beyond the sum of its expressions (the engine then checks the size as it streams).
    `prefix`/`suffix` are the text around a single expression (after whitespace control), so
    that its string rendering needs no second template.
    """

    jinja: str
    expression: str | None
    loops: bool = False
    prefix: str = ""
    suffix: str = ""


# -- lexer ----------------------------------------------------------------------------------

# Token kinds
NAME, INT, FLOAT, STR, ISTR, OP, PUNCT, END = (
    "name",
    "int",
    "float",
    "str",
    "istr",
    "op",
    "punct",
    "end",
)

_SYMBOL_OPS = (
    "???",
    "??",
    "..",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    "~",
    "|",
)
_WORD_OPS = frozenset({"not", "and", "or", "is", "contains", "equals", "in"})
_PUNCT = "()[]{}?:.,="
_IDENT_RE = re.compile(r"[^\W\d]\w*")
_NUMBER_RE = re.compile(r"(\d+)(?:(\.\d+)|([lL]))?")
_WS_RE = re.compile(r"\s*")
_ASCII_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(slots=True)
class Token:
    kind: str
    value: object
    pos: int


class _Lexer:
    """Tokenizes the inside of one tag, the way Pebble's `LexerImpl.tokenizeExpression` does."""

    def __init__(self, source: str) -> None:
        self.source = source

    def line(self, pos: int) -> int:
        return self.source.count("\n", 0, pos) + 1

    def error(self, message: str, pos: int) -> PebbleSyntaxError:
        return PebbleSyntaxError(message, self.line(pos))

    def lex(self, pos: int, close: str) -> tuple[list[Token], int, bool]:
        """Tokens from `pos` up to `close` (at bracket depth 0).

        Returns (tokens, position after the delimiter, whether `-` trimmed before it).
        """
        src = self.source
        n = len(src)
        tokens: list[Token] = []
        brackets: list[tuple[str, int]] = []
        while True:
            pos = _WS_RE.match(src, pos).end()  # type: ignore[union-attr]
            if pos >= n:
                if brackets:
                    raise self.error(f'Unclosed "{brackets[-1][0]}"', brackets[-1][1])
                raise self.error(f"Unexpected end of template, missing '{close}'", pos)
            if not brackets:
                if src.startswith(close, pos):
                    return tokens, pos + len(close), False
                if src.startswith("-" + close, pos):
                    return tokens, pos + 1 + len(close), True
            ch = src[pos]
            op = self._operator(pos)
            if op is not None:
                tokens.append(Token(OP, op, pos))
                pos += len(op)
                continue
            match = _IDENT_RE.match(src, pos)
            if match:
                tokens.append(Token(NAME, match.group(), pos))
                pos = match.end()
                continue
            match = _NUMBER_RE.match(src, pos)
            if match:
                whole, fraction, _long = match.groups()
                if fraction:
                    tokens.append(Token(FLOAT, float(whole + fraction), pos))
                else:
                    tokens.append(Token(INT, int(whole), pos))
                pos = match.end()
                continue
            if ch in _PUNCT:
                if ch in "([{":
                    brackets.append((ch, pos))
                elif ch in ")]}":
                    if not brackets:
                        raise self.error(f'Unexpected "{ch}"', pos)
                    opening, _ = brackets.pop()
                    expected = {"(": ")", "[": "]", "{": "}"}[opening]
                    if ch != expected:
                        raise self.error(f'Unclosed "{expected}"', pos)
                tokens.append(Token(PUNCT, ch, pos))
                pos += 1
                continue
            if ch == "'":
                value, pos = self._single_quoted(pos)
                tokens.append(Token(STR, value, pos))
                continue
            if ch == '"':
                start = pos
                parts, pos = self._double_quoted(pos)
                if all(isinstance(p, str) for p in parts):
                    tokens.append(Token(STR, "".join(parts), start))  # type: ignore[arg-type]
                else:
                    tokens.append(Token(ISTR, parts, start))
                continue
            raise self.error(f"Unexpected character [{ch}]", pos)

    def _operator(self, pos: int) -> str | None:
        src = self.source
        for op in _SYMBOL_OPS:
            if src.startswith(op, pos):
                return op
        match = _IDENT_RE.match(src, pos)
        if match and match.group() in _WORD_OPS:
            return match.group()
        return None

    def _single_quoted(self, pos: int) -> tuple[str, int]:
        src = self.source
        i = pos + 1
        out: list[str] = []
        while i < len(src):
            ch = src[i]
            if ch == "\\" and i + 1 < len(src):
                # Pebble only unescapes the quote; every other backslash stays as written
                if src[i + 1] == "'":
                    out.append("'")
                else:
                    out.append(src[i : i + 2])
                i += 2
                continue
            if ch == "'":
                return "".join(out), i + 1
            out.append(ch)
            i += 1
        raise self.error('Unclosed "\'"', pos)

    def _double_quoted(self, pos: int) -> tuple[list[str | list[Token]], int]:
        """A double-quoted string, with Pebble's `#{expr}` interpolation."""
        src = self.source
        i = pos + 1
        parts: list[str | list[Token]] = []
        out: list[str] = []
        while i < len(src):
            ch = src[i]
            if ch == "\\" and i + 1 < len(src):
                out.append('"' if src[i + 1] == '"' else src[i : i + 2])
                i += 2
                continue
            if ch == "#" and src.startswith("#{", i):
                if out:
                    parts.append("".join(out))
                    out = []
                tokens, i, _trim = self.lex(i + 2, "}")
                if not tokens:
                    raise self.error("Empty string interpolation", i)
                parts.append(tokens)
                continue
            if ch == '"':
                if out or not parts:
                    parts.append("".join(out))
                return parts, i + 1
            out.append(ch)
            i += 1
        raise self.error('Unclosed """', pos)


# -- parser ---------------------------------------------------------------------------------

_PRECEDENCE: Final = {
    "or": 10,
    "and": 15,
    "is": 20,
    "is not": 20,
    "contains": 20,
    "in": 20,
    "not in": 20,
    "==": 30,
    "equals": 30,
    "!=": 30,
    "<": 30,
    ">": 30,
    "<=": 30,
    ">=": 30,
    "+": 40,
    "-": 40,
    "*": 60,
    "/": 60,
    "%": 60,
    "|": 100,
    "~": 110,
    "..": 120,
    "??": 120,
    "???": 120,
}
_UNARY_PRECEDENCE: Final = 500

# Binary operators that become a private filter call: `(l)|filter(r)`
_FILTER_OPS: Final = {
    "~": "_pb_concat",
    "..": "_pb_range",
    "contains": "_pb_contains",
    "in": "_pb_in",
    "??": "_pb_nc",
    "???": "_pb_uc",
}
_COMPARE_OPS: Final = {
    "==": "==",
    "equals": "==",
    "!=": "!=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    ">=": ">=",
}
_TRUE = frozenset({"true", "TRUE", "True"})
_FALSE = frozenset({"false", "FALSE", "False"})
_NULL = frozenset({"null", "NULL", "none", "NONE", "None"})
_LOOP_ATTRS: Final = {"index": "index0", "revindex": "revindex0"}


@dataclass(slots=True)
class _Expr:
    code: str
    name: str | None = None  # set when the expression is a bare variable name


class _Parser:
    """Pebble's `ExpressionParser` (precedence climbing), printing Jinja as it goes."""

    def __init__(
        self,
        lexer: _Lexer,
        tokens: list[Token],
        end_pos: int,
        macros: frozenset[str],
        assigned: frozenset[str] = frozenset(),
    ):
        self.lexer = lexer
        self.tokens = [*tokens, Token(END, None, end_pos)]
        self.i = 0
        self.macros = macros
        self.assigned = assigned

    # token helpers
    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != END:
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> PebbleSyntaxError:
        tok = tok or self.peek()
        return self.lexer.error(message, tok.pos)

    def unexpected(self, tok: Token | None = None) -> PebbleSyntaxError:
        tok = tok or self.peek()
        if tok.kind == END:
            return self.error("Unexpected end of expression", tok)
        return self.error(f'Unexpected token "{tok.value}" of type {tok.kind.upper()}', tok)

    def is_punct(self, value: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == PUNCT and tok.value == value

    def is_op(self, value: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == OP and tok.value == value

    def expect_punct(self, value: str) -> Token:
        if not self.is_punct(value):
            raise self.error(f'Expected "{value}"', self.peek()) from None
        return self.next()

    def expect_name(self) -> str:
        tok = self.peek()
        if tok.kind == NAME:
            self.next()
            return str(tok.value)
        if tok.kind == OP and tok.value in _WORD_OPS:
            self.next()
            return str(tok.value)
        raise self.unexpected(tok)

    def expect_end(self) -> None:
        if self.peek().kind != END:
            raise self.unexpected()

    # expressions
    def expression(self, min_precedence: int = 0) -> _Expr:
        tok = self.peek()
        if tok.kind == OP and tok.value in ("not", "-", "+"):
            self.next()
            operand = self.expression(_UNARY_PRECEDENCE)
            left = _Expr(
                f"(not {operand.code})" if tok.value == "not" else f"({tok.value}{operand.code})"
            )
        elif self.is_punct("("):
            self.next()
            inner = self.expression()
            self.expect_punct(")")
            left = self.postfix(_Expr(f"({inner.code})"))
        elif self.is_punct("["):
            left = self.postfix(self.list_literal())
        elif self.is_punct("{"):
            left = self.postfix(self.map_literal())
        else:
            left = self.primary()

        while True:
            op, width = self.binary_operator()
            if op is None or _PRECEDENCE[op] < min_precedence:
                break
            self.i += width
            if op == "|":
                left = self.filter(left)
            elif op in ("is", "is not"):
                left = self.test(left, negated=op == "is not")
            else:
                right = self.expression(_PRECEDENCE[op] + 1)
                left = _Expr(self.binary(op, left.code, right.code))
        if min_precedence == 0:
            left = self.ternary(left)
        return left

    def binary_operator(self) -> tuple[str | None, int]:
        tok = self.peek()
        if tok.kind != OP:
            return None, 0
        if tok.value == "is" and self.is_op("not", 1):
            return "is not", 2
        if tok.value == "not":
            if self.is_op("in", 1):
                return "not in", 2
            return None, 0
        return str(tok.value), 1

    @staticmethod
    def binary(op: str, left: str, right: str) -> str:
        if op in _COMPARE_OPS:
            return f"({left} {_COMPARE_OPS[op]} {right})"
        if op in ("and", "or"):
            # Pebble's and/or yield a boolean, not one of their operands
            return f"(({left} {op} {right}) is _pb_truthy)"
        if op in ("+", "-", "*", "/", "%"):
            return f"({left} {op} {right})"
        if op == "not in":
            return f"(not ({left}|_pb_in({right})))"
        return f"({left}|{_FILTER_OPS[op]}({right}))"

    def ternary(self, condition: _Expr) -> _Expr:
        if not self.is_punct("?"):
            return condition
        self.next()
        when_true = self.expression()
        self.expect_punct(":")
        when_false = self.expression()
        return _Expr(f"({when_true.code} if {condition.code} else {when_false.code})")

    def primary(self) -> _Expr:
        tok = self.next()
        if tok.kind == NAME:
            name = str(tok.value)
            if name in _TRUE:
                return self.postfix(_Expr("true"))
            if name in _FALSE:
                return self.postfix(_Expr("false"))
            if name in _NULL:
                return self.postfix(_Expr("none"))
            if self.is_punct("("):
                args = self.arguments()
                target = name if name in self.macros else FUNCTION_PREFIX + name
                return self.postfix(_Expr(f"{target}({args})"))
            if name in self.assigned:
                # a `{% set %}` variable: the template-wide value if set, else the context's
                code = f"({NAMESPACE}|_pb_var({name!r}, {variable(name)}))"
                return self.postfix(_Expr(code, name=name))
            return self.postfix(_Expr(variable(name), name=name))
        if tok.kind == INT:
            return self.postfix(_Expr(str(tok.value)))
        if tok.kind == FLOAT:
            return self.postfix(_Expr(repr(tok.value)))
        if tok.kind == STR:
            return self.postfix(_Expr(repr(tok.value)))
        if tok.kind == ISTR:
            return self.postfix(_Expr(self.interpolation(tok)))
        raise self.unexpected(tok)

    def interpolation(self, tok: Token) -> str:
        code = "''"
        parts = tok.value
        assert isinstance(parts, list)
        for part in parts:
            if isinstance(part, str):
                piece = repr(part)
            else:
                sub = _Parser(self.lexer, part, tok.pos, self.macros, self.assigned)
                piece = sub.expression().code
                sub.expect_end()
            code = f"({code}|_pb_concat({piece}))"
        return code

    def postfix(self, expr: _Expr) -> _Expr:
        while True:
            if self.is_punct("."):
                self.next()
                tok = self.next()
                if tok.kind == INT:
                    expr = _Expr(f"{expr.code}[{tok.value}]")
                    continue
                if tok.kind == NAME or (tok.kind == OP and tok.value in _WORD_OPS):
                    attr = str(tok.value)
                else:
                    raise self.unexpected(tok)
                if self.is_punct("("):
                    raise self.error(
                        f"Method calls are not supported (`.{attr}(...)`); use a filter or function"
                    )
                if expr.name == "loop":
                    attr = _LOOP_ATTRS.get(attr, attr)
                if _ASCII_IDENT_RE.match(attr):
                    expr = _Expr(f"{expr.code}.{attr}")
                else:
                    expr = _Expr(f"{expr.code}[{attr!r}]")
            elif self.is_punct("["):
                self.next()
                index = self.expression()
                self.expect_punct("]")
                expr = _Expr(f"{expr.code}[{index.code}]")
            else:
                return expr

    def arguments(self) -> str:
        self.expect_punct("(")
        args: list[str] = []
        named = False
        if self.is_punct(")"):
            self.next()
            return ""
        while True:
            tok = self.peek()
            if tok.kind == NAME and self.is_punct("=", 1):
                self.i += 2
                args.append(f"{tok.value}={self.expression().code}")
                named = True
            else:
                if named:
                    raise self.error("Positional arguments must come before named arguments")
                args.append(self.expression().code)
            if self.is_punct(","):
                self.next()
                continue
            self.expect_punct(")")
            return ", ".join(args)

    def filter(self, left: _Expr) -> _Expr:
        name = self.expect_name()
        args = self.arguments() if self.is_punct("(") else ""
        call = f"{name}({args})" if args else name
        return _Expr(f"({left.code}|{call})")

    def test(self, left: _Expr, *, negated: bool) -> _Expr:
        name = self.expect_name()
        args = f"({self.arguments()})" if self.is_punct("(") else ""
        return _Expr(f"({left.code} is {'not ' if negated else ''}{name}{args})")

    def list_literal(self) -> _Expr:
        self.expect_punct("[")
        items: list[str] = []
        if not self.is_punct("]"):
            while True:
                items.append(self.expression().code)
                if self.is_punct(","):
                    self.next()
                    continue
                break
        self.expect_punct("]")
        return _Expr("[" + ", ".join(items) + "]")

    def map_literal(self) -> _Expr:
        self.expect_punct("{")
        pairs: list[str] = []
        if not self.is_punct("}"):
            while True:
                key = self.expression()
                self.expect_punct(":")
                value = self.expression()
                pairs.append(f"{key.code}: {value.code}")
                if self.is_punct(","):
                    self.next()
                    continue
                break
        self.expect_punct("}")
        return _Expr("{ " + ", ".join(pairs) + " }")


# -- template scanner -----------------------------------------------------------------------

_OPEN_RE = re.compile(r"\{[{%#]")
_MACRO_RE = re.compile(r"\{%-?\s*macro\s+([^\W\d]\w*)")
_SET_RE = re.compile(r"\{%-?\s*set\s+([^\W\d]\w*)\s*=")
_FOR_RE = re.compile(r"\{%-?\s*for\s+([^\W\d]\w*)(?:\s*,\s*([^\W\d]\w*))?\s+in\b")
_RAW_END_RE = {
    "raw": re.compile(r"\{%(-?)\s*endraw\s*(-?)%\}"),
    "verbatim": re.compile(r"\{%(-?)\s*endverbatim\s*(-?)%\}"),
}
_REMOVED_TAGS = frozenset(
    {
        "autoescape",
        "block",
        "cache",
        "embed",
        "extends",
        "flush",
        "from",
        "import",
        "include",
        "parallel",
    }
)
_SIMPLE_TAGS = frozenset({"else", "endif", "endfor", "endmacro", "endfilter"})


_JAVA_WHITESPACE: Final = " \t\n\x0b\f\r"


class _Output:
    """The Jinja source being built.

    Pebble's whitespace control (`{{-`, `-%}`, `{#- -#}`) is applied here, on the text, with
    Java's notion of whitespace, instead of being left to Jinja. Text holding a carriage return
    is emitted as a string expression: Jinja's lexer turns every CR LF of template data into
    LF, Pebble keeps them.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.trim_next = False
        self.texts: list[str] = []  # the text segments, as output

    def text(self, text: str, *, trim_end: bool = False, raw: bool = False) -> None:
        if self.trim_next:
            text = text.lstrip(_JAVA_WHITESPACE)
            self.trim_next = False
        if trim_end:
            text = text.rstrip(_JAVA_WHITESPACE)
        self.texts.append(text)
        if not text:
            return
        if "\r" in text:
            self.parts.append("{{ " + repr(text) + " }}")
        elif raw:
            self.parts.append("{% raw %}" + text + "{% endraw %}")
        else:
            self.parts.append(text)

    def tag(self, code: str, *, trim_after: bool) -> None:
        self.parts.append(code)
        self.trim_next = trim_after


def translate(source: str) -> Translation:
    """Translate a Pebble template into Jinja source (raises `PebbleSyntaxError`)."""
    lexer = _Lexer(source)
    macros = frozenset(_MACRO_RE.findall(source))
    loop_targets = {name for pair in _FOR_RE.findall(source) for name in pair if name}
    assigned = frozenset(_SET_RE.findall(source)) - loop_targets - macros
    out = _Output()
    if assigned:
        out.tag(f"{{% set {NAMESPACE} = none|_pb_namespace %}}", trim_after=False)
    pos = 0
    prints: list[str] = []
    only_one_print = True
    loops = False
    while True:
        match = _OPEN_RE.search(source, pos)
        if match is None:
            rest = source[pos:]
            out.text(rest)
            only_one_print = only_one_print and not rest.strip()
            break
        start = match.start()
        text = source[pos:start]
        only_one_print = only_one_print and not text.strip()
        kind = source[start + 1]
        inner = start + 2
        left_trim = source.startswith("-", inner)
        out.text(text, trim_end=left_trim)
        if left_trim:
            inner += 1
        if kind == "#":
            end = source.find("#}", inner)
            if end < 0:
                raise lexer.error("Unclosed comment", start)
            out.tag("", trim_after=source[end - 1] == "-" and end - 1 >= inner)
            pos = end + 2
            only_one_print = False
            continue
        close = "}}" if kind == "{" else "%}"
        tokens, pos, right_trim = lexer.lex(inner, close)
        parser = _Parser(lexer, tokens, pos, macros, assigned)
        if kind == "{":
            if not tokens:
                raise lexer.error("Empty expression", start)
            code = parser.expression().code
            parser.expect_end()
            prints.append(code)
            out.tag(f"{{{{ {code} }}}}", trim_after=right_trim)
            continue
        only_one_print = False
        if not tokens or tokens[0].kind not in (NAME, OP):
            raise lexer.error("A tag name is expected after '{%'", start)
        name = str(parser.next().value)
        if name in ("raw", "verbatim"):
            parser.expect_end()
            end_match = _RAW_END_RE[name].search(source, pos)
            if end_match is None:
                raise lexer.error(f"Unclosed {name} tag", start)
            out.trim_next = right_trim
            out.text(source[pos : end_match.start()], trim_end=bool(end_match.group(1)), raw=True)
            out.trim_next = bool(end_match.group(2))
            pos = end_match.end()
            continue
        loops = loops or name in ("for", "macro")
        out.tag(f"{{% {_tag(parser, name)} %}}", trim_after=right_trim)
    jinja = "".join(out.parts)
    if only_one_print and len(prints) == 1:
        # texts holds exactly the text before and the text after the expression
        return Translation(jinja, prints[0], loops, out.texts[0], out.texts[-1])
    return Translation(jinja, None, loops)


def _tag(parser: _Parser, name: str) -> str:
    if name == "if":
        code = parser.expression().code
        parser.expect_end()
        return f"if {code}"
    if name in ("elseif", "elif"):
        code = parser.expression().code
        parser.expect_end()
        return f"elif {code}"
    if name in _SIMPLE_TAGS:
        parser.expect_end()
        return name
    if name == "for":
        targets = [variable(parser.expect_name())]
        if parser.is_punct(","):
            parser.next()
            targets.append(variable(parser.expect_name()))
        if not parser.is_op("in"):
            raise parser.error('Expected "in" in for tag')
        parser.next()
        iterable = parser.expression().code
        parser.expect_end()
        return f"for {', '.join(targets)} in {iterable}|_pb_iter"
    if name == "set":
        target = parser.expect_name()
        parser.expect_punct("=")
        code = parser.expression().code
        parser.expect_end()
        if target in parser.assigned:
            return f"set {NAMESPACE}.{target} = {code}"
        return f"set {variable(target)} = {code}"
    if name == "macro":
        return _macro(parser)
    if name == "filter":
        chain = []
        while True:
            fname = parser.expect_name()
            args = parser.arguments() if parser.is_punct("(") else ""
            chain.append(f"{fname}({args})" if args else fname)
            if parser.is_op("|"):
                parser.next()
                continue
            break
        parser.expect_end()
        return "filter " + "|".join(chain)
    if name in _REMOVED_TAGS:
        raise parser.error(f'Unexpected tag name "{name}" (not available in Kestra)')
    raise parser.error(f'Unexpected tag name "{name}"')


def _macro(parser: _Parser) -> str:
    name = parser.expect_name()
    parser.expect_punct("(")
    params: list[str] = []
    if not parser.is_punct(")"):
        while True:
            param = variable(parser.expect_name())
            if parser.is_punct("="):
                parser.next()
                param += "=" + parser.expression().code
            params.append(param)
            if parser.is_punct(","):
                parser.next()
                continue
            break
    parser.expect_punct(")")
    parser.expect_end()
    return f"macro {name}({', '.join(params)})"
