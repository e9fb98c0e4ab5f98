#include "actors/tracker/tracker.hpp"

#include <caf/all.hpp>

#include <utility>

namespace proctrack {

namespace {

std::string named(const char *setting, const std::string &why) {
  return std::string{"tracker_settings."} + setting + ": " + why;
}

caf::error invalid(std::string why) {
  return caf::make_error(caf::sec::invalid_argument, std::move(why));
}

// The forwarder's snapshot carries the host's table limits, so the
// collector's mirror evicts exactly as this cache does.
forwarder_config with_table_limits(forwarder_config fc,
                                   const table_config &table) {
  fc.table = table;
  return fc;
}

} // namespace

std::string tracker_settings::validate() const {
  if (auto why = cache.validate(); !why.empty())
    return named("cache", why);
  if (cache.add_enrichments && !enricher)
    return named("cache", "tracker.add-enrichments needs the enricher: set "
                          "tracker_settings.enricher");
  if (enricher)
    if (auto why = enricher->validate(); !why.empty())
      return named("enricher", why);
  if (stats)
    if (auto why = stats->config.validate(); !why.empty())
      return named("stats", why);
  if (forward)
    if (auto why = with_table_limits(*forward, cache.table).validate();
        !why.empty())
      return named("forward", why);
  return {};
}

caf::expected<tracker> spawn_tracker(caf::actor_system &sys,
                                     const tracker_settings &settings) {
  // Everything is checked before the first spawn, so a bad setting leaves
  // nothing running.
  if (auto why = settings.validate(); !why.empty())
    return invalid(std::move(why));
  if (settings.forward) {
    if (!sys.has_middleman())
      return invalid(named("forward",
                           "forwarding needs CAF's middleman: load "
                           "caf::io::middleman in the actor_system_config"));
    if (settings.forward->tls && !sys.has_openssl_manager())
      return invalid(named("forward",
                           "forwarding with tls needs caf::openssl::manager "
                           "loaded in the actor_system_config"));
  }
  tracker t;
  if (settings.enricher) {
    auto e = spawn_enricher(sys, *settings.enricher);
    if (!e)
      return invalid(named("enricher", tracker_error_message(e.error())));
    t.enricher = *e;
  }
  t.cache = spawn_cache(sys, settings.cache, t.enricher);
  std::vector<stats_api> polled;
  if (t.enricher)
    polled.push_back(caf::actor_cast<stats_api>(t.enricher));
  if (settings.forward) {
    std::string error;
    t.forwarder = spawn_forwarder(
        sys, with_table_limits(*settings.forward, settings.cache.table),
        t.cache, error);
    if (!t.forwarder) {
      stop_tracker(t);
      return invalid(named("forward", error));
    }
    polled.push_back(caf::actor_cast<stats_api>(t.forwarder));
  }
  if (settings.stats) {
    auto &s = *settings.stats;
    polled.insert(polled.end(), s.others.begin(), s.others.end());
    t.stats = spawn_stats_publisher(sys, s.config, t.cache, std::move(polled),
                                    s.sink);
  }
  return t;
}

std::string tracker_error_message(const caf::error &err) {
  auto &ctx = err.context();
  for (std::size_t i = 0; i < ctx.size(); ++i)
    if (ctx.match_element<std::string>(i))
      return ctx.get_as<std::string>(i);
  return caf::to_string(err);
}

void stop_tracker(const tracker &t) {
  // The timers first, so nothing polls an actor that is already gone.
  if (t.stats)
    caf::anon_send_exit(t.stats, caf::exit_reason::user_shutdown);
  if (t.forwarder)
    caf::anon_send_exit(t.forwarder, caf::exit_reason::user_shutdown);
  if (t.cache)
    caf::anon_send_exit(t.cache, caf::exit_reason::user_shutdown);
  if (t.enricher)
    caf::anon_send_exit(t.enricher, caf::exit_reason::user_shutdown);
}

} // namespace proctrack
