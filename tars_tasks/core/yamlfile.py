"""Reading user YAML safely and fast, and finding the line and column of a value.

Files are parsed once with libyaml's CSafeLoader. Node marks (line/column) are
computed only for files that have problems, by composing the file a second time.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import yaml

try:  # libyaml is ~10x faster; fall back to pure Python where it is missing
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader  # type: ignore[assignment]

from tars_tasks.core import yamlguard
from tars_tasks.core.errors import Problem

PathPart = Union[str, int]


class ValuesLoader(SafeLoader):
    """The safe loader plus `!secret NAME`, read as the reference string `${secret:NAME}` (core/secrets.py)."""


def _secret(loader: yaml.BaseLoader, node: yaml.Node) -> str:
    name = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)):
        raise yaml.constructor.ConstructorError(None, None, "!secret takes a NAME of letters, digits and _ "
                                                "(not starting with a digit)", node.start_mark)
    return "${secret:" + name + "}"


ValuesLoader.add_constructor("!secret", _secret)


class YamlFileError(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


def _line_col_of_offset(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def decode(data: bytes, display: str) -> str:
    """UTF-8 text of a file, or a located error for binary or non-UTF-8 content."""
    nul = data.find(b"\x00")
    if nul != -1:
        line, col = _line_col_of_offset(data, nul)
        raise YamlFileError(Problem(display, line, col, "", "binary content (NUL byte); expected a UTF-8 YAML file"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col_of_offset(data, exc.start)
        message = f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        raise YamlFileError(Problem(display, line, col, "", message)) from None
    return text[1:] if text.startswith("\ufeff") else text


def syntax_error(exc: yaml.MarkedYAMLError, text: str | None = None) -> tuple[int, int, str]:
    """1-based line and column of a YAML syntax error, and its one-line message.

    The parser reports where it gave up, which for an unterminated quoted string or an unclosed
    ``[``/``{`` can be many lines after the mistake. Those are placed at the opening quote or
    bracket instead, with the give-up line in the message. Finding the opening bracket needs the
    parsed ``text``; without it an unclosed bracket is reported where the parser gave up.
    """
    opened = _unterminated_quote(exc) or _simple_key_without_colon(exc) or _unclosed_flow(exc, text)
    if opened is not None:
        return opened
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
    return line, col, f"YAML syntax error: {what}"


def _gave_up(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark
    return f"the parser gave up at line {mark.line + 1}" if mark else "the parser gave up later"


# how the C and the pure Python parser word "the quoted string ran into the end of the file / the next document"
_QUOTE_RAN_ON = ("end of stream", "document indicator", "document separator")


def _unterminated_quote(exc: yaml.MarkedYAMLError) -> tuple[int, int, str] | None:
    mark = exc.context_mark
    if mark is None or exc.context != "while scanning a quoted scalar":
        return None
    if not any(what in str(exc.problem) for what in _QUOTE_RAN_ON):
        return None  # e.g. a bad escape: the problem mark is at the mistake
    return (mark.line + 1, mark.column + 1,
            f"YAML syntax error: unterminated quoted string (started here; {_gave_up(exc)})")


def _simple_key_without_colon(exc: yaml.MarkedYAMLError) -> tuple[int, int, str] | None:
    """``server`` alone on a line where a key belongs: the parser notices only on the next line."""
    mark = exc.context_mark
    if mark is None or exc.context != "while scanning a simple key":
        return None
    return (mark.line + 1, mark.column + 1,
            f"YAML syntax error: expected ':' after this key ({_gave_up(exc)})")


def _unclosed_flow(exc: yaml.MarkedYAMLError, text: str | None) -> tuple[int, int, str] | None:
    """An unclosed ``[`` or ``{``: the parser gave up at the end of the file or back at the block's indentation."""
    problem = exc.problem_mark
    if problem is None or text is None or not (exc.context or "").startswith("while parsing a flow"):
        return None
    opening = _open_bracket_at(text, problem.line, problem.column)
    if opening is None:
        return None
    bracket, line, col = opening
    lines = text.split("\n")
    tail = [lines[problem.line][problem.column:]] + lines[problem.line + 1:] if problem.line < len(lines) else []
    at_end = all(not rest.strip() or rest.lstrip().startswith("#") for rest in tail)
    back_at_block = problem.line > line and not at_end and _indent(lines[problem.line]) <= _indent(lines[line])
    if not (at_end or back_at_block):
        return None  # a missing ',' or a stray character inside the brackets: the problem mark is at the mistake
    return line + 1, col + 1, f"YAML syntax error: unclosed {bracket!r} (started here; {_gave_up(exc)})"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _open_bracket_at(text: str, line: int, column: int) -> tuple[str, int, int] | None:
    """The innermost ``[``/``{`` still open at 0-based (line, column): (bracket, line, column), or None."""
    stack: list[tuple[str, int, int]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            start = token.start_mark
            if (start.line, start.column) >= (line, column):
                break
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                stack.append((token.id, start.line, start.column))
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)) and stack:
                stack.pop()
    except yaml.YAMLError:
        pass  # the scanner stops at its own error; what was open before it still counts
    return stack[-1] if stack else None


# Collection tags the quick load builds itself; scalars of other tags are built by the loader's constructor.
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_STR, _NULL, _BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_SPECIAL_KEYS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")
# Every collection the composer nests starts at an indicator of its own (`[`, `{`, `- `, a key's `:` or `?`),
# so their count bounds the depth libyaml's composer recurses to (in C): a file with more is never composed
# before yamlguard's event pass has bounded its depth.
_INDICATORS = (b":", b"-", b"[", b"{", b"?")
QUICK_MAX_INDICATORS = 1000


class _NotSimple(Exception):
    """The document is not a plain tree of standard values: load it the careful way."""


def _quick_load(text: str, data: bytes) -> dict | None:
    """The values of a plain document in one pass of the C parser: composed by libyaml, then built here while
    checking what yamlguard checks. None for anything else (an anchor or alias, a merge key, a collection
    tag, a complex or repeated key, deep nesting, a syntax error, not a mapping): `load_mapping` then guards
    and loads it as before, with the same located messages."""
    if sum(data.count(c) for c in _INDICATORS) > QUICK_MAX_INDICATORS or b"&" in data and b"*" in data:
        return None  # possibly deep, or possibly aliased (a node reached twice: sizes to count)
    try:
        loader = ValuesLoader(text)
    except yaml.YAMLError:
        return None
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            return None
        value = _build(loader, node, 1)
    except (_NotSimple, yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
        return None
    finally:
        loader.dispose()
    return value if isinstance(value, dict) else None


def _build(loader: ValuesLoader, node: yaml.Node, depth: int) -> Any:
    """The value of ``node`` (a tree: no alias is written), a collection at nesting ``depth``."""
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR:
            return node.value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return loader.bool_values[node.value.lower()]
        return loader.construct_object(node)  # int, float, timestamp, binary, !secret: the loader's own rules
    if depth > yamlguard.MAX_DEPTH:
        raise _NotSimple
    if isinstance(node, yaml.MappingNode) and tag == _MAP:
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in _SPECIAL_KEYS:
                raise _NotSimple
            out[_build(loader, key_node, depth)] = _build(loader, value_node, depth + 1)
        if len(out) != len(node.value):
            raise _NotSimple  # a key written twice (or two that load equal): yamlguard says where
        return out
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
        return [_build(loader, item, depth + 1) for item in node.value]
    raise _NotSimple


def load_mapping(data: bytes, display: str) -> tuple[dict, str]:
    """Parse one YAML document that must be a mapping. Returns (values, text)."""
    text = decode(data, display)
    quick = _quick_load(text, data)
    if quick is not None:
        return quick, text
    try:
        yamlguard.check(text, SafeLoader)  # before loading: depth, alias bombs and duplicate keys, located
    except yamlguard.StructureError as exc:
        raise YamlFileError(Problem(display, exc.line + 1, exc.col + 1, format_path(exc.path), exc.message)) from None
    try:
        value = yaml.load(text, Loader=ValuesLoader)
    except yaml.MarkedYAMLError as exc:
        line, col, message = syntax_error(exc, text)
        raise YamlFileError(Problem(display, line, col, "", message)) from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col_of_offset(text.encode("utf-8"), len(text[: exc.position].encode("utf-8")))
        raise YamlFileError(Problem(display, line, col, "", f"character {exc.character!r} is not allowed in YAML "
                                                            "(control characters must be escaped)")) from None
    except yaml.YAMLError as exc:
        raise YamlFileError(Problem(display, 1, 1, "", f"YAML error: {exc}")) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. bad timestamps, deep nesting
        raise YamlFileError(Problem(display, 1, 1, "", f"YAML error: {exc}")) from None
    if value is None:
        raise YamlFileError(Problem(display, 1, 1, "", "empty file; expected a mapping with app, server, ..."))
    if not isinstance(value, dict):
        raise YamlFileError(Problem(display, 1, 1, "", f"top level is {describe(value)}; expected a mapping"))
    if _is_recursive(value):
        raise YamlFileError(Problem(display, 1, 1, "", "recursive YAML alias (an anchor that contains itself)"))
    return value, text


def _is_recursive(value: Any) -> bool:
    """True when a container holds itself (a recursive alias), which would loop every later walk."""
    stack: list[tuple[Any, frozenset[int]]] = [(value, frozenset())]
    while stack:
        node, parents = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in parents:
                return True
            inner = parents | {id(node)}
            stack.extend((child, inner) for child in (node.values() if isinstance(node, dict) else node))
    return False


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {short(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$][-A-Za-z0-9_.$/]*$")


def format_path(path: Sequence[PathPart]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int) or not (isinstance(part, str) and _PLAIN_KEY.match(part)):
            out += f"[{part!r}]" if isinstance(part, str) else f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class Locator:
    """Maps a path inside a parsed file to the 1-based line and column of its node."""

    def __init__(self, text: str):
        self._text = text
        self._root: yaml.Node | None = None
        self._composed = False

    def _compose(self) -> yaml.Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self._text, Loader=SafeLoader)
            except yaml.YAMLError:  # pragma: no cover - the file loaded before, so it composes
                self._root = None
        return self._root

    def scalar(self, path: Sequence[PathPart]) -> str | None:
        """The text of the scalar at exactly ``path`` as written (``00123``, not the 83 YAML reads it as); None
        when there is no scalar there."""
        node = self._compose()
        for part in path:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if _key_matches(k, part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
            else:
                return None
        return node.value if isinstance(node, yaml.ScalarNode) else None

    def find(self, path: Sequence[PathPart], key: bool = False) -> tuple[int, int]:
        """Line/col of the value at ``path`` (of its key when ``key``); the nearest existing parent otherwise."""
        node = self._compose()
        if node is None:
            return 1, 1
        mark = node.start_mark
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                for knode, vnode in node.value:
                    if _key_matches(knode, part):
                        node = vnode
                        mark = knode.start_mark if (last and key) else vnode.start_mark
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                mark = node.start_mark
            else:
                break
        return mark.line + 1, mark.column + 1


def _key_matches(knode: yaml.Node, part: PathPart) -> bool:
    if not isinstance(knode, yaml.ScalarNode):
        return False
    if knode.value == part:
        return True
    return str(knode.value) == str(part)


def read_file(path: Path, display: str) -> tuple[dict, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YamlFileError(Problem(display, 1, 1, "", f"cannot read: {exc.strerror}")) from None
    return load_mapping(data, display)
