"""Event templates for the OpenAI stream relay: the chunks of a stream after its first content
differ only in a few string values (the text; at OpenAI also the ``obfuscation`` padding), so a
read of them is checked by walking it against one chunk's pieces instead of searching it for
every needle ``plain_delta`` knows (a dozen passes over the read).

``EventTemplate.learn(data)`` takes the JSON text of a plain delta (``plain_delta`` said so) and
cuts it at the string values of its ``"content"`` and ``"obfuscation"`` keys: the template is the
literal pieces between them, framed as an SSE event (``data: `` before, the blank line after). An
event made of those pieces with, in each slot, text holding no ``"`` and not ending in ``\\`` has
the learnt chunk's JSON structure exactly (a slot's text cannot close its string, so it adds no
key and no value): only those strings differ, and the event is a plain delta as the learnt one is.
``events(read)`` counts the events at the start of a read that are so, by a prefix test and two
``find``s of a byte per slot (``memchr`` speed, nothing decoded, nothing built per event): a slot
holds no line end either (the pieces hold none but the event's blank line), so each event is one
``data:`` line, as a decoder would read it.
"""

from __future__ import annotations

from .. import _json

#: Keys whose string values vary from chunk to chunk: the slots of a template.
SLOT_KEYS = ('"content":"', '"obfuscation":"')
_BACKSLASH = ord("\\")


class EventTemplate:
    """The pieces of one plain delta's SSE event around its variable strings (see the module docstring)."""

    __slots__ = ("_pieces", "head", "literals")

    def __init__(self, literals: tuple[bytes, ...]) -> None:
        self.literals = literals  # the event's bytes between the slots: head, ..., the end with its blank line
        self.head = literals[0]
        self._pieces = tuple((piece, len(piece)) for piece in literals[1:])

    @classmethod
    def learn(cls, data: str) -> EventTemplate | None:
        """The template of ``data``, one chunk's JSON text, that ``plain_delta`` found plain: None
        when it is not a JSON object, or has no ``"content"`` string or either key more than once."""
        cuts: list[tuple[int, int]] = []
        for key in SLOT_KEYS:
            at = data.find(key)
            if at < 0:
                continue
            if data.find(key, at + 1) >= 0:
                return None
            start = at + len(key)
            end = _string_end(data, start)
            if end < 0:
                return None
            cuts.append((start, end))
        if not cuts or data.find(SLOT_KEYS[0]) < 0:
            return None
        try:
            if not isinstance(_json.loads(data), dict):  # the cuts assume JSON: quotes and escapes as JSON has them
                return None
        except ValueError:
            return None
        cuts.sort()
        literals: list[str] = []
        position = 0
        for start, end in cuts:
            literals.append(data[position:start])
            position = end
        literals.append(data[position:])
        if any("\n" in piece or "\r" in piece for piece in literals):
            return None
        literals[0] = "data: " + literals[0]
        literals[-1] += "\n\n"
        return cls(tuple(piece.encode() for piece in literals))

    def events(self, read: bytes) -> tuple[int, int]:
        """How many events at the start of ``read`` are of this template, and where the first one
        that is not begins (``len(read)`` when all are). A slot's text is what lies between a
        piece and the next ``"``: it holds no quote by construction, and one ending in ``\\`` (an
        escape of that quote, or an escaped backslash: not told apart) or holding a line end ends the walk."""
        head, pieces = self.head, self._pieces
        size = len(head)
        find, starts = read.find, read.startswith
        count = position = 0
        end = len(read)
        while position < end and starts(head, position):
            at = position + size
            for piece, length in pieces:
                quote = find(b'"', at)
                if quote < 0 or read[quote - 1] == _BACKSLASH or not starts(piece, quote):
                    return count, position
                if find(b"\n", at, quote) >= 0:
                    return count, position
                at = quote + length
            position = at
            count += 1
        return count, position


def _string_end(text: str, start: int) -> int:
    """Where the JSON string whose text begins at ``start`` ends (its closing quote), or -1."""
    end = text.find('"', start)
    while end >= 0:
        backslashes = 0
        while text[end - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return end
        end = text.find('"', end + 1)
    return -1
