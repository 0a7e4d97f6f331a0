#!/usr/bin/env python3
"""Lists src/ files over 500 lines and functions over 80 lines."""
import os, re, sys
MAX_FILE, MAX_FN = 500, 80

def code_only(t):
    out = []; i = 0; n = len(t)
    while i < n:
        if t.startswith('//', i):
            j = t.find('\n', i); j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif t.startswith('/*', i):
            j = t.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', t[i:j])); i = j
        elif t[i] == 'r' and (i == 0 or not (t[i-1].isalnum() or t[i-1] == '_')) and re.match(r'r#*"', t[i:]):
            h = len(re.match(r'r(#*)"', t[i:]).group(1))
            j = t.find('"' + '#' * h, i + 2 + h); j = n if j < 0 else j + 1 + h
            out.append(re.sub(r'[^\n]', ' ', t[i:j])); i = j
        elif t[i] == '"':
            j = i + 1
            while j < n and t[j] != '"':
                j += 2 if t[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(re.sub(r'[^\n]', ' ', t[i:j])); i = j
        elif t[i] == "'":
            m = re.match(r"'(\\[^']+|[^\\'])'", t[i:])
            if m:
                out.append(' ' * len(m.group(0))); i += len(m.group(0))
            else:
                out.append("'"); i += 1
        else:
            out.append(t[i]); i += 1
    return ''.join(out)

fn_re = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+(\w+)')
bad = []
for root, _, files in sorted(os.walk('src')):
    for f in sorted(files):
        if not f.endswith('.rs'):
            continue
        p = os.path.join(root, f)
        lines = code_only(open(p).read()).split('\n')
        if len(lines) - 1 > MAX_FILE:
            bad.append(f'{p}: {len(lines) - 1} lines (over {MAX_FILE})')
        for i, l in enumerate(lines):
            m = fn_re.match(l)
            if not m:
                continue
            depth = 0; started = False
            for j in range(i, len(lines)):
                for c in lines[j]:
                    if c == '{': depth += 1; started = True
                    elif c == '}': depth -= 1
                if started and depth == 0:
                    break
                if not started and lines[j].rstrip().endswith(';'):
                    break
            if j - i + 1 > MAX_FN:
                bad.append(f'{p}:{i + 1}: fn {m.group(1)}: {j - i + 1} lines (over {MAX_FN})')
print('\n'.join(bad) or f'no file over {MAX_FILE} lines, no function over {MAX_FN} in src/')
sys.exit(1 if bad else 0)
