"""Size profile of a WebAssembly module by crate: reads `twiggy top --format csv` (shallow
bytes per function/data item, before wasm-bindgen and wasm-opt) and sums it per crate.

A generic function is counted under the crate of its type when it is a trait impl for a
concrete type (`<serde_json::de::Deserializer as ...>` -> serde_json), else under the crate
that defines it. wasm-bindgen's describe shims and custom sections are left out (they do not
ship). Usage: twiggy top -n 1000000 -f csv X.wasm | python3 wasm_profile.py [rows]
"""
import collections
import csv
import re
import sys

PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?::")
IMPL = re.compile(r"<(.+?) as ([A-Za-z_][A-Za-z0-9_]*)")


def crate_of(name: str) -> str:
    if name.startswith("<"):
        m = IMPL.match(name)
        if m:
            subject = re.sub(r"^(&mut |&)", "", m.group(1))
            inner = PATH.match(subject)
            return inner.group(1) if inner else m.group(2)
    m = PATH.search(name)
    return m.group(1) if m else name.split(" ")[0][:40]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    sizes: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    for row in csv.DictReader(sys.stdin):
        name = row["Name"]
        if "function names" in name or "custom section" in name or "wbindgen_describe" in name:
            continue
        crate = crate_of(name)
        sizes[crate] += int(row["ShallowSize"])
        counts[crate] += 1
    total = sum(sizes.values())
    print(f"{'bytes':>9} {'share':>6} {'items':>6}  crate")
    for crate, size in sizes.most_common(rows):
        print(f"{size:9d} {100 * size / total:5.1f}% {counts[crate]:6d}  {crate}")
    print(f"{total:9d} 100.0% {sum(counts.values()):6d}  all")


if __name__ == "__main__":
    main()
