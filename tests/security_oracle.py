#!/usr/bin/python3
"""An independent reading of a JSON-lines Windows event export holding
Security 4688/4689 (and maybe Sysmon) events, for tests/security_log_test.cpp.
It shares no code with proctrack: Python's json, gzip and datetime only.

  security_oracle.py extract IN OUT   write IN's lines whose provider is not
                                      Sysmon to OUT (a Security-only log)
  security_oracle.py expect FILE      print, as JSON, the processes a replay
                                      of FILE should list, with their parents

The rules it applies (docs/sources.md, "Security log"):
- times: Sysmon UtcTime; a Security event's TimeCreated (or winlogbeat 6's
  @timestamp), or nxlog's EventTime + (@timestamp - EventReceivedTime)
  rounded to 15 minutes; when the file has Sysmon events, Security times
  are moved by the most common difference UtcTime - TimeCreated of the
  Sysmon events (rounded to 15 minutes) of the same host;
- a 4688 is the same creation as a Sysmon EID 1 of the same host with the
  same pid, the same image file name (any case) and a time at most 2 s away
  (or, when that EID 1 has no ProcessId, the same image and time): only the
  Sysmon process is listed;
- a process started from a 4688 has as parent the process that last took
  the creator's pid (in file order) on that host, if it started at or before
  the child; else "<ppid>-?".
"""
import collections
import gzip
import json
import math
import sys
from datetime import datetime, timezone

SYSMON = "microsoft-windows-sysmon"
SECURITY = "microsoft-windows-security-auditing"


def open_text(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "rt", encoding="utf-8", errors="replace")


def when(text):
    """Seconds since 1970 (float) of '2020-09-04 07:06:21.388', RFC 3339."""
    if not text:
        return None
    t = text.strip().replace("T", " ")
    if t.endswith("Z"):
        t = t[:-1]
    frac = 0.0
    if "." in t:
        t, f = t.split(".", 1)
        digits = "".join(ch for ch in f if ch.isdigit())
        frac = float("0." + digits) if digits else 0.0
    try:
        d = datetime.strptime(t, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return d.timestamp() + frac


def quarter(seconds):
    return round(seconds / 900.0) * 900


def evtx_events(path):
    """EVTX through python-evtx (Debian python3-evtx) and ElementTree."""
    import xml.etree.ElementTree as ET
    from Evtx.Evtx import Evtx
    ns = "{http://schemas.microsoft.com/win/2004/08/events/event}"
    with Evtx(path) as log:
        for rec in log.records():
            root = ET.fromstring(rec.xml())
            system = root.find(ns + "System")
            eid = int(system.find(ns + "EventID").text)
            prov = system.find(ns + "Provider").get("Name", "").lower()
            host = system.find(ns + "Computer").text or ""
            t = when(system.find(ns + "TimeCreated").get("SystemTime"))
            fields = {}
            data = root.find(ns + "EventData")
            if data is not None:
                for d in data.findall(ns + "Data"):
                    fields[d.get("Name")] = d.text or ""
            yield (rec.record_num(), prov, eid, host, t, fields)


def events(path):
    """(line number, provider, event id, host, export time, fields)."""
    with open(path, "rb") as f:
        if f.read(8) == b"ElfFile\0":
            yield from evtx_events(path)
            return
    for n, line in enumerate(open_text(path), 1):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not isinstance(e, dict):
            continue
        if "event_data" in e:  # winlogbeat 6
            yield (n, (e.get("source_name") or "").lower(), e.get("event_id"),
                   e.get("computer_name") or "", when(e.get("@timestamp")),
                   e["event_data"])
            continue
        t = when(e.get("TimeCreated"))
        if t is None and e.get("EventTime"):
            t = when(e["EventTime"])
            if e.get("EventReceivedTime") and e.get("@timestamp"):
                t += quarter(when(e["@timestamp"]) - when(e["EventReceivedTime"]))
        yield (n, (e.get("SourceName") or "").lower(), e.get("EventID"),
               e.get("Hostname") or "", t, e)


def image_name(path):
    return (path or "").replace("/", "\\").split("\\")[-1].lower()


def expect(path):
    evs = list(events(path))
    # The Security clock per host, from the Sysmon events of the file.
    votes = collections.defaultdict(collections.Counter)
    for n, prov, eid, host, t, f in evs:
        if prov == SYSMON and t is not None and when(f.get("UtcTime")) is not None:
            votes[host.lower()][quarter(when(f["UtcTime"]) - t)] += 1
    every = collections.Counter()
    for c in votes.values():
        every.update(c)

    def shift(host):
        c = votes.get(host.lower()) or every
        return c.most_common(1)[0][0] if c else 0

    sysmon_creations = []
    for n, prov, eid, host, t, f in evs:
        if prov == SYSMON and eid == 1:
            sysmon_creations.append({
                "host": host.lower(), "pid": str(f.get("ProcessId", "")).strip(),
                "time": when(f.get("UtcTime")), "image": image_name(f.get("Image")),
                "used": False})

    def twin(host, pid, t, image):
        # Sysmon creations with that pid first; those without a pid next.
        for with_pid in (True, False):
            best = None
            for s in sysmon_creations:
                if s["used"] or s["host"] != host.lower() or s["time"] is None:
                    continue
                if bool(s["pid"]) != with_pid or s["image"] != image:
                    continue
                if with_pid and s["pid"] != pid:
                    continue
                gap = abs(s["time"] - t)
                if gap <= 2.0 and (best is None or gap < best[0]):
                    best = (gap, s)
            if best:
                best[1]["used"] = True
                return True
        return False

    procs = []
    holder = {}  # (host, pid) -> process that last took the pid

    def same_process(host, pid, start, p):
        """The table's rule (docs/semantics.md, "Same process, two
        sources"): a start whose pid a running process took within 1 s is
        that process; its data is merged (the later Exe wins)."""
        h = holder.get((host.lower(), pid)) if pid else None
        if h is None or "end" in h or abs(h["start"] - start) > 1.0:
            return False
        if h["source"] == "sysmon" and p["source"] == "sysmon":
            return False  # two GUIDs: two processes
        h["image"] = p["image"]
        h["merged"] = True
        if p["source"] == "security":
            h["command_line"] = p.get("command_line") or h.get("command_line")
        return True

    matched = 0
    security_starts = 0
    for n, prov, eid, host, t, f in evs:
        if prov == SYSMON and eid == 1:
            pid = str(f.get("ProcessId", "")).strip()
            start = when(f.get("UtcTime"))
            p = {"host": host, "pid": pid, "start": start, "source": "sysmon",
                 "image": f.get("Image"), "line": n,
                 "guid": (f.get("ProcessGuid") or "").lower()}
            if same_process(host, pid, start, p):
                continue
            if pid:
                holder[(host.lower(), pid)] = p
            procs.append(p)
        elif prov == SECURITY and eid == 4688:
            pid = str(int(f["NewProcessId"], 16))
            # Some nxlog lines lost the creator: no parent to check.
            ppid = str(int(f["ProcessId"], 16)) if "ProcessId" in f else None
            start = t + shift(host)
            security_starts += 1
            if twin(host, pid, start, image_name(f.get("NewProcessName"))):
                matched += 1
                continue
            parent = holder.get((host.lower(), ppid))
            if ppid is None:
                parent_id = None
            elif parent is not None and parent["start"] <= start:
                parent_id = "%s-%d" % (ppid, math.floor(parent["start"]))
            else:
                parent_id = ppid + "-?"
            p = {"host": host, "pid": pid, "ppid": ppid, "start": start,
                 "source": "security", "image": f.get("NewProcessName"),
                 "parent_id": parent_id, "line": n,
                 "command_line": f.get("CommandLine"),
                 "subject": f.get("SubjectUserName"),
                 "target": f.get("TargetUserName"),
                 "label": f.get("MandatoryLabel"),
                 "elevation": f.get("TokenElevationType")}
            if same_process(host, pid, start, p):
                continue
            holder[(host.lower(), pid)] = p
            procs.append(p)
        elif (prov == SECURITY and eid == 4689) or (prov == SYSMON and eid == 5):
            if prov == SECURITY:
                pid, end = str(int(f["ProcessId"], 16)), t + shift(host)
            else:
                pid, end = str(f.get("ProcessId", "")).strip(), when(f.get("UtcTime"))
            h = holder.get((host.lower(), pid))
            if h is not None and end is not None and h["start"] <= end:
                h.setdefault("end", end)
    for p in procs:
        p["id"] = "%s-%d" % (p["pid"] or "?", math.floor(p["start"]))
    return {"processes": procs, "security_starts": security_starts,
            "sysmon_twins": matched,
            "shift": {h: c.most_common(1)[0][0] for h, c in votes.items()}}


def extract(src, dst):
    kept = 0
    with open(dst, "w", encoding="utf-8") as out:
        for line in open_text(src):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            prov = (e.get("SourceName") or e.get("source_name") or "").lower()
            if prov != SYSMON:
                out.write(line if line.endswith("\n") else line + "\n")
                kept += 1
    print(kept)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "expect":
        json.dump(expect(sys.argv[2]), sys.stdout)
    else:
        sys.exit(__doc__)
