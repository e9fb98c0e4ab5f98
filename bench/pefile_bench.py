#!/usr/bin/python3
"""python3-pefile in its fast mode on the same files as `proctrack_bench pe`:
PE(fast_load=True) + parse_data_directories(RESOURCE) + extraction of the
version information (fixed info, every StringTable, Translation). One
untimed warm-up pass, then --reps timed passes of --rounds rounds each;
prints one JSON object (median seconds, files/s)."""
import argparse, json, statistics, time
import pefile

RES = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]


def extract(path):
    try:
        pe = pefile.PE(path, fast_load=True)
    except pefile.PEFormatError:
        return None
    pe.parse_data_directories(directories=[RES])
    strings = {}
    for fi in getattr(pe, "FileInfo", None) or []:
        for entry in fi:
            for st in getattr(entry, "StringTable", []) or []:
                for k, v in st.entries.items():
                    strings[k.decode("utf-8", "backslashreplace")] = v.decode(
                        "utf-8", "backslashreplace")
    fixed = getattr(pe, "VS_FIXEDFILEINFO", None)
    if fixed:
        f = fixed[0]
        strings.setdefault("_fixed", "%d.%d" % (f.FileVersionMS, f.FileVersionLS))
    pe.close()
    return strings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    secs = []
    with_info = 0
    for r in range(a.reps + 1):
        t0 = time.perf_counter()
        with_info = 0
        for _ in range(a.rounds):
            for f in a.files:
                s = extract(f)
                if s:
                    with_info += 1
        dt = time.perf_counter() - t0
        if r > 0:
            secs.append(dt)
    med = statistics.median(secs)
    print(json.dumps({"seconds": secs, "median_seconds": med,
                      "files": len(a.files), "rounds": a.rounds,
                      "files_per_s": len(a.files) * a.rounds / med,
                      "with_version_info": with_info // a.rounds,
                      "pefile": pefile.__version__}))


if __name__ == "__main__":
    main()
