#!/usr/bin/python3
"""Every relative link in the repository's Markdown files points at a file that
exists and, when it names an anchor, at a heading that the target has (GitHub's
rule for heading anchors).  Docs quote sections of each other often, and a
renamed heading silently breaks such links.

  test-doc-links.py REPO_ROOT
"""
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_files():
    """The tracked Markdown files (the git index when there is one, else a walk)."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "*.md"], capture_output=True,
                             text=True, check=True).stdout.split()
        if out:
            return [f for f in out if "node_modules" not in f]
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = [x for x in dirs if not x.startswith((".", "build")) and x != "node_modules"]
        found += [os.path.relpath(os.path.join(d, f), ROOT) for f in files if f.endswith(".md")]
    return found


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation other than - and _ dropped,
    spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def outside_fences(path):
    """The file's lines that are not inside fenced code blocks."""
    fenced = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if FENCE.match(line):
                fenced = not fenced
            elif not fenced:
                yield line


def anchors(path):
    seen, result = {}, set()
    for line in outside_fences(path):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            result.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return result


def links(path):
    for line in outside_fences(path):
        line = re.sub(r"`[^`]*`", "", line)      # inline code is not a link
        for m in LINK.finditer(line):
            yield m.group(1)


class DocLinks(unittest.TestCase):
    def test_slug_follows_github(self):
        self.assertEqual(slug("Mouth refiner (`facekp-landmarks68.onnx`, 2026-12-04)"),
                         "mouth-refiner-facekp-landmarks68onnx-2026-12-04")
        self.assertEqual(slug("Region refiners: the mouth and the eyes (`train_refiner.py`)"),
                         "region-refiners-the-mouth-and-the-eyes-train_refinerpy")

    def test_relative_links_resolve(self):
        files = markdown_files()
        self.assertGreater(len(files), 5)
        cache, broken = {}, []
        for rel in files:
            path = os.path.join(ROOT, rel)
            for target in links(path):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):      # http:, mailto:, ...
                    continue
                file_part, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
                    if file_part else path
                if not os.path.exists(dest):
                    broken.append(f"{rel}: {target} (no such file)")
                    continue
                if anchor and dest.endswith(".md"):
                    if dest not in cache:
                        cache[dest] = anchors(dest)
                    if anchor not in cache[dest]:
                        broken.append(f"{rel}: {target} (no such heading)")
        self.assertEqual(broken, [], "\n".join(broken))


if __name__ == "__main__":
    unittest.main()
