#!/usr/bin/env python3
"""docs/ci.md embeds example files after `<!-- include: PATH -->` markers, in
the fenced block that follows. `--fill` rewrites those blocks from the files;
without it, checks that every block equals its file (exit 1 if not)."""
import pathlib, re, sys
root = pathlib.Path(__file__).resolve().parent.parent.parent
doc = root / "docs" / "ci.md"
text = doc.read_text()
pat = re.compile(r"(<!-- include: (?P<path>\S+) -->\n(?P<fence>```[a-z]*)\n)(?P<body>.*?)(```\n)", re.S)
bad = []
def fill(m):
    src = (root / m.group("path")).read_text()
    if not src.endswith("\n"):
        src += "\n"
    if "```" in src:
        raise SystemExit(f"{m.group('path')} contains ``` and cannot be embedded")
    if m.group("body") != src:
        bad.append(m.group("path"))
    return m.group(1) + src + m.group(5)
new = pat.sub(fill, text)
n = len(pat.findall(text))
if "--fill" in sys.argv:
    doc.write_text(new)
    print(f"filled {n} includes ({len(bad)} changed)")
else:
    for b in bad:
        print(f"docs/ci.md: block for {b} differs from the file")
    print(f"{n} includes checked, {len(bad)} differ")
    sys.exit(1 if bad else 0)
