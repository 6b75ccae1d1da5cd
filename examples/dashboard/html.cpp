#include "html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace dashboard {
namespace {

constexpr std::string_view style = R"(<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
header{background:#1d3557;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between}
header a{color:#fff}
main{padding:1rem 1.5rem;max-width:1100px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:1rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right}.muted{color:#667}.stale{color:#b45309}
form.inline{display:inline}
</style>)";

std::string page(std::string_view title, std::string_view replica, std::string_view user,
                 std::string_view body) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"replica\" content=\"{0}\"><title>{1}</title>{2}</head><body>"
      "<header><strong><a href=\"/\">{1}</a></strong><span id=\"who\">{3} · replica {0}</span>"
      "</header><main>{4}</main></body></html>\n",
      escape(replica), escape(title), style,
      user.empty() ? std::string("anonymous") : "signed in as " + escape(user), body);
}

std::string ago(std::int64_t seconds) {
  if (seconds < 60) return "less than a minute ago";
  const std::int64_t minutes = seconds / 60;
  return fmt::format("{} minute{} ago", minutes, minutes == 1 ? "" : "s");
}

// Daily revenue as an inline SVG line chart with its axis labels.
std::string chart(const std::vector<day_total>& days) {
  constexpr int width = 760, height = 220, left = 70, bottom = 24, top = 10;
  if (days.empty()) return "<p class=\"muted\">No sales in this range.</p>";
  const auto peak = std::max_element(days.begin(), days.end(), [](const auto& a, const auto& b) {
                      return a.revenue_cents < b.revenue_cents;
                    })->revenue_cents;
  const double max_y = std::max<double>(1, double(peak));
  const double step = days.size() > 1 ? double(width - left - 10) / double(days.size() - 1) : 0;
  std::string points;
  for (std::size_t i = 0; i < days.size(); ++i) {
    const double x = left + step * double(i);
    const double y = top + (height - top - bottom) * (1 - double(days[i].revenue_cents) / max_y);
    fmt::format_to(std::back_inserter(points), "{:.1f},{:.1f} ", x, y);
  }
  return fmt::format(
      "<svg id=\"chart\" role=\"img\" aria-label=\"Daily revenue\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\" xmlns=\"http://www.w3.org/2000/svg\">"
      "<title>Daily revenue, {2} days</title>"
      "<line x1=\"{3}\" y1=\"{4}\" x2=\"{0}\" y2=\"{4}\" stroke=\"#999\"/>"
      "<line x1=\"{3}\" y1=\"{5}\" x2=\"{3}\" y2=\"{4}\" stroke=\"#999\"/>"
      "<text x=\"{6}\" y=\"{7}\" font-size=\"11\" text-anchor=\"end\">{8}</text>"
      "<text x=\"{6}\" y=\"{4}\" font-size=\"11\" text-anchor=\"end\">0</text>"
      "<text x=\"{3}\" y=\"{1}\" font-size=\"11\">day {9}</text>"
      "<text x=\"{0}\" y=\"{1}\" font-size=\"11\" text-anchor=\"end\">day {10}</text>"
      "<polyline fill=\"none\" stroke=\"#1d3557\" stroke-width=\"2\" points=\"{11}\"/></svg>",
      width, height, days.size(), left, height - bottom, top, left - 6, top + 10,
      escape(money(peak)), days.front().day, days.back().day, points);
}

std::string option(std::string_view value, std::string_view label, bool selected) {
  return fmt::format("<option value=\"{}\"{}>{}</option>", escape(value),
                     selected ? " selected" : "", escape(label));
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string money(std::int64_t cents) {
  std::string digits = std::to_string(cents / 100);
  for (int i = int(digits.size()) - 3; i > 0; i -= 3) digits.insert(std::size_t(i), ",");
  return "$" + digits;
}

std::string render_dashboard(const dashboard_view& v) {
  std::string body;
  std::string regions = option("", "All regions", v.region.empty());
  for (const auto& r : v.regions) regions += option(r, r, r == v.region);
  std::string ranges;
  for (const int d : {7, 30, 90, 365}) {
    ranges += option(std::to_string(d), fmt::format("Last {} days", d), d == v.range_days);
  }
  body += fmt::format(
      "<section id=\"filters\" data-region=\"{}\" data-range=\"{}\" data-page=\"{}\">"
      "<form method=\"get\" action=\"/\"><label>Region <select name=\"region\">{}</select>"
      "</label> <label>Range <select name=\"range\">{}</select></label> "
      "<input type=\"hidden\" name=\"page\" value=\"1\"><button type=\"submit\">Apply</button>"
      "</form></section>",
      escape(v.region.empty() ? "All" : v.region), v.range_days, v.page, regions, ranges);

  std::int64_t units = 0, revenue = 0;
  for (const auto& d : v.daily) {
    units += d.units;
    revenue += d.revenue_cents;
  }
  body += fmt::format(
      "<section><h2 id=\"title\">{} · last {} days</h2>"
      "<p id=\"freshness\" data-generation=\"{}\" data-age-seconds=\"{}\" class=\"{}\">"
      "Data as of {} (warehouse refresh #{}){}.</p>"
      "<p id=\"totals\"><strong>{}</strong> revenue · <strong>{}</strong> units</p>{}</section>",
      escape(v.region.empty() ? "All regions" : v.region), v.range_days, v.fresh.generation,
      v.age_seconds, v.stale ? "stale" : "muted", ago(v.age_seconds), v.fresh.generation,
      v.stale ? ", refreshing in the background" : "", money(revenue), units, chart(v.daily));

  std::string rows;
  for (const auto& p : v.products.rows) {
    rows +=
        fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    escape(p.product), escape(p.category), p.units, money(p.revenue_cents));
  }
  std::string pager;
  for (int p = 1; p <= v.products.pages; ++p) {
    pager += p == v.page ? fmt::format(" <strong>{}</strong>", p)
                         : fmt::format(" <a href=\"/?page={0}\">{0}</a>", p);
  }
  body += fmt::format(
      "<section><h2>Top products</h2><table id=\"products\"><tr><th>Product</th><th>Category"
      "</th><th class=\"n\">Units</th><th class=\"n\">Revenue</th></tr>{}</table>"
      "<p>Page{}</p></section>",
      rows, pager);

  std::string notes;
  for (auto it = v.notes.rbegin(); it != v.notes.rend(); ++it) {
    notes += fmt::format("<li>{} <span class=\"muted\">— {}</span></li>", escape(it->text),
                         escape(it->author.empty() ? "anonymous" : it->author));
  }
  body += fmt::format(
      "<section><h2>Notes</h2><p class=\"muted\">Your last 50 notes, kept in your session.</p>"
      "<ul id=\"notes\">{}</ul><form method=\"post\" action=\"/notes\">"
      "<input name=\"text\" maxlength=\"500\" required> <button type=\"submit\">Add note</button>"
      "</form></section>",
      notes);
  body +=
      "<section><h2>Compare with targets</h2><form method=\"post\" action=\"/upload\" "
      "enctype=\"multipart/form-data\"><p class=\"muted\">A CSV of <code>region,target</code> "
      "(dollars). It is read for this one request and never stored.</p>"
      "<input type=\"file\" name=\"targets\" accept=\".csv,text/csv\" required> "
      "<button type=\"submit\">Compare</button></form></section>";
  if (v.admin) body += "<p><a href=\"/admin\">Administration</a></p>";
  return page("Sales dashboard", v.replica, v.user, body);
}

std::string render_targets(const std::string& replica, const std::vector<target_row>& rows,
                           int range_days) {
  std::string table;
  for (const auto& r : rows) {
    const double ratio = r.target_cents > 0 ? double(r.actual_cents) / double(r.target_cents) : 0;
    table += fmt::format(
        "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0f}%"
        "</td></tr>",
        escape(r.region), money(r.target_cents), money(r.actual_cents), ratio * 100);
  }
  return page("Targets", replica, "",
              fmt::format("<section><h2>Targets vs actual, last {} days</h2><table id=\"targets\">"
                          "<tr><th>Region</th><th class=\"n\">Target</th><th class=\"n\">Actual"
                          "</th><th class=\"n\">Reached</th></tr>{}</table><p><a href=\"/\">"
                          "Back</a></p></section>",
                          range_days, table));
}

std::string render_admin(const admin_view& v) {
  std::string rows;
  for (const auto& o : v.objects) {
    rows += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
        "<td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        escape(o.kind), escape(o.name), o.entries, o.hits, o.misses, o.loads);
  }
  const auto action = [](std::string_view path, std::string_view label) {
    return fmt::format(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><button type=\"submit\">{}</button>"
        "</form> ",
        path, label);
  };
  return page(
      "Administration", v.replica, v.user,
      fmt::format(
          "<section><h2>Actions</h2>{}{}<p id=\"message\">{}</p></section>"
          "<section><h2>Warehouse</h2><p id=\"warehouse\" data-generation=\"{}\">Refresh #{} · "
          "{} warehouse queries and {} refreshes by this replica</p></section>"
          "<section><h2>Sessions</h2><p id=\"sessions\">{} live · {} created · {} bytes</p>"
          "</section><section><h2>Caches</h2><table id=\"caches\"><tr><th>Kind</th><th>Name"
          "</th><th class=\"n\">Entries</th><th class=\"n\">Hits</th><th class=\"n\">Misses</th>"
          "<th class=\"n\">Loads</th></tr>{}</table></section>",
          action("/admin/refresh", "Refresh the warehouse now"),
          action("/admin/clear", "Clear every cache"), escape(v.message), v.fresh.generation,
          v.fresh.generation, v.warehouse_queries, v.refreshes, v.sessions_live, v.sessions_created,
          v.sessions_bytes, rows));
}

}  // namespace dashboard
