"""Special-token partition, as llama.cpp's `tokenizer_st_partition` does it.

Before a text reaches the model's encoder, the texts of special tokens are cut out of it and
replaced by their ids. The tokens are taken longest first (UTF-8 length, ties by id); each one
splits every raw fragment left so far at all its occurrences, left to right. User-defined tokens
(gemma's whitespace runs and HTML tags, for example) are always cut out; control and unknown tokens
(`<start_of_turn>`, `<bos>`) only when `parse_special` is true, otherwise they stay plain text.
A token with the LSTRIP (RSTRIP) attribute also eats the whitespace before (after) it.

Searching a long text for each of thousands of special tokens (gemma has 6241 `<unusedN>`) would
cost tens of milliseconds, so the tokens sit in a prefix tree: a subtree is only searched when its
prefix occurs in the text. That only skips tokens that cannot occur, so the result is exactly the
one-by-one algorithm's.
"""

from __future__ import annotations

from localllm.tokenizer.vocab import ATTR_LSTRIP, ATTR_RSTRIP, ATTR_SPECIAL

Fragment = "str | int"  # raw text, or a token id already decided
_C_SPACE = " \t\n\v\f\r"  # what C's isspace() accepts, as llama.cpp strips
_FIRST_KEY, _KEY_STEP = 4, 2  # prefix lengths of the tree levels: 4, 6, 8, ... characters
_LEAF_SIZE = 16  # a node with at most this many tokens just tests each of them


class SpecialSplitter:
    """Cuts special-token texts out of a string. entries: (id, text, attrs), longest first."""

    def __init__(self, entries: list[tuple[int, str, int]]):
        self._entries = {True: entries, False: [e for e in entries if not e[2] & ATTR_SPECIAL]}
        self._trees = {flag: _tree(es, list(range(len(es))), "", 0) for flag, es in self._entries.items()}

    def split(self, text: str, parse_special: bool) -> list:
        """-> fragments in order: str (raw text, never empty) or int (a special token's id)."""
        fragments: list = [text] if text else []
        for token_id, token_text, attrs in self._present(text, parse_special):
            fragments = _cut(fragments, token_id, token_text, attrs)
        return fragments

    def _present(self, text: str, parse_special: bool) -> list[tuple[int, str, int]]:
        """The entries whose text occurs in `text`, in partition order."""
        entries = self._entries[parse_special]
        hits: list[int] = []
        stack = [self._trees[parse_special]]
        while stack:
            node = stack.pop()
            hits.extend(k for k in node.members if entries[k][1] in text)
            stack.extend(child for child in node.children if child.prefix in text)
        hits.sort()
        return [entries[k] for k in hits]


class _Node:
    """Tokens sharing `prefix`: `members` are tested one by one, `children` refine the prefix."""

    __slots__ = ("prefix", "members", "children")

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.members: list[int] = []        # positions in the entry list
        self.children: list[_Node] = []


def _tree(entries: list[tuple[int, str, int]], positions: list[int], prefix: str, depth: int) -> _Node:
    """The prefix tree over entries[positions], whose texts all start with `prefix` (len depth)."""
    node = _Node(prefix)
    if len(positions) <= _LEAF_SIZE:
        node.members = positions
        return node
    width = depth + (_FIRST_KEY if depth == 0 else _KEY_STEP)
    groups: dict[str, list[int]] = {}
    for k in positions:
        text = entries[k][1]
        if len(text) <= depth:
            node.members.append(k)
        else:
            groups.setdefault(text[:width], []).append(k)
    node.children = [_tree(entries, ks, key, width) for key, ks in groups.items()]
    return node


def _cut(fragments: list, token_id: int, token: str, attrs: int) -> list:
    """Split every raw fragment at each occurrence of `token`, left to right."""
    out: list = []
    for frag in fragments:
        if type(frag) is int:
            out.append(frag)
            continue
        pos = frag.find(token)
        if pos < 0:
            out.append(frag)
            continue
        start = 0
        while pos >= 0:
            left = frag[start:pos]
            if attrs & ATTR_LSTRIP:
                left = left.rstrip(_C_SPACE)
            if left:
                out.append(left)
            out.append(token_id)
            start = pos + len(token)
            if attrs & ATTR_RSTRIP:
                while start < len(frag) and frag[start] in _C_SPACE:
                    start += 1
            pos = frag.find(token, start)
        if start < len(frag):
            out.append(frag[start:])
    return out
