"""A one-regex lexer for tars.lark, handed to lark in place of its own (which was half the parse time).

One compiled pattern skips whitespace and comments and matches the next token in a single C-level call;
a NAME that spells a keyword becomes that keyword (as tars2cpp's lexer does: keywords are reserved), and
lines are counted with str.count over the text just consumed. The terminals come from the grammar itself,
so tars.lark stays the one definition of the language.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer, LexerState

# Whitespace and comments before a token. Each piece can be read one way only (one blank; a line comment to
# the end of its line; a block comment to its first `*/`), so when no token follows, the regex cannot
# backtrack into reading part of a comment as a token, nor spend exponential time trying.
_SKIP = r"(?:[ \t\r\n\f\v\ufeff]|//[^\n]*(?![^\n])|/\*(?:[^*]|\*(?!/))*\*/)*"
_PATTERNS = ("INCLUDE", "FLOAT", "INT", "NAME", "STRING")  # tried in this order; punctuation after them


class TarsLexer(Lexer):
    __future_interface__ = 2  # lark: lex(lexer_state, parser_state), the text whole (a TextSlice since 1.2)

    def __init__(self, lexer_conf: Any) -> None:
        keywords: dict[str, str] = {}
        punctuation: list[tuple[str, str]] = []
        regexps: dict[str, str] = {}
        for terminal in lexer_conf.terminals:
            if terminal.name in lexer_conf.ignore:
                continue
            value = terminal.pattern.value
            if terminal.pattern.type == "str" and re.fullmatch(r"\w+", value):
                keywords[value] = terminal.name
            elif terminal.pattern.type == "str":
                punctuation.append((terminal.name, re.escape(value)))
            else:
                regexps[terminal.name] = terminal.pattern.to_regexp()
        alternatives = [f"(?P<{name}>{regexps[name]})" for name in _PATTERNS]
        alternatives += [f"(?P<{name}>{rx})" for name, rx in sorted(punctuation, key=lambda p: -len(p[1]))]
        self.keywords = keywords
        self.token = re.compile(_SKIP + "(?:" + "|".join(alternatives) + ")").match
        self.rest = re.compile(_SKIP + r"\Z").match

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        given: Any = lexer_state.text  # a TextSlice since lark 1.2, the str before
        text: str = given.text if hasattr(given, "text") else given
        pos, line, line_start = 0, 1, 0
        keywords, match = self.keywords, self.token
        while True:
            found = match(text, pos)
            if found is None:
                break
            kind = found.lastgroup
            assert kind is not None
            start = found.start(kind)
            newlines = text.count("\n", pos, start)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", pos, start) + 1
            value = found.group(kind)
            if kind == "NAME":
                kind = keywords.get(value, kind)
            pos = found.end()
            yield Token(kind, value, start, line, start - line_start + 1, line, pos - line_start + 1, pos)
            if "\n" in value:  # a string cannot hold one; a token never does in this grammar
                line += value.count("\n")
                line_start = text.rfind("\n", start, pos) + 1
        if self.rest(text, pos) is None:  # something that is not a token: say where, and what was allowed
            skipped = re.compile(_SKIP).match(text, pos)
            at = skipped.end() if skipped else pos
            line += text.count("\n", pos, at)
            line_start = text.rfind("\n", 0, at) + 1
            state = parser_state.parse_conf.states[parser_state.position] if parser_state else {}
            allowed = {name for name in state if name.isupper()}  # terminals; rules are lower case
            raise UnexpectedCharacters(text, at, line, at - line_start + 1, allowed=allowed)
