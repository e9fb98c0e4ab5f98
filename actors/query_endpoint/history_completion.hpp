// What a history store adds to an answer about now that the in-memory
// table missed (docs/history.md "Lookups that miss the cache"): which
// question to ask the store, and how to merge its answer with the
// table's. Pure logic (no actor): the agent's query facade and the fleet
// collector (for each host's mirror) ask their history actor with it.
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace proctrack {

struct history_completion {
  enum class merge {
    replace,       ///< the store's answer instead of the table's
    prepend_chain, ///< the store's chain of an evicted ancestor goes first
    merge_children ///< the store's children the table lacks, by start time
  };
  /// The question for the store (ids as the table has them; a collector
  /// prefixes its host: HOST/ID).
  query ask;
  merge how = merge::replace;
  std::int64_t max = 0; ///< the answer's bound (MAX, or the verb's default)
};

/// What to ask the store so that `cached` (a table's JSON answer to `q`)
/// is complete, or nullopt when the table's answer is all there is:
/// - get, tree: the table does not know the process (null);
/// - callchain: the chain is empty (the store's whole chain), or its
///   oldest entry names a parent that is not `<ppid>-?` (evicted): the
///   store's chain of that parent, up to MAX in all;
/// - children: always (the store's children the table no longer holds).
std::optional<history_completion> plan_completion(const query &q,
                                                  const std::string &cached);

/// `cached` completed with `stored`, the store's answer to `c.ask`. Text
/// is spliced, not re-serialized, except for a children merge; an answer
/// that is not the JSON expected leaves `cached` as it was.
std::string complete_answer(const history_completion &c, std::string cached,
                            std::string stored);

} // namespace proctrack
