"""Fixtures for the news sources: a small web server on 127.0.0.1 that serves pages, feeds and PDFs
written in the tests, and a PDF writer (one font, one text line per row, real xref offsets)."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "news"


class NewsSite:
    """`pages[path] = (content type, body)`; counts every GET, so a test can see what was fetched."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.hits: Counter[str] = Counter()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                site.hits[self.path] += 1
                page = site.pages.get(self.path)
                if page is None:
                    self.send_error(404)
                    return
                ctype, body = page
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NewsSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, path: str, ctype: str, body: str | bytes) -> str:
        self.pages[path] = (ctype, body.encode() if isinstance(body, str) else body)
        return self.base + path


def fixture_text(name: str, **values: str) -> str:
    text = (FIXTURES / name).read_text("utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def rss_item(base: str, path: str, title: str, guid: str, date: str = "Sat, 02 Nov 2024 06:00:00 GMT") -> str:
    return (f"<item><title>{title}</title><link>{base}{path}</link><guid>{guid}</guid>"
            f"<pubDate>{date}</pubDate></item>")


def make_pdf(paragraphs: list[list[str]], title: str | None = None) -> bytes:
    """A one-page PDF with the given paragraphs (lists of lines), blank rows between them."""
    rows: list[str] = []
    for para in paragraphs:
        rows += para + [""]
    ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
    for row in rows:
        escaped = row.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("cp1252")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    if title:
        objects.append(b"<< /Title (" + title.encode("cp1252") + b") >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
