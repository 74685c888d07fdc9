"""Parse ``parse_mode`` markup the way the Bot API does, including its refusals.

The point is not pretty rendering: a bot that forgets to escape a patient's name in
MarkdownV2 or HTML gets ``400 can't parse entities`` from Telegram, and the emulator
must fail the same way so such bugs show up in tests rather than in production.
Offsets in entities are UTF-16 code units (as Telegram counts them); offsets in error
messages are UTF-8 byte offsets (as Telegram reports them).
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["EntityParseError", "parse_text", "utf16_len"]


class EntityParseError(ValueError):
    """The text does not parse in the requested mode; str() is Telegram's description."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _error(detail: str) -> EntityParseError:
    return EntityParseError(f"Bad Request: can't parse entities: {detail}")


class _Builder:
    """Accumulates plain text and entities while tracking the UTF-16 length cheaply."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length16 = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, chunk: str) -> None:
        if chunk:
            self.parts.append(chunk)
            self.length16 += utf16_len(chunk)

    def entity(self, kind: str, start16: int, **extra: Any) -> None:
        length = self.length16 - start16
        if length > 0:
            item: dict[str, Any] = {"type": kind, "offset": start16, "length": length}
            item.update({k: v for k, v in extra.items() if v})
            self.entities.append(item)

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) or raise EntityParseError."""
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise EntityParseError(f"Bad Request: unsupported parse_mode {parse_mode}")


# --- HTML ---------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^>]*)?)\s*(/?)>")
_ATTR_RE = re.compile(r"([A-Za-z-]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+)")
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z]{2,8});")


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[tuple[str, int, dict[str, Any]]] = []
    i = 0
    n = len(text)
    while i < n:
        lt = text.find("<", i)
        amp = text.find("&", i)
        stop = min(p for p in (lt, amp, n) if p >= 0)
        out.add(text[i:stop])
        i = stop
        if i >= n:
            break
        if text[i] == "&":
            m = _ENTITY_RE.match(text, i)
            decoded = html.unescape(m.group(0)) if m else "&"
            # Telegram keeps an unknown "&name;" literally rather than failing.
            if m and decoded != m.group(0):
                out.add(decoded)
                i = m.end()
            else:
                out.add("&")
                i += 1
            continue
        m = _TAG_RE.match(text, i)
        if not m:
            raise _error(
                f'Unsupported start tag "{_tag_name_guess(text, i)}" at byte offset '
                f"{_byte_offset(text, i)}"
            )
        closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
        if not closing:
            if name not in _HTML_TAGS:
                raise _error(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                )
            extra = {k.lower(): v.strip("\"'") for k, v in _ATTR_RE.findall(attrs)}
            if name == "span" and extra.get("class") != "tg-spoiler":
                raise _error(
                    f'Tag "span" must have class "tg-spoiler" at byte offset '
                    f"{_byte_offset(text, i)}"
                )
            if name == "blockquote" and "expandable" in attrs.lower():
                extra["expandable"] = "1"
            stack.append((name, out.length16, extra))
        else:
            if not stack:
                raise _error(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
            open_name, start16, extra = stack.pop()
            if open_name != name:
                raise _error(
                    f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            kind = _HTML_TAGS[name]
            if kind == "text_link":
                url = html.unescape(extra.get("href", ""))
                out.entity("text_link", start16, url=url)
            elif kind == "pre":
                out.entity("pre", start16, language=extra.get("language", ""))
            elif kind == "code" and stack and stack[-1][0] == "pre":
                # <pre><code class="language-x"> is Telegram's way to name the language.
                lang = extra.get("class", "").removeprefix("language-")
                if lang:
                    stack[-1][2]["language"] = lang
            elif kind == "blockquote":
                out.entity("expandable_blockquote" if extra.get("expandable") else kind, start16)
            else:
                out.entity(kind, start16)
        i = m.end()
    if stack:
        raise _error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _tag_name_guess(text: str, i: int) -> str:
    m = re.match(r"</?([^\s>/]*)", text[i:])
    return m.group(1) if m else ""


# --- MarkdownV2 -----------------------------------------------------------------------

_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_V2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "blockquote": "BlockQuote",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    # (kind, utf16 start, index in the source for error messages)
    stack: list[tuple[str, int, int]] = []
    quote_start: int | None = None
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            out.add(text[i + 1])
            i += 2
            continue
        at_line_start = i == 0 or text[i - 1] == "\n"
        if c == ">" and at_line_start:
            if quote_start is None:
                quote_start = out.length16
            i += 1
            continue
        if c == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if c not in _V2_RESERVED:
            out.add(c)
            i += 1
            continue
        top = stack[-1][0] if stack else None
        nxt = text[i + 1] if i + 1 < n else ""
        if top == "bold" and c == "*":
            out.entity("bold", stack.pop()[1])
            i += 1
        elif top == "italic" and c == "_" and nxt != "_":
            out.entity("italic", stack.pop()[1])
            i += 1
        elif top == "underline" and c == "_" and nxt == "_":
            out.entity("underline", stack.pop()[1])
            i += 2
        elif top == "strikethrough" and c == "~":
            out.entity("strikethrough", stack.pop()[1])
            i += 1
        elif top == "spoiler" and c == "|" and nxt == "|":
            out.entity("spoiler", stack.pop()[1])
            i += 2
        elif top == "text_link" and c == "]":
            start16 = stack.pop()[1]
            i += 1
            url = ""
            if i < n and text[i] == "(":
                end = _find_unescaped(text, ")", i + 1)
                if end < 0:
                    raise _error(f"Can't find end of a url at byte offset {_byte_offset(text, i)}")
                url = _unescape_v2(text[i + 1 : end])
                i = end + 1
            out.entity("text_link", start16, url=url)
        elif c == "*":
            stack.append(("bold", out.length16, i))
            i += 1
        elif c == "_":
            if nxt == "_":
                stack.append(("underline", out.length16, i))
                i += 2
            else:
                stack.append(("italic", out.length16, i))
                i += 1
        elif c == "~":
            stack.append(("strikethrough", out.length16, i))
            i += 1
        elif c == "|" and nxt == "|":
            stack.append(("spoiler", out.length16, i))
            i += 2
        elif c == "[":
            stack.append(("text_link", out.length16, i))
            i += 1
        elif c == "`":
            i = _v2_code(text, i, out)
        else:
            raise _error(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
    if stack:
        kind, _, pos = stack[-1]
        raise _error(
            f"Can't find end of {_V2_NAMES[kind]} entity at byte offset {_byte_offset(text, pos)}"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


def _find_unescaped(text: str, char: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(char, i):
            return i
        i += 1
    return -1


def _unescape_v2(chunk: str) -> str:
    return re.sub(r"\\(.)", r"\1", chunk, flags=re.DOTALL)


def _v2_code(text: str, i: int, out: _Builder) -> int:
    if text.startswith("```", i):
        end = _find_unescaped(text, "```", i + 3)
        if end < 0:
            raise _error(f"Can't find end of Pre entity at byte offset {_byte_offset(text, i)}")
        body = text[i + 3 : end]
        language = ""
        first, sep, rest = body.partition("\n")
        if sep and first and " " not in first:
            language, body = first, rest
        start16 = out.length16
        out.add(_unescape_v2(body))
        out.entity("pre", start16, language=language)
        return end + 3
    end = _find_unescaped(text, "`", i + 1)
    if end < 0:
        raise _error(f"Can't find end of Code entity at byte offset {_byte_offset(text, i)}")
    start16 = out.length16
    out.add(_unescape_v2(text[i + 1 : end]))
    out.entity("code", start16)
    return end + 1


# --- legacy Markdown ------------------------------------------------------------------

_V1_KINDS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = i
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise _error(
                    f"Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, begin)}"
                )
            body = text[i + 3 : end]
            first, sep, rest = body.partition("\n")
            language = first if sep and first and " " not in first else ""
            if language:
                body = rest
            start16 = out.length16
            out.add(body)
            out.entity("pre", start16, language=language)
            i = end + 3
            continue
        end_char = "]" if c == "[" else c
        end = text.find(end_char, i + 1)
        if end < 0:
            raise _error(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        start16 = out.length16
        out.add(text[i + 1 : end])
        i = end + 1
        if c == "[":
            url = ""
            if i < n and text[i] == "(":
                close = text.find(")", i + 1)
                if close >= 0:
                    url = text[i + 1 : close]
                    i = close + 1
            if url:
                out.entity("text_link", start16, url=url)
        else:
            out.entity(_V1_KINDS[c], start16)
    return out.result()
