"""Hot regions of a kernel's SASS, from Nsight Compute's source page.

    ncu --section SourceCounters --page source --print-source sass --metrics smsp__inst_executed.sum \
        ... > kernel-sass.txt
    python3 tools/bench/sass_regions.py kernel-sass.txt --tokens 155582464

A region is a run of instructions that each executed more than --share of the kernel's warp
instructions (gaps of up to 8 colder lines are bridged), which picks out the loops over the row
(pass 1, the gather pass). Each region prints its share of the instructions and, with --tokens
(the row elements the call read: B x V), the thread instructions it spent per token.
docs/bench/ncu/*-sass-regions.txt are its output.
"""
import argparse


def parse(path):
    """(instruction text, warp instructions executed) per SASS line."""
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("0x"):
                continue
            t = line.split()
            # The text ends where four numeric columns begin (operands like "0x10," end in commas).
            j = next((i for i in range(2, len(t) - 3)
                      if all(x.isdigit() for x in t[i:i + 4]) and not t[i - 1].endswith(",")), None)
            if j is not None:
                rows.append((" ".join(t[1:j]), int(t[j + 3])))
    if not rows:
        raise SystemExit(f"sass_regions.py: {path} holds no SASS lines with counts "
                         "(expected ncu --page source --print-source sass output)")
    return rows


def regions(rows, share):
    total = sum(n for _, n in rows)
    out, cur = [], None
    for i, (text, n) in enumerate(rows):
        if n > total * share:
            if cur is None:
                cur = [i, i, 0, []]
            cur[1], cur[2] = i, cur[2] + n
            cur[3].append(text)
        elif cur and i - cur[1] > 8:
            out.append(cur)
            cur = None
    if cur:
        out.append(cur)
    return total, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sass", help="ncu --page source --print-source sass output")
    ap.add_argument("--tokens", type=float, default=0.0, help="row elements the profiled call read (B x V)")
    ap.add_argument("--share", type=float, default=0.0005, help="hot: more than this share of all instructions")
    a = ap.parse_args()
    if not 0.0 < a.share < 1.0:
        ap.error(f"--share {a.share}: expected a fraction between 0 and 1")
    total, regs = regions(parse(a.sass), a.share)
    per = (lambda n: f", {n * 32 / a.tokens:.1f} per token") if a.tokens else (lambda n: "")
    print(f"total warp instructions {total}{per(total)}")
    for first, last, n, texts in regs:
        ops = " / ".join(x.split()[1] if x.startswith("@") else x.split()[0] for x in texts[:60:6])
        print(f"lines {first}-{last}: {100 * n / total:.1f}%{per(n)}; every 6th opcode: {ops}")


if __name__ == "__main__":
    main()
