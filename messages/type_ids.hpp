// proctrack's type-id block: every message type and atom, registered once
// with CAF so that messages can cross a network (add_message_types).
#pragma once

#include "messages/types.hpp"

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include <string>
#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(proctrack, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(proctrack, (proctrack::data_field))
CAF_ADD_TYPE_ID(proctrack, (proctrack::process_record))
CAF_ADD_TYPE_ID(proctrack, (proctrack::process_update))
CAF_ADD_TYPE_ID(proctrack, (proctrack::update_batch))
CAF_ADD_TYPE_ID(proctrack, (proctrack::counter))
CAF_ADD_TYPE_ID(proctrack, (proctrack::stats_report))
CAF_ADD_TYPE_ID(proctrack, (proctrack::query))
CAF_ADD_TYPE_ID(proctrack, (proctrack::enrichment))
CAF_ADD_TYPE_ID(proctrack, (proctrack::fleet_batch))
CAF_ADD_TYPE_ID(proctrack, (proctrack::process_enrichment))
CAF_ADD_TYPE_ID(proctrack, (proctrack::process_state))
CAF_ADD_TYPE_ID(proctrack, (proctrack::pending_exit))
CAF_ADD_TYPE_ID(proctrack, (proctrack::table_state))
CAF_ADD_TYPE_ID(proctrack, (proctrack::history_row))
CAF_ADD_TYPE_ID(proctrack, (proctrack::process_changes))

// Atoms are verbs (at most 10 characters).
CAF_ADD_ATOM(proctrack, proctrack::atom, stats, "stats")
CAF_ADD_ATOM(proctrack, proctrack::atom, run, "run")
CAF_ADD_ATOM(proctrack, proctrack::atom, tick, "tick")
CAF_ADD_ATOM(proctrack, proctrack::atom, flush, "flush")
CAF_ADD_ATOM(proctrack, proctrack::atom, enrich, "enrich")
CAF_ADD_ATOM(proctrack, proctrack::atom, subscribe, "subscribe")
CAF_ADD_ATOM(proctrack, proctrack::atom, snapshot, "snapshot")
CAF_ADD_ATOM(proctrack, proctrack::atom, sync, "sync")
CAF_ADD_ATOM(proctrack, proctrack::atom, ready, "ready")
CAF_ADD_ATOM(proctrack, proctrack::atom, publish, "publish")
CAF_ADD_ATOM(proctrack, proctrack::atom, hosts, "hosts")
CAF_ADD_ATOM(proctrack, proctrack::atom, reconnect, "reconnect")
CAF_ADD_ATOM(proctrack, proctrack::atom, timeout, "timeout")
CAF_ADD_ATOM(proctrack, proctrack::atom, restore, "restore")

CAF_END_TYPE_ID_BLOCK(proctrack)

namespace caf {
class actor_system_config;
} // namespace caf

namespace proctrack {

/// Registers every proctrack message type with a CAF config. A host
/// application that embeds proctrack calls this on its own config.
void add_message_types(caf::actor_system_config &cfg);

} // namespace proctrack
