#!/usr/bin/env python3
"""Writes the sticker fuzzer's seeds (tests/fuzz/corpus/stickers) from the
shipped packs: each seed is a pack's .ini followed by its images in the
fuzzer's "--- file NAME" framing (see fuzz-stickers.c).  PNG images are
replaced by a 2x2 PNG made here, to keep the seeds small.

    python3 tests/fuzz/make-sticker-seeds.py stickers/packs tests/fuzz/corpus/stickers
"""
import pathlib
import re
import struct
import sys
import zlib


def tiny_png():
    def chunk(kind, payload):
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + bytes([255, 0, 0, 200]) * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    packs, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for ini in sorted(packs.glob("*/*.ini")):
        text = ini.read_text()
        names = []
        for value in re.findall(r"^images?\s*=\s*(.*)$", text, re.M):
            names += [n.strip() for n in value.split(";") if n.strip()]
        # Packs that borrow another pack's images ("../default/x.svg") get
        # them beside the .ini: the fuzzer's file names have no folders.
        for name in names:
            if "/" in name:
                text = text.replace(name, pathlib.PurePath(name).name)
        seed = text.encode()
        for name in dict.fromkeys(names):
            image = ini.parent / name
            data = tiny_png() if name.endswith(".png") else image.read_bytes()
            seed += b"\n--- file " + pathlib.PurePath(name).name.encode() + b"\n" + data
        (out / (ini.stem + ".pack")).write_bytes(seed)


if __name__ == "__main__":
    main()
