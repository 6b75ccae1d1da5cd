// Values, lists and maps of sessions in Redis: reads from the request's
// snapshot, each write one function call that changes one key on the server.
// Every stored byte read back is checked (its MAC binds it to this session
// and key) before the codec sees it.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "session_storage.hpp"

namespace recall::detail {
namespace {

std::string field_of(std::string_view key) {
  std::string f = ".";
  f += key;
  return f;
}

redis_session_record& record_of(const record_ptr& r) {
  return static_cast<redis_session_record&>(*r);
}

}  // namespace

redis_session_storage::slot* redis_session_storage::find(redis_session_record& rec,
                                                         std::string_view key) {
  for (slot& s : rec.values) {
    if (s.first == key) return &s;
  }
  return nullptr;
}

void redis_session_storage::throw_corrupt(std::string_view key, std::string_view what,
                                          codec_errc code) const {
  rejected_storage_.fetch_add(1, std::memory_order_relaxed);
  throw codec_error(code, fmt::format("recall: session value '{}' as stored in Redis {}: it was "
                                      "corrupted there, or moved from another session or key. "
                                      "Nothing of it was used; erase or overwrite it",
                                      key, what));
}

void redis_session_storage::throw_quota(std::string_view key, const outcome& o) {
  quota_exceeded_.fetch_add(1, std::memory_order_relaxed);
  throw quota_error(std::string(key), o.extra, o.bytes, options_.max_bytes_per_session);
}

void redis_session_storage::check_write(const outcome& o, std::string_view key,
                                        std::string_view what) {
  switch (o.status) {
    case session_reply::ok:
    case session_reply::stale_version:
      return;
    case session_reply::ended:
      throw_ended(fmt::format("cannot {}", what));
    case session_reply::quota:
      throw_quota(key, o);
    case session_reply::wrong_kind:
      throw_wrong_kind(key, what == "push to" ? "a list" : "a map");
    case session_reply::corrupt:
      throw_corrupt(key, "cannot be parsed as a list or a map", codec_errc::malformed_payload);
    default:
      throw_unavailable(what, "the function answered what this operation never asks for");
  }
}

// --- single values ------------------------------------------------------------

bool redis_session_storage::read(const record_ptr& r, std::string_view key,
                                 std::uint64_t current_version,
                                 function_ref<void(const value_read&)> found) {
  auto& rec = record_of(r);
  slot* s = find(rec, key);
  if (!s) return false;
  const auto v = parse_stored(s->second);
  if (!v) throw_corrupt(key, "is not a recall value", codec_errc::malformed_payload);
  if (v->kind == 'l' || v->kind == 'm') throw_wrong_kind(key, "a single value");
  if (!format_.value_valid(rec.tag, key, *v)) {
    throw_corrupt(key, "does not verify", codec_errc::checksum_mismatch);
  }
  if (v->version < current_version) {
    // Dropped on the server only if nobody replaced it meanwhile.
    const std::string expected = s->second;
    run(rec, functions_.erase, {field_of(key), expected}, "drop a stale value", false);
    if (slot* still = find(rec, key)) {
      *still = std::move(rec.values.back());
      rec.values.pop_back();
    }
    return false;
  }
  const std::string encoded = from_compact(v->compact);
  found(value_read{encoded, nullptr});
  return true;
}

void redis_session_storage::write(const record_ptr& r, std::string_view key, value_write value) {
  auto& rec = record_of(r);
  if (rec.ended) throw_ended("cannot write to");
  const std::string compact =
      to_compact(value.ops ? value.ops->encode(value.data) : std::string_view(value.data));
  std::string stored = format_.value(rec.tag, key, compact, value.version);
  const std::string version = value.version == 0 ? std::string() : big_endian(value.version);
  const outcome o = run(rec, functions_.set, {field_of(key), stored, version}, "write to", true);
  check_write(o, key, "write to");
  if (o.status != session_reply::ok) return;  // a newer version is stored: keep what we saw
  if (slot* s = find(rec, key)) {
    s->second = std::move(stored);
  } else {
    rec.values.emplace_back(std::string(key), std::move(stored));
  }
}

bool redis_session_storage::contains(const record_ptr& r, std::string_view key) {
  return find(record_of(r), key) != nullptr;
}

bool redis_session_storage::erase(const record_ptr& r, std::string_view key) {
  auto& rec = record_of(r);
  if (rec.ended || !rec.stored) return false;
  const outcome o = run(rec, functions_.erase, {field_of(key)}, "erase from", false);
  if (o.status != session_reply::ok) return false;
  if (slot* s = find(rec, key)) {
    *s = std::move(rec.values.back());
    rec.values.pop_back();
  }
  return o.extra == 1;
}

void redis_session_storage::clear(const record_ptr& r) {
  auto& rec = record_of(r);
  if (rec.ended || !rec.stored) return;
  const outcome o = run(rec, functions_.clear, {}, "clear", false);
  if (o.status == session_reply::ok) rec.values.clear();
}

// --- lists ---------------------------------------------------------------------

void redis_session_storage::list_push(const record_ptr& r, std::string_view key, std::size_t n,
                                      std::string item) {
  auto& rec = record_of(r);
  if (rec.ended) throw_ended("cannot write to");
  const std::string frame = format_.item(rec.tag, key, to_compact(item));
  const std::string cap = std::to_string(n);
  const outcome o = run(rec, functions_.list_push, {field_of(key), frame, cap}, "push to", true);
  check_write(o, key, "push to");
  slot* s = find(rec, key);
  const auto kind = s ? parse_stored(s->second) : std::nullopt;
  if (s && kind && kind->kind == 'l') {
    s->second = list_with(s->second, frame, n);
  } else if (s) {
    s->second = list_with("", frame, n);  // the snapshot was older than the server's list
  } else {
    rec.values.emplace_back(std::string(key), list_with("", frame, n));
  }
}

std::size_t redis_session_storage::list_read(const record_ptr& r, std::string_view key,
                                             std::size_t n, std::size_t first, std::size_t count,
                                             function_ref<void(std::string_view)> item) {
  auto& rec = record_of(r);
  slot* s = find(rec, key);
  if (!s) return 0;
  const auto v = parse_stored(s->second);
  if (!v) throw_corrupt(key, "is not a recall value", codec_errc::malformed_payload);
  if (v->kind != 'l') throw_wrong_kind(key, "a list");
  std::vector<std::string_view> frames;
  if (!split_items(v->body, frames)) {
    throw_corrupt(key, "cannot be parsed as a list", codec_errc::malformed_payload);
  }
  const std::size_t kept = std::min(frames.size(), n);
  const std::size_t oldest = frames.size() - kept;
  for (std::size_t i = first; i < kept && i - first < count; ++i) {
    const std::string_view f = frames[oldest + i];
    if (!format_.item_valid(rec.tag, key, f)) {
      throw_corrupt(key, "has a list item that does not verify", codec_errc::checksum_mismatch);
    }
    item(from_compact(item_compact(f)));
  }
  return kept;
}

// --- maps ------------------------------------------------------------------------

void redis_session_storage::map_put(const record_ptr& r, std::string_view key, std::size_t n,
                                    std::string k, std::string v) {
  auto& rec = record_of(r);
  if (rec.ended) throw_ended("cannot write to");
  const std::string frame = format_.entry(rec.tag, key, to_compact(k), to_compact(v));
  const std::string cap = std::to_string(n);
  const outcome o = run(rec, functions_.map_put, {field_of(key), frame, cap}, "put into", true);
  check_write(o, key, "put into");
  slot* s = find(rec, key);
  const auto kind = s ? parse_stored(s->second) : std::nullopt;
  if (s && kind && kind->kind == 'm') {
    s->second = map_with(s->second, frame, n);
  } else if (s) {
    s->second = map_with("", frame, n);
  } else {
    rec.values.emplace_back(std::string(key), map_with("", frame, n));
  }
}

bool redis_session_storage::map_get(const record_ptr& r, std::string_view key, std::string_view k,
                                    function_ref<void(std::string_view)> value) {
  auto& rec = record_of(r);
  slot* s = find(rec, key);
  if (!s) return false;
  const auto v = parse_stored(s->second);
  if (!v) throw_corrupt(key, "is not a recall value", codec_errc::malformed_payload);
  if (v->kind != 'm') throw_wrong_kind(key, "a map");
  std::vector<std::string_view> frames;
  if (!split_entries(v->body, frames)) {
    throw_corrupt(key, "cannot be parsed as a map", codec_errc::malformed_payload);
  }
  const std::string kc = to_compact(k);
  const auto hit = std::find_if(frames.begin(), frames.end(),
                                [&](std::string_view f) { return entry_key(f) == kc; });
  if (hit == frames.end()) return false;
  if (!format_.entry_valid(rec.tag, key, *hit)) {
    throw_corrupt(key, "has a map entry that does not verify", codec_errc::checksum_mismatch);
  }
  const std::string encoded = from_compact(entry_value(*hit));
  // The use is marked on the server (the map's LRU order is the fleet's).
  const outcome o = run(rec, functions_.map_touch, {field_of(key), kc}, "mark a use in", false);
  if (o.status == session_reply::ended) return false;
  check_write(o, key, "mark a use in");
  if ((s = find(rec, key))) s->second = map_touched(s->second, kc);
  value(encoded);
  return true;
}

bool redis_session_storage::map_contains(const record_ptr& r, std::string_view key,
                                         std::string_view k) {
  auto& rec = record_of(r);
  slot* s = find(rec, key);
  if (!s) return false;
  const auto v = parse_stored(s->second);
  if (!v) throw_corrupt(key, "is not a recall value", codec_errc::malformed_payload);
  if (v->kind != 'm') throw_wrong_kind(key, "a map");
  std::vector<std::string_view> frames;
  if (!split_entries(v->body, frames)) {
    throw_corrupt(key, "cannot be parsed as a map", codec_errc::malformed_payload);
  }
  const std::string kc = to_compact(k);
  return std::any_of(frames.begin(), frames.end(),
                     [&](std::string_view f) { return entry_key(f) == kc; });
}

bool redis_session_storage::map_erase(const record_ptr& r, std::string_view key,
                                      std::string_view k) {
  auto& rec = record_of(r);
  if (rec.ended || !rec.stored) return false;
  const std::string kc = to_compact(k);
  const outcome o = run(rec, functions_.map_erase, {field_of(key), kc}, "erase from", false);
  if (o.status == session_reply::ended) return false;
  check_write(o, key, "erase from");
  if (slot* s = find(rec, key)) {
    const auto v = parse_stored(s->second);
    if (v && v->kind == 'm') s->second = map_without(s->second, kc);
  }
  return o.extra == 1;
}

std::size_t redis_session_storage::map_read(
    const record_ptr& r, std::string_view key,
    function_ref<void(std::string_view, std::string_view)> entry) {
  auto& rec = record_of(r);
  slot* s = find(rec, key);
  if (!s) return 0;
  const auto v = parse_stored(s->second);
  if (!v) throw_corrupt(key, "is not a recall value", codec_errc::malformed_payload);
  if (v->kind != 'm') throw_wrong_kind(key, "a map");
  std::vector<std::string_view> frames;
  if (!split_entries(v->body, frames)) {
    throw_corrupt(key, "cannot be parsed as a map", codec_errc::malformed_payload);
  }
  for (const std::string_view f : frames) {
    if (!format_.entry_valid(rec.tag, key, f)) {
      throw_corrupt(key, "has a map entry that does not verify", codec_errc::checksum_mismatch);
    }
    entry(from_compact(entry_key(f)), from_compact(entry_value(f)));
  }
  return frames.size();
}

}  // namespace recall::detail
