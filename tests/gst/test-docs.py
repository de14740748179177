#!/usr/bin/python3
"""docs/element.md against the element itself, as gst-inspect-1.0 shows it:

- every property in gst-inspect has a row in the property table, and its
  documented default is the one the element reports;
- the detector threshold the table names for the shipped detector ("−1 = the
  detector model's own (0.2 for the shipped one)") is the one stored in
  models/face-detector.onnx;
- the plugin's Origin URL is a URL or GStreamer's "Unknown package origin".

    test-docs.py --source-dir SRC
"""
import argparse
import os
import re
import subprocess
import sys

import onnx

# GObject / GstObject / GstBaseTransform properties the table does not list.
INHERITED = {"name", "parent"}
THRESHOLD_KEY = "facekp.detector.score_threshold"


def inspect_defaults(text):
    """{property: default as gst-inspect prints it} from its Element Properties."""
    section = text.split("Element Properties:", 1)[1]
    defaults = {}
    name = None
    for line in section.splitlines():
        header = re.match(r"^  ([a-z][a-z0-9-]*)\s*: ", line)
        if header:
            name = header.group(1)
            continue
        default = re.search(r"Default:\s*(.*?)\s*$", line)
        if name and default and name not in defaults:
            defaults[name] = default.group(1)
    return defaults


def documented_rows(element_md):
    """{property: (default column, meaning column)} from the property table."""
    rows = {}
    for line in element_md.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`[a-z-]+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[2], cells[3])
    return rows


def same_default(documented, reported):
    """Whether the table's default says what gst-inspect reports."""
    doc = documented.replace("`", "").replace("\u2212", "-").strip()
    enum = re.fullmatch(r'-?\d+, "([^"]+)"', reported)
    if enum:
        return doc == enum.group(1)
    if reported == "null":
        return doc == "unset"
    if reported.startswith('"'):
        return doc == reported.strip('"')
    if reported in ("true", "false"):
        return doc == reported
    try:
        return float(doc) == float(reported)
    except ValueError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)
            print("FAIL:", message)

    result = subprocess.run(["gst-inspect-1.0", "facekpfilter"], capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        print("FAIL: gst-inspect-1.0 facekpfilter:", result.stderr)
        return 1
    reported = inspect_defaults(result.stdout)
    with open(os.path.join(args.source_dir, "docs", "element.md"), encoding="utf-8") as doc:
        rows = documented_rows(doc.read())

    check(len(reported) > 10, f"only {len(reported)} properties read from gst-inspect")
    for name, default in sorted(reported.items()):
        if name in INHERITED:
            continue
        if name not in rows:
            check(False, f"property {name} is not in docs/element.md's table")
            continue
        check(same_default(rows[name][0], default),
              f"{name}: docs/element.md says default {rows[name][0]}, the element {default}")
    for name in sorted(set(rows) - set(reported)):
        check(False, f"docs/element.md documents {name}, which the element does not have")
    print(f"{len(reported) - len(INHERITED & set(reported))} property defaults compared")

    # The shipped detector's own threshold, which detector-threshold=-1 means.
    meaning = rows.get("detector-threshold", ("", ""))[1]
    named = re.search(r"\(([\d.]+) for the shipped one\)", meaning)
    check(named is not None, f"detector-threshold's row names no shipped threshold: {meaning!r}")
    model = onnx.load(os.path.join(args.source_dir, "models", "face-detector.onnx"),
                      load_external_data=False)
    stored = {p.key: p.value for p in model.metadata_props}.get(THRESHOLD_KEY)
    check(stored is not None, f"face-detector.onnx has no {THRESHOLD_KEY}")
    if named and stored is not None:
        check(float(named.group(1)) == float(stored),
              f"docs/element.md says the shipped threshold is {named.group(1)}, the model {stored}")
        print(f"shipped detector threshold: documented {named.group(1)}, stored {stored}")

    origin = re.search(r"^\s*Origin URL\s+(.*?)\s*$", result.stdout, re.M)
    check(origin is not None, "gst-inspect shows no Origin URL")
    if origin:
        value = origin.group(1)
        check(re.fullmatch(r"https?://\S+", value) is not None or value == "Unknown package origin",
              f"Origin URL {value!r} is neither a URL nor GStreamer's 'Unknown package origin'")
        print(f"Origin URL: {value}")

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("PASS: docs/element.md matches the element")
    return 0


if __name__ == "__main__":
    sys.exit(main())
