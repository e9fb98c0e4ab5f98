#!/usr/bin/python3
"""Damaged EVTX against python-evtx (issue 18 item 5): for each EVTX FILE,
ROUNDS copies with 4 random bits flipped in the records area of its chunks
(seeded), each read by `proctrack replay` (InputEvents) and by python3-evtx
(records whose XML renders). Prints the copies where proctrack read fewer
records, and any proctrack exit that is not 0 (a crash, a hang's timeout).
Not a test: python-evtx renders damaged bytes as values where proctrack
refuses and names a record, so fewer is a place to look, not a verdict.

  bench/evtx_mutation_sweep.py PROCTRACK_BINARY ROUNDS FILE...
"""
import json
import random
import struct
import subprocess
import sys
import tempfile

COUNT = r'''
import sys, Evtx.Evtx as E
n = 0
with E.Evtx(sys.argv[1]) as f:
    try:
        for ch in f.chunks():
            try:
                for r in ch.records():
                    try:
                        r.xml()
                        n += 1
                    except Exception:
                        pass
            except Exception:
                pass
    except Exception:
        pass
print(n)
'''


def record_areas(b):
    areas, k = [], 0
    while 4096 + (k + 1) * 65536 <= len(b):
        c = 4096 + k * 65536
        if b[c:c + 8] == b'ElfChnk\0':
            free = struct.unpack('<I', b[c + 48:c + 52])[0]
            if 512 < free <= 65536:
                areas.append((c + 512, c + free))
        k += 1
    return areas


def main():
    binary, rounds, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(11)
    total = fewer = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = tmp + '/mutated.evtx'
        for src in files:
            original = open(src, 'rb').read()
            areas = record_areas(original)
            for i in range(rounds if areas else 0):
                m = bytearray(original)
                for _ in range(4):
                    a, e = rng.choice(areas)
                    m[rng.randrange(a, e)] ^= 1 << rng.randrange(8)
                open(path, 'wb').write(m)
                py = subprocess.run(['timeout', '120', '/usr/bin/python3', '-c',
                                     COUNT, path], capture_output=True,
                                    text=True).stdout.strip()
                r = subprocess.run(['timeout', '60', binary, 'replay',
                                    '--format=evtx', path, '--query=stats',
                                    '--log.level=off'],
                                   capture_output=True, text=True)
                total += 1
                if r.returncode != 0:
                    failed += 1
                    print(f'{src} round {i}: exit {r.returncode}')
                    continue
                stats = json.loads(r.stdout.strip().splitlines()[-1])['result']
                ours, theirs = stats['InputEvents'], int(py or -1)
                if ours < theirs:
                    fewer += 1
                    print(f'{src} round {i}: proctrack {ours}, python-evtx '
                          f'{theirs}, InputErrors {stats["InputErrors"]}')
    print(f'{total} damaged copies: {failed} bad exits, {fewer} with fewer '
          f'records than python-evtx')


if __name__ == '__main__':
    main()
