"""A terminal, just enough of one: replays what a program wrote to a pty
(text, CR, LF, and the ANSI moves strata's progress uses: ESC[nA, ESC[nB,
ESC[2K, ESC[J) and gives the screen and where the cursor is left, so a test
can check what a user would see after, say, Ctrl-C.

    lines, row, col = render(raw_text)"""
import re

_CSI = re.compile(r"\x1b\[(\d*)([A-Za-z])")


def render(data):
    lines, row, col = [""], 0, 0

    def grow():
        while len(lines) <= row:
            lines.append("")

    i = 0
    while i < len(data):
        m = _CSI.match(data, i)
        if m:
            n = int(m.group(1) or 1)
            op = m.group(2)
            if op == "A":
                row = max(0, row - n)
            elif op == "B":
                row += n
            elif op == "K":            # ESC[2K: the whole line
                grow()
                lines[row] = ""
            elif op == "J":            # ESC[J: from the cursor to the end of the screen
                grow()
                lines[row] = lines[row][:col]
                del lines[row + 1:]
            else:
                raise ValueError(f"escape sequence not understood: {m.group(0)!r}")
            grow()
            i = m.end()
            continue
        c = data[i]
        if c == "\r":
            col = 0
        elif c == "\n":
            row += 1
            grow()
        else:
            grow()
            line = lines[row].ljust(col)
            lines[row] = line[:col] + c + line[col + 1:]
            col += 1
        i += 1
    return lines, row, col
