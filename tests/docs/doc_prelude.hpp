// Stand-ins for what the documentation's examples take for granted: the
// host's warehouse, HTTP request and response, a connection pool. Only
// declarations: the doc_snippets target compiles the examples, it never runs
// them. Keep each stand-in as small as the examples need.
#pragma once

#if defined(RECALL_DOCS_WITH_REDIS)
#include <recall/redis_store.hpp>

#include "support/redis_server.hpp"
#endif

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <map>
#include <optional>
#include <recall/recall.hpp>
#include <string>
#include <string_view>
#include <vector>

struct sales_table {
  std::string region;
  std::vector<double> daily;
  double total() const;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(region, daily);
  }
};

struct warehouse_client {
  sales_table query(const std::string& region, int day) const;
};
inline warehouse_client warehouse;

struct pg_pool {
  explicit pg_pool(const std::string& dsn);
  bool ok() const;
  int idle() const;
  void close();
};
inline std::string dsn;

struct db_pool {
  int query(const std::string& sql);
};

struct message {
  std::string author, text;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(author, text);
  }
};
inline message msg;

struct filter {
  std::string column, value;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(column, value);
  }
};

// A generic HTTP framework's request, response and connection.
struct http_request {
  std::optional<std::string_view> header(std::string_view name) const;
};
struct http_response {
  void add_header(std::string_view name, std::string_view value);
  void status(int code);
};
struct http_connection {
  std::string remote_ip() const;
};
inline http_request req;
inline http_response res;
inline http_connection conn;
inline std::string body;
inline std::string peer;
inline std::map<std::string, std::string> headers;
inline std::string cookie_value;

using namespace std::chrono_literals;
inline db_pool pool;
inline recall::trusted_proxy proxy{recall::trusted_proxy_options{}};
inline recall::session_cookie cookie;
inline recall::session_store sessions{recall::session_options{}};

// The Redis page's stand-ins: a secret, something that uses a reply, an L1.
inline std::string secret;
void use(std::string_view value);
struct local_cache {
  void erase(std::string_view key);
  void clear();
};
inline local_cache l1;
