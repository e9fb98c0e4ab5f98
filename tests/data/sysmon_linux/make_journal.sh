#!/bin/sh
# Regenerates journal.json and journal.export: the Sysmon for Linux events of
# ip-172-31-60-25.syslog (their XML as published, see README.md) sent to a
# real systemd-journald the way Sysmon sends them (syslog(3) over the
# journal's /dev/log socket, identifier "sysmon", from a root process whose
# name is "sysmon"), plus other programs' messages and one entry a local
# user forges with `logger -t sysmon`; then read back with journalctl.
# Needs root and a systemd-journald already running, e.g. started by hand:
#   /lib/systemd/systemd-journald &
# Usage: make_journal.sh OUTDIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: make_journal.sh OUTDIR}
sock=/run/systemd/journal/dev-log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A process called "sysmon" (journald's _COMM is the sender's name).
cp /usr/bin/logger "$work/sysmon"
since=$(date -u '+%Y-%m-%d %H:%M:%S')
sleep 1
sysmon_says() {
  "$work/sysmon" -u "$sock" --size 65536 -t sysmon -- "$1"
}
# Sysmon's own start-up text, which is no event.
sysmon_says "Sysmon v1.0.2 - Monitors system events"
grep ' sysmon: <Event>' "$here/ip-172-31-60-25.syslog" \
  | sed 's/^[^<]*<Event>/<Event>/' | while IFS= read -r xml; do
  sysmon_says "$xml"
done
# A process whose command line holds an escape byte and text that looks
# like the end of the event, as Sysmon escapes it (&lt; &gt; &amp;): the
# journal keeps the raw ESC, and journalctl -o json gives such a MESSAGE
# as an array of byte values.
esc=$(printf '\033')
grep 'EventRecordID>77196<' "$here/ip-172-31-60-25.syslog" \
  | sed 's/^[^<]*<Event>/<Event>/' \
  | sed "s/77196/77197/; s/4095-637f-505f-8d8aca550000/4095-637f-505f-8d8aca550001/; s/>4091</>4092</; s|<Data Name=\"CommandLine\">shred -u ./injector.sh</Data>|<Data Name=\"CommandLine\">printf '${esc}[0m' \&lt;/Event\&gt; \&amp;\&amp; true</Data>|; s|/usr/bin/shred|/usr/bin/printf|" \
  > "$work/hostile.xml"
sysmon_says "$(cat "$work/hostile.xml")"
# Other programs.
logger -u "$sock" -t CRON -- "(root) CMD (/opt/automation/updater.sh)"
logger -u "$sock" -t xmrig -p user.info -- "configuration saved to: \"/usr/share/.logstxt/config.json\""
# A local user (nobody) forging an event as "sysmon": journald records
# _UID=65534 and _COMM=logger whatever the message claims.
grep 'EventRecordID>76954<' "$here/ip-172-31-60-25.syslog" \
  | sed 's/^[^<]*<Event>/<Event>/' \
  | sed 's/76954/76999/; s/789d-2406ab550000/789d-2406ab55ffff/; s/>4005</>6666</; s|/usr/bin/curl|/usr/bin/forged|' \
  > "$work/forged.xml"
chmod 644 "$work/forged.xml"
chmod 755 "$work"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  logger -u "$sock" --size 65536 -t sysmon -- "$(cat "$work/forged.xml")"
sleep 1
journalctl --no-pager --since "$since" _TRANSPORT=syslog -o json > "$out/journal.json"
journalctl --no-pager --since "$since" _TRANSPORT=syslog -o export > "$out/journal.export"
