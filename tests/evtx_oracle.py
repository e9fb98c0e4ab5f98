#!/usr/bin/python3
"""An independent reading of an EVTX file, for tests/evtx_mutation_test.cpp:
python-evtx (python3-evtx, Willi Ballenthin's pure-Python parser), which
shares no code with proctrack's decoder or with libevtx.

  evtx_oracle.py FILE

Prints one JSON object per record whose XML python-evtx renders, in file
order: {"record": EventRecordID (from the rendered XML; the record header's
number when the XML has none), "sha1": SHA-1 of the rendered XML}. A chunk or
record python-evtx cannot read is skipped, as a reader of a damaged log
would; the last line is {"records": N, "errors": M}.
"""
import hashlib
import json
import re
import sys

import Evtx.Evtx as E

RECORD_ID = re.compile(r'<EventRecordID>(\d+)</EventRecordID>')


def main():
    n = errors = 0
    with E.Evtx(sys.argv[1]) as f:
        try:
            chunks = list(f.chunks())
        except Exception:
            chunks, errors = [], errors + 1
        for ch in chunks:
            try:
                for r in ch.records():
                    try:
                        xml = r.xml()
                    except Exception:
                        errors += 1
                        continue
                    m = RECORD_ID.search(xml)
                    record = int(m.group(1)) if m else r.record_num()
                    print(json.dumps({'record': record, 'sha1': hashlib.sha1(
                        xml.encode('utf-8', 'surrogatepass')).hexdigest()}))
                    n += 1
            except Exception:
                errors += 1
    print(json.dumps({'records': n, 'errors': errors}))


if __name__ == '__main__':
    main()
