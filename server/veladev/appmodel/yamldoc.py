"""Position-aware YAML: every node knows its range, and a syntax error is a finding.

The C composer (libyaml) builds the node tree; values are constructed from those nodes with
YAML 1.1 rules, as Kubernetes' YAML library reads them, except that timestamps stay strings
(they arrive at the API server as JSON strings).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.error import Mark
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from .findings import Finding, Position, Severity, Span

if TYPE_CHECKING:  # the C loader is what runs; the pure-Python one offers the same methods
    from yaml._yaml import Mark as LibyamlMark

    _BaseLoader = yaml.CSafeLoader
else:  # libyaml is part of PyYAML's wheels; fall back to pure Python where it is missing.
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SCALAR_TAGS: dict[tuple[str, tuple[bool, bool]], str] = {}


class _Loader(_BaseLoader):
    """libyaml composes; tag resolution runs in Python once per node, so remember it.

    A file repeats most scalars (true, 80, names), and the safe loader resolves by value
    alone (it has no path resolvers), so a value-keyed memo is exact.
    """

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            key = (value, implicit)
            tag = _SCALAR_TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 64 and len(_SCALAR_TAGS) < 65536:
                    _SCALAR_TAGS[key] = tag
            return tag
        return super().resolve(kind, value, implicit)

    aliased = 0  # nodes expanded from aliases: none in text without an anchor

    def descend_resolver(self, current_node, current_index):
        pass  # no path resolvers in the safe loader

    def ascend_resolver(self):
        pass


PathSeg = str | int
Path = tuple[PathSeg, ...]


# --- aliases: where each is used, and how much they expand ------------------------------------
#
# libyaml's composer hands back the anchored node itself for an alias, so the place of use is
# lost and nothing counts the expansion. A document with an anchor is composed in Python from
# libyaml's events instead: each alias becomes a node of its own (the alias's range, the anchored
# node's children shared, not copied), and the expansion is bounded as Kubernetes bounds it.


class AliasNode(Node):
    """The place where alias `*alias_name` is used; `anchor_node` is the anchored node it stands for."""

    alias_name: str
    anchor_node: Node


class AliasScalarNode(AliasNode, ScalarNode):
    """`*name` standing for an anchored scalar: its range is the alias, its value the anchor's."""


class AliasSequenceNode(AliasNode, SequenceNode):
    """`*name` standing for an anchored sequence; `value` is the anchored node's item list."""


class AliasMappingNode(AliasNode, MappingNode):
    """`*name` standing for an anchored mapping; `value` is the anchored node's pair list."""


def _alias_node(name: str, target: Node, event: AliasEvent) -> AliasNode:
    """A node at the alias's range sharing the anchored node's tag, value and style."""
    node: AliasNode
    if isinstance(target, ScalarNode):
        node = AliasScalarNode(target.tag, target.value, style=target.style)
    elif isinstance(target, SequenceNode):
        node = AliasSequenceNode(target.tag, target.value, flow_style=target.flow_style)
    else:
        assert isinstance(target, MappingNode), "a composer makes only three kinds of node"
        node = AliasMappingNode(target.tag, target.value, flow_style=target.flow_style)
    # The event's marks are libyaml's (yaml._yaml.Mark), as on every node the C composer makes.
    node.start_mark, node.end_mark = event.start_mark, event.end_mark
    node.alias_name, node.anchor_node = name, target
    return node


# go-yaml's decoder (used by Kubernetes through sigs.k8s.io/yaml) refuses a document whose
# nodes come mostly from alias expansion: gopkg.in/yaml.v2 decode.go `allowedAliasRatio`.
# Counting nodes as it does (every node of an expanded alias, keys included), up to 400,000
# expanded nodes may be 99% aliased; from there the allowed share falls to 10% at 4,000,000.
_ALIAS_RATIO_LOW, _ALIAS_RATIO_HIGH = 400_000, 4_000_000


def allowed_alias_ratio(expanded: int) -> float:
    if expanded <= _ALIAS_RATIO_LOW:
        return 0.99
    if expanded >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (expanded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def excessive_aliasing(expanded: int, aliased: int) -> bool:
    return aliased > 100 and expanded > 1000 and aliased / expanded > allowed_alias_ratio(expanded)


class ExcessiveAliasing(ComposerError):
    """A document whose aliases expand beyond the bound: reported at the alias that crossed it."""

    def __init__(self, alias: AliasNode, expanded: int, aliased: int):
        self.message = (
            f"alias *{alias.alias_name} brings the document to {expanded:,} nodes, "
            f"{aliased * 100 // expanded}% of them from aliases; Kubernetes "
            "refuses such excessive aliasing"
        )
        super().__init__(None, None, self.message, alias.start_mark)
        self.alias = alias


class _AliasLoader(Composer, _Loader):
    """libyaml's parser with Python's composer, which knows each alias and counts expansions."""

    def __init__(self, stream: str):
        _Loader.__init__(self, stream)
        Composer.__init__(self)

    def compose_document(self) -> Node | None:
        # As go-yaml counts: every node decoded, and those decoded through an alias.
        self._expanded = self.aliased = 0
        self._last_alias: AliasNode | None = None
        self._open: set[str] = set()  # anchors whose node is still being composed
        # The nodes each collection or alias stands for, expanded aliases included, by id(node)
        # (a scalar stands for 1): the document's nodes all stay alive until it is composed,
        # so their ids are unique.
        self._sizes: dict[int, int] = {}
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self.get_event()
            return self._compose_alias(event)
        anchor = event.anchor if isinstance(event, NodeEvent) else None
        if anchor is not None:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        self._open.discard(anchor)
        if isinstance(node, CollectionNode):
            self._sizes[id(node)] = self._size(node)
        self._count(1, 0)
        return node

    def _size(self, node: CollectionNode) -> int:
        """The nodes `node` stands for: itself and, below it, every node of every alias."""
        size = self._sizes.get
        if isinstance(node, SequenceNode):
            return 1 + sum(size(id(item), 1) for item in node.value)
        return 1 + sum(size(id(k), 1) + size(id(v), 1) for k, v in node.value)

    def _compose_alias(self, event: AliasEvent) -> Node:
        name, target = event.anchor, self.anchors.get(event.anchor)
        if name is None or target is None:
            raise ComposerError(None, None, f"found undefined alias {name!r}", _pyyaml_mark(event.start_mark))
        if name in self._open:
            raise ComposerError(
                None, None, f"alias *{name} is used inside its own anchor", _pyyaml_mark(event.start_mark)
            )
        node = _alias_node(name, target, event)
        size = self._sizes[id(node)] = self._sizes.get(id(target), 1)
        self._last_alias = node
        self._count(size, size)
        return node

    def _count(self, nodes: int, aliased: int) -> None:
        self._expanded += nodes
        self.aliased += aliased
        alias = self._last_alias  # set once any node came from an alias
        if alias is not None and self.aliased > 100 and excessive_aliasing(self._expanded, self.aliased):
            raise ExcessiveAliasing(alias, self._expanded, self.aliased)


def _pyyaml_mark(mark: Mark | LibyamlMark | None) -> Mark | None:
    """libyaml's mark as PyYAML's own Mark, the class its errors are declared with."""
    return None if mark is None else yaml.Mark(mark.name, mark.index, mark.line, mark.column, None, 0)


class _Constructor(yaml.constructor.SafeConstructor):
    # Timestamps stay strings: the API server sees JSON, where they are strings. (What
    # add_constructor does: a copy of the inherited table, with one entry changed.)
    yaml_constructors = {
        **yaml.constructor.SafeConstructor.yaml_constructors,
        "tag:yaml.org,2002:timestamp": yaml.constructor.SafeConstructor.construct_yaml_str,
    }


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_BOOL_VALUES = _Constructor.bool_values


#: Values of large collections by their source text: an edit rebuilds only what it touched.
_VALUE_MEMO: OrderedDict[str, Any] = OrderedDict()
_VALUE_MEMO_SIZE = 4096
_MEMO_MIN_CHARS = 200
_MEMO_MAX_CHARS = 16384  # bigger collections (a whole app) change with every edit anyway


def to_value(
    node: Node,
    constructor: _Constructor | None = None,
    duplicates: list[tuple[ScalarNode, ScalarNode]] | None = None,
    text: str | None = None,
) -> Any:
    """The value of a node, as the safe constructor would build it, several times faster.

    Only the common cases are done here; merge keys and explicit tags go to the constructor.
    Keys repeated in one mapping are appended to `duplicates` as (first, repeated) pairs.
    With the source `text`, a large collection whose text was seen before reuses that value
    (values are shared: callers never change them). Text with an alias is not reused, since
    its anchor may lie outside.
    """
    return _ValueBuilder(constructor or _Constructor(), duplicates, text).build(node)


def _scalar_value(n: ScalarNode, constructor: _Constructor) -> Any:
    tag, raw = n.tag, n.value
    if tag == _STR or tag == _TIMESTAMP:
        return raw
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _BOOL_VALUES[raw.lower()]
    if tag == _INT:
        return int(raw) if raw.isdigit() else constructor.construct_yaml_int(n)
    if tag == _FLOAT:
        return constructor.construct_yaml_float(n)
    return constructor.construct_document(n)


class _ValueBuilder:
    """The values of one document's nodes (see to_value), each node built once."""

    __slots__ = ("constructor", "duplicates", "text", "built", "active")

    def __init__(
        self, constructor: _Constructor, duplicates: list[tuple[ScalarNode, ScalarNode]] | None, text: str | None
    ):
        self.constructor, self.duplicates, self.text = constructor, duplicates, text
        self.built: dict[int, Any] = {}  # by id(node): an alias's anchored node is built once
        self.active: set[int] = set()  # collections being built: an alias to one recurses

    def build(self, n: Node) -> Any:
        key = id(n)
        built = self.built
        if key in built:  # an alias of a node built before
            return built[key]
        if isinstance(n, ScalarNode):
            value = _scalar_value(n, self.constructor)
        elif isinstance(n, AliasNode):
            value = self.build(n.anchor_node)
        elif key in self.active:
            raise yaml.constructor.ConstructorError(None, None, "recursive alias", n.start_mark)
        else:
            value = self._collection(n, key)
        built[key] = value
        return value

    def _collection(self, n: Node, key: int) -> Any:
        text = self.text
        start, end = n.start_mark.index, n.end_mark.index
        if text is not None and _MEMO_MIN_CHARS <= end - start <= _MEMO_MAX_CHARS:
            return self._remembered_collection(n, key, text[start:end])
        return self._new_collection(n, key)

    def _remembered_collection(self, n: Node, key: int, source: str) -> Any:
        """The value of a collection by its source text, from _VALUE_MEMO when seen before."""
        if "*" in source:  # an alias: its anchor, and so the value, may lie outside `source`
            return self._new_collection(n, key)
        value = _VALUE_MEMO.get(source)
        if value is not None:
            _VALUE_MEMO.move_to_end(source)
            return value
        duplicates = self.duplicates
        before = len(duplicates) if duplicates is not None else 0
        value = self._new_collection(n, key)
        if duplicates is None or len(duplicates) == before:  # a repeated key is reported every time
            _VALUE_MEMO[source] = value
            if len(_VALUE_MEMO) > _VALUE_MEMO_SIZE:
                _VALUE_MEMO.popitem(last=False)
        return value

    def _new_collection(self, n: Node, key: int) -> Any:
        if isinstance(n, SequenceNode):
            self.active.add(key)
            value: Any = [self.build(item) for item in n.value]
        elif isinstance(n, MappingNode):
            self.active.add(key)
            value = self._mapping(n)
        else:  # pragma: no cover - only three node kinds
            return self.constructor.construct_document(n)
        self.active.discard(key)
        return value

    def _mapping(self, n: MappingNode) -> Any:
        build, duplicates = self.build, self.duplicates
        value: dict[Any, Any] = {}
        first_keys: dict[Any, Node] = {}
        for k, v in n.value:
            if k.tag == _MERGE:
                return self.constructor.construct_document(n)
            kv = build(k)
            try:
                if kv in value and duplicates is not None and isinstance(k, ScalarNode):
                    first = first_keys[kv]
                    if isinstance(first, ScalarNode):
                        duplicates.append((first, k))
                value[kv] = build(v)
                first_keys.setdefault(kv, k)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", n.start_mark, "found an unhashable key", k.start_mark
                ) from None
        return value


@dataclass(slots=True)
class YamlDocument:
    index: int
    root: Node | None
    value: Any
    duplicates: list[tuple[ScalarNode, ScalarNode]] = field(default_factory=list)
    #: Whether the value holds aliased content (shared, so an expanded walk costs more).
    aliased: bool = False


@dataclass(slots=True)
class ParseResult:
    documents: list[YamlDocument]
    error: Finding | None
    lines: list[str]


def split_lines(text: str) -> list[str]:
    # The line breaks of LSP (and of most editors): \r\n, \r and \n only.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


#: Characters libyaml (YAML 1.1) takes as line breaks and LSP clients do not.
_YAML_ONLY_BREAKS = ("\u2028", "\u2029", "\x85")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _relocated(mark, starts: list[int]):
    """`mark` with line and column recomputed from its character index."""
    line = bisect_right(starts, mark.index) - 1
    return yaml.Mark(mark.name, mark.index, line, mark.index - starts[line], None, 0)


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def _relocate_marks(root: Node, starts: list[int]) -> None:
    """Recompute every mark's line and column with the line breaks of split_lines (libyaml
    also breaks lines at U+2028, U+2029 and U+0085)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        n.start_mark, n.end_mark = _relocated(n.start_mark, starts), _relocated(n.end_mark, starts)
        if isinstance(n, SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, MappingNode):
            for k, v in n.value:
                stack.extend((k, v))


#: Deeper nesting is refused with a finding: every later step (values, validation, outline)
#: walks the tree recursively, and no Application needs a fraction of this.
MAX_DEPTH = 100


def _too_deep(root: Node) -> Node | None:
    """The first node nested deeper than MAX_DEPTH, if any (iterative: any depth is safe)."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    seen: set[int] = set()
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            return n
        if id(n) in seen:  # an alias: its anchor's subtree is walked once
            continue
        seen.add(id(n))
        if isinstance(n, SequenceNode):
            stack.extend((item, depth + 1) for item in n.value if not isinstance(item, ScalarNode))
        elif isinstance(n, MappingNode):
            stack.extend((v, depth + 1) for _, v in n.value if not isinstance(v, ScalarNode))
            stack.extend((k, depth + 1) for k, _ in n.value if not isinstance(k, ScalarNode))
    return None


def span_of(node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(Position(s.line, s.column), Position(e.line, e.column))


def parse(text: str) -> ParseResult:
    lines = split_lines(text)
    starts = _line_starts(text) if any(c in text for c in _YAML_ONLY_BREAKS) else None
    try:
        # Only text with an anchor can hold an alias; libyaml's own composer is a little faster.
        loader = _AliasLoader(text) if "&" in text else _Loader(text)
    except UnicodeEncodeError as exc:  # a lone surrogate (an editor can send one): libyaml reads UTF-8
        return ParseResult([], _surrogate_finding(text, exc), lines)
    docs: list[YamlDocument] = []
    error: Finding | None
    try:
        error = _read_documents(loader, text, lines, starts, docs)
    except ExcessiveAliasing as exc:
        # Like Kubernetes, the document is refused whole; what came before it stays.
        error = _aliasing_finding(exc, starts)
    except yaml.YAMLError as exc:
        error = _syntax_finding(_relocated_error(exc, starts), lines)
    except RecursionError:  # Python's composer (text with an anchor) on extreme nesting
        error = Finding(
            "yaml-syntax", Severity.ERROR, "YAML syntax error: the document nests too deeply", Span.of(0, 0, 0, 0)
        )
    finally:
        loader.dispose()
    return ParseResult(docs, error, lines)


def _read_documents(
    loader: _Loader, text: str, lines: list[str], starts: list[int] | None, docs: list[YamlDocument]
) -> Finding | None:
    """Appends the documents of `loader` to `docs`; the finding of the last that has no value.

    A document too deep or whose nodes cannot become a value (an unhashable key, an empty
    !!int) breaks only itself: it is kept without a tree or value.
    """
    error: Finding | None = None
    constructor = _Constructor()
    while loader.check_node():
        node = loader.get_node()
        if node is not None and starts is not None:
            _relocate_marks(node, starts)
        deep = _too_deep(node) if node is not None else None
        if deep is not None:
            error = _depth_finding(deep)
            docs.append(YamlDocument(len(docs), None, None))
            continue
        duplicates: list[tuple[ScalarNode, ScalarNode]] = []
        try:
            value = to_value(node, constructor, duplicates, text) if node is not None else None
        except (yaml.YAMLError, TypeError, ValueError, IndexError, ArithmeticError) as exc:
            error = _syntax_finding(exc, lines)
            docs.append(YamlDocument(len(docs), None, None))
            constructor = _Constructor()  # it may hold the failed document's half-built state
            continue
        docs.append(YamlDocument(len(docs), node, value, duplicates, loader.aliased > 0))
    return error


def _surrogate_finding(text: str, exc: UnicodeEncodeError) -> Finding:
    line = text.count("\n", 0, exc.start)
    col = exc.start - (text.rfind("\n", 0, exc.start) + 1)
    return Finding(
        "yaml-syntax",
        Severity.ERROR,
        "YAML syntax error: the text holds a lone surrogate (U+D800 to U+DFFF), which is not a character",
        Span.of(line, col, line, col + 1),
    )


def _aliasing_finding(exc: ExcessiveAliasing, starts: list[int] | None) -> Finding:
    start, end = exc.alias.start_mark, exc.alias.end_mark
    if starts is not None:
        start, end = _relocated(start, starts), _relocated(end, starts)
    return Finding(
        "excessive-aliasing", Severity.ERROR, exc.message, Span.of(start.line, start.column, end.line, end.column)
    )


def _relocated_error(exc: yaml.YAMLError, starts: list[int] | None) -> yaml.YAMLError:
    """`exc` with its marks' lines and columns counted as split_lines counts them."""
    if starts is not None:
        for attr in ("problem_mark", "context_mark"):
            if getattr(exc, attr, None) is not None:
                setattr(exc, attr, _relocated(getattr(exc, attr), starts))
    return exc


def _depth_finding(node: Node) -> Finding:
    return Finding(
        "yaml-syntax",
        Severity.ERROR,
        f"YAML syntax error: nesting deeper than {MAX_DEPTH} levels",
        Span(span_of(node).start, Position(node.start_mark.line, node.start_mark.column + 1)),
    )


def _syntax_finding(exc: BaseException, lines: list[str]) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    line = min(line, max(len(lines) - 1, 0))
    length = len(lines[line]) if lines else 0
    end = col + 1 if col < length else col
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Finding("yaml-syntax", Severity.ERROR, message, Span.of(line, col, line, end))


# --- navigating the node tree -------------------------------------------------------------


def mapping_items(node: Node | None) -> Iterator[tuple[ScalarNode, Node]]:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                yield k, v


#: Mappings with more entries than this get a key index on first lookup, so that many
#: findings in one large mapping cost linear time overall, not quadratic.
_INDEX_ABOVE = 8


def mapping_get(node: Node | None, key: str) -> tuple[ScalarNode, Node] | None:
    if isinstance(node, MappingNode) and len(node.value) > _INDEX_ABOVE:
        index = node.__dict__.get("_key_index")
        if index is None:
            # The last one wins, as in the constructed value.
            index = node.__dict__["_key_index"] = {k.value: (k, v) for k, v in mapping_items(node)}
        return index.get(key)
    found = None
    for k, v in mapping_items(node):
        if k.value == key:
            found = (k, v)  # the last one wins, as in the constructed value
    return found


def seq_items(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def _walk(root: Node | None, path: Path) -> tuple[ScalarNode | None, Node | None, bool]:
    """The deepest (key, value) pair along `path`, and whether the whole path exists.

    A path through an alias ends at the alias.
    """
    key: ScalarNode | None = None
    node = root
    for seg in path:
        if isinstance(node, AliasNode):
            # Inside an alias: the place of use, not the shared anchored text, is what a finding
            # names, and an edit there would change every use, so the path stops here.
            return key, node, False
        if isinstance(seg, int):
            items = seq_items(node)
            if not 0 <= seg < len(items):
                return key, node, False
            key, node = None, items[seg]
            continue
        pair = mapping_get(node, seg)
        if pair is None:
            return key, node, False
        key, node = pair
    return key, node, True


def locate(root: Node | None, path: Path) -> tuple[ScalarNode | None, Node | None]:
    """The key node (None for list items) and value node at `path`, as deep as it exists.

    When the path goes deeper than the tree, the deepest existing pair is returned, so a
    finding about a missing child lands on its parent.
    """
    key, node, _ = _walk(root, path)
    return key, node


def locate_exact(root: Node | None, path: Path) -> tuple[ScalarNode | None, Node] | None:
    """The key and value nodes at `path`, or None when some segment of it does not exist."""
    key, node, complete = _walk(root, path)
    return (key, node) if complete and node is not None else None


def scalar_at(root: Node | None, pos: Position) -> tuple[Path, ScalarNode, bool] | None:
    """The scalar under `pos`, its path, and whether it is a mapping key."""
    path: list[PathSeg] = []
    node = root
    while node is not None:
        if isinstance(node, MappingNode):
            entry = _entry_at(node, pos)
            if entry is None:
                return None
            key, value, on_key = entry
            if on_key:
                return tuple(path), key, True
            path.append(key.value)
            node = value
        elif isinstance(node, SequenceNode):
            item = _item_at(node, pos)
            if item is None:
                return None
            path.append(item[0])
            node = item[1]
        elif isinstance(node, ScalarNode):
            return (tuple(path), node, False) if span_of(node).contains(pos) else None
        else:
            return None
    return None


def _entry_at(node: MappingNode, pos: Position) -> tuple[ScalarNode, Node, bool] | None:
    """The first entry whose key (then True) or value (False) holds `pos`."""
    for k, v in node.value:
        if not isinstance(k, ScalarNode):
            continue
        if span_of(k).contains(pos):
            return k, v, True
        if _within(v, pos):
            return k, v, False
    return None


def _item_at(node: SequenceNode, pos: Position) -> tuple[int, Node] | None:
    for i, item in enumerate(node.value):
        if _within(item, pos):
            return i, item
    return None


def _within(node: Node, pos: Position) -> bool:
    sp = span_of(node)
    if isinstance(node, ScalarNode):
        return sp.contains(pos)
    # A block collection ends where the next token starts; treat the end as exclusive.
    return sp.start <= pos < sp.end or sp.start == pos
