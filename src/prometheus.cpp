// The Prometheus text format 0.0.4 of every registered object's metrics.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string_view>
#include <tuple>

#include "recall/metrics.hpp"
#include "recall/registry.hpp"

namespace recall {
namespace {

// cache_data and cache_resource share the `cache` group, so one family (say
// recall_cache_hits_total) holds both kinds, told apart by the kind label.
std::string group_prefix(std::string_view kind) {
  if (kind == "cache_data" || kind == "cache_resource") return "recall_cache_";
  if (kind == "session_store") return "recall_session_";
  std::string out = "recall_";
  for (const char c : kind) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  return out + '_';
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_value(std::string& out, const metric_value& v) {
  if (v.is_integer()) {
    fmt::format_to(std::back_inserter(out), "{}", v.integer());
    return;
  }
  const double d = v.as_double();
  if (std::isnan(d)) {
    out += "NaN";
  } else if (std::isinf(d)) {
    out += d > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", d);
  }
}

struct family {
  metric_type type = metric_type::gauge;
  std::string_view help;
  std::string samples;
};

}  // namespace

void write_prometheus(std::string& out) {
  std::vector<registered_object> objects = registered();
  std::stable_sort(objects.begin(), objects.end(), [](const auto& a, const auto& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  std::map<std::string, family> families;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const registered_object& o = objects[i];
    std::size_t copy = 1;
    while (copy < i + 1 && objects[i - copy].kind == o.kind && objects[i - copy].name == o.name) {
      ++copy;
    }
    std::string labels = "{kind=\"";
    append_escaped(labels, o.kind, true);
    labels += "\",name=\"";
    append_escaped(labels, o.name, true);
    labels += '"';
    if (copy > 1) fmt::format_to(std::back_inserter(labels), ",copy=\"{}\"", copy);
    labels += "} ";
    const std::string prefix = group_prefix(o.kind);
    for (const metric& m : o.metrics) {
      std::string name = prefix + m.name;
      if (m.type == metric_type::counter) name += "_total";
      family& f = families[name];
      if (f.samples.empty()) {
        f.type = m.type;
        f.help = m.help;
      }
      f.samples += name;
      f.samples += labels;
      append_value(f.samples, m.value);
      f.samples += '\n';
    }
  }
  for (const auto& [name, f] : families) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += name;
    out += f.type == metric_type::counter ? " counter\n" : " gauge\n";
    out += f.samples;
  }
}

void write_prometheus(std::ostream& out) {
  std::string text;
  write_prometheus(text);
  out << text;
}

}  // namespace recall
