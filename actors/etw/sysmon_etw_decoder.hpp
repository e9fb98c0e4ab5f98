// Decodes the UserData of a Sysmon event delivered by ETW (the live source on
// Windows, provider Microsoft-Windows-Sysmon
// {5770385f-c22a-43e0-bf4c-06f5698ffbd9}) into the same sysmon_event the EVTX
// reader gives, and so into the same update rows (to_update(), SPEC §5).
// Plain C++: no Windows header, no CAF; tested on Linux with payloads built
// from the substitution values of the corpus's EVTX records
// (tests/etw_decoder_test.cpp).
//
// Layout. An ETW event's UserData is its template's properties back to back,
// with no names and no padding: the names and in-types come from TDH at run
// time (TdhGetEventInformation's TRACE_EVENT_INFO, one EVENT_PROPERTY_INFO
// per top-level property) or from the provider's manifest template. The
// layout is keyed by property NAME, never by the event's version: Sysmon's
// Event 1 "version 5" has 16, 21, 22 or 23 fields depending on the release.
// Sizes per in-type (TDH_INTYPE_*, the Windows SDK's tdh.h; the numbers are
// also BinXml's value types, [MS-EVEN6] 2.2.18):
//   1 UnicodeString  UTF-16LE up to and including a NUL unit
//   2 AnsiString     bytes up to and including a NUL byte (read as Latin-1)
//   3/4 Int8/UInt8 1, 5/6 Int16/UInt16 2, 7/8 Int32/UInt32 4,
//   9/10 Int64/UInt64 8, 11 Float 4, 12 Double 8, 13 Boolean 4 (a BOOL),
//   15 GUID 16, 16 Pointer 4 or 8 (the event header's 32/64-bit flag),
//   17 FILETIME 8, 18 SYSTEMTIME 16, 19 SID 8 + 4 * SubAuthorityCount,
//   20 HexInt32 4, 21 HexInt64 8; all little-endian.
// Other in-types (binary and counted types, whose length is another
// property) are refused with an error naming the property: Sysmon's process
// events use none of them.
//
// Values are rendered as text exactly as the EVTX path renders them
// (libevtx's XML as pugixml reads it: GUID "{747F3D96-...}" upper case,
// HexInt64 "0x0000000001caf291", CR LF in a string read as LF), so that one
// process gives one row whichever path saw it.
//
// Errors: a payload that is cut off, holds a string with no NUL, a SID of a
// bad length, more than max_properties properties or more than max_payload
// bytes, or bytes left after the last property gives false and a message
// naming the property and its byte offset. Never a read outside the payload;
// work and memory are linear in the payload's size.
#pragma once

#include "actors/ingest/sysmon_event.hpp"
#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace proctrack::etw {

/// The TDH in-types this decoder reads (values of the SDK's _TDH_IN_TYPE).
enum in_type : std::uint16_t {
  in_null = 0,
  in_unicode_string = 1,
  in_ansi_string = 2,
  in_int8 = 3,
  in_uint8 = 4,
  in_int16 = 5,
  in_uint16 = 6,
  in_int32 = 7,
  in_uint32 = 8,
  in_int64 = 9,
  in_uint64 = 10,
  in_float = 11,
  in_double = 12,
  in_boolean = 13,
  in_binary = 14, ///< refused: its length is another property
  in_guid = 15,
  in_pointer = 16,
  in_filetime = 17,
  in_systemtime = 18,
  in_sid = 19,
  in_hexint32 = 20,
  in_hexint64 = 21,
};

/// One top-level property of an event's template, in payload order.
struct property {
  std::string name;
  std::uint16_t type = in_null; ///< a TDH in-type
};

/// The properties of one (event id, version), in payload order.
using layout = std::vector<property>;

/// What ETW gives outside UserData, as the EVTX record's System element
/// would say it. ETW events do not carry the computer's name: the session
/// fills in the local host's.
struct envelope {
  std::string computer;
  std::uint64_t record_number = 0; ///< a sequence number of the source
  std::uint64_t filetime = 0;      ///< EventHeader.TimeStamp; 0 = none
  bool pointer_64 = true;          ///< EVENT_HEADER_FLAG_64_BIT_HEADER
};

/// Bounds: ETW events are at most 64 KiB; Sysmon's have some 30 properties.
inline constexpr std::size_t max_payload = 65536;
inline constexpr std::size_t max_properties = 256;

/// Decodes `size` bytes of UserData laid out as `props` into ev: provider
/// "Microsoft-Windows-Sysmon", `event_id`, the envelope, and one field per
/// property (name, rendered value) in payload order. False, with `why`
/// ("property CommandLine at byte 212: string not terminated"), on any
/// damage; ev is then unspecified.
bool decode_payload(std::uint16_t event_id, const unsigned char *data,
                    std::size_t size, const layout &props, const envelope &env,
                    sysmon_event &ev, std::string &why);

/// decode_payload() and then the shared Sysmon mapping (to_update()): a
/// `start` row for EID 1, an `exit` row for EID 5. nullopt, with `why`, for
/// a damaged payload or an event that is not a process event; a start with
/// an impossible UtcTime comes back kept (unknown start) with `why` set, as
/// from every other source.
std::optional<process_update>
decode_update(std::uint16_t event_id, const unsigned char *data,
              std::size_t size, const layout &props, const envelope &env,
              std::string &why);

/// A FILETIME (100 ns since 1601) as the EVTX path prints one
/// ("2020-03-21T21:45:04.908857700Z").
std::string filetime_text(std::uint64_t ft);

} // namespace proctrack::etw
