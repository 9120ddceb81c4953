#!/usr/bin/env python3
"""Fails if a source file of Cairn is over 800 lines or a function over 120 (tests aside).

A room too big to work in is found when it is made, not when the next change needs it
(docs/architecture.md). Functions are found by a brace scanner that knows C++ comments, string
and raw-string literals: a brace block whose head has a parameter list and is not a class,
namespace, enum or initializer is a function; lambdas count toward the function that holds them.

    scripts/check-size.py                 # common/ daemon/ cli/ lib/
    scripts/check-size.py --functions 80  # a tighter limit, to see what comes next
"""
import argparse
import os
import re
import sys


def strip(src):
    """`src` with comments and the insides of literals blanked out, newlines kept."""
    out = []
    i, n = 0, len(src)
    while i < n:
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j]))
            i = j
        elif src.startswith('R"', i) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == '_')):
            m = re.match(r'R"([^(\s]*)\(', src[i:])
            if not m:
                out.append(src[i])
                i += 1
                continue
            end = src.find(')' + m.group(1) + '"', i)
            end = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:end]))
            i = end
        elif src[i] in '"\'':
            quote = src[i]
            j = i + 1
            while j < n and src[j] != quote and src[j] != '\n':
                j += 2 if src[j] == '\\' else 1
            out.append(quote + ' ' * (j - i - 1) + quote)
            i = j + 1
        else:
            out.append(src[i])
            i += 1
    return ''.join(out)


def functions(text):
    """(first line, length in lines, name) of each outermost function body."""
    s = strip(text)
    stack = []  # 'scope', 'block', or ('fn', line, name)
    head_start = 0
    found = []
    for i, c in enumerate(s):
        if c == '{':
            head = s[head_start:i].strip()
            if any(isinstance(e, tuple) for e in stack):
                stack.append('block')
            elif (re.search(r'\b(namespace|class|struct|enum|union)\b[^()]*$', head) or
                  head.endswith('=') or ')' not in head):
                stack.append('scope')
            else:
                names = re.findall(r'([~\w:]+)\s*\(', head)
                stack.append(('fn', s.count('\n', 0, i) + 1, names[0] if names else '?'))
            head_start = i + 1
        elif c == '}':
            if stack:
                e = stack.pop()
                if isinstance(e, tuple):
                    last = s.count('\n', 0, i) + 1
                    found.append((e[1], last - e[1] + 1, e[2]))
            head_start = i + 1
        elif c == ';':
            head_start = i + 1
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--files', type=int, default=800, help='lines per file (800)')
    parser.add_argument('--functions', type=int, default=120, help='lines per function (120)')
    parser.add_argument('roots', nargs='*', default=['common', 'daemon', 'cli', 'lib'])
    args = parser.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    problems = []
    for root in args.roots:
        for folder, _, names in os.walk(root):
            for name in sorted(names):
                if not name.endswith(('.h', '.cpp')):
                    continue
                path = os.path.join(folder, name)
                text = open(path, encoding='utf-8', errors='replace').read()
                lines = text.count('\n')
                if lines > args.files:
                    problems.append(f'{path}: {lines} lines (at most {args.files})')
                for line, length, fn in functions(text):
                    if length > args.functions:
                        problems.append(f'{path}:{line}: {fn} is {length} lines '
                                        f'(at most {args.functions})')
    for p in problems:
        print('size: ' + p, file=sys.stderr)
    if problems:
        return 1
    print('size: ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
