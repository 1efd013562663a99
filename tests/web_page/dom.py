"""A small DOM of an HTML document (the standard library's parser), to read a page as a tree.

Enough to find elements by id, tag or attribute and read their text: the status page's tests
read what chromium's `--dump-dom` serialised, or what the renderer wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that never have an end tag (HTML Living Standard, "void elements").
VOID = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()  # noqa: SIM905
)


@dataclass(eq=False)
class Node:
    """An element: its tag, attributes, children (elements and text, in order)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        """Yield this element and every element under it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Return the elements with `tag` (any when None) whose attributes include `attrs`
        (underscores in names stand for hyphens: data_lot_id is data-lot-id)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k) == v for k, v in wanted.items())
        ]

    def by_id(self, element_id: str) -> Node:
        """Return the one element with `element_id`; fail when there is not exactly one."""
        found = self.find_all(id=element_id)
        assert len(found) == 1, f"{len(found)} elements with id={element_id!r}"
        return found[0]

    @property
    def text(self) -> str:
        """Return the text under this element, whitespace collapsed."""
        return " ".join("".join(self._texts()).split())

    def _texts(self) -> Iterator[str]:
        for child in self.children:
            if isinstance(child, Node):
                yield from child._texts()
            else:
                yield child


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.open: list[Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, 0, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(html: str) -> Node:
    """Return the document node of `html`."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
