#include "recall/version.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "catch.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  INFO("reading " << path);
  REQUIRE(in.good());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The first capture of `pattern` in the file, or "" when it is not there.
std::string find_in(const std::string& path, const std::string& pattern) {
  std::smatch m;
  const std::string text = read_file(path);
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : std::string();
}

}  // namespace

TEST_CASE("the version macros, constants and string agree") {
  CHECK(std::string(recall::version_string) == std::to_string(recall::version_major) + "." +
                                                   std::to_string(recall::version_minor) + "." +
                                                   std::to_string(recall::version_patch));
  CHECK(RECALL_VERSION ==
        recall::version_major * 10000 + recall::version_minor * 100 + recall::version_patch);
  CHECK(std::string(RECALL_VERSION_STRING) == recall::version_string);
}

TEST_CASE("the CMake package and the pkg-config file carry the header's version") {
  if (!RECALL_PACKAGE_FILES) return;  // RECALL_INSTALL=OFF: neither file is generated
  const std::string dir = RECALL_BINARY_DIR;
  CHECK(find_in(dir + "/recall-config-version.cmake", R"re(set\(PACKAGE_VERSION "([^"]*)"\))re") ==
        recall::version_string);
  CHECK(find_in(dir + "/recall.pc", R"re(\nVersion: *([^\s]*))re") == recall::version_string);
}

TEST_CASE("the vcpkg manifests carry the header's version") {
  const std::string dir = RECALL_SOURCE_DIR;
  const std::string version = R"re("version(?:-semver)?" *: *"([^"]*)")re";
  CHECK(find_in(dir + "/vcpkg.json", version) == recall::version_string);
  CHECK(find_in(dir + "/ports/recall/vcpkg.json", version) == recall::version_string);
}

TEST_CASE("the consumer projects ask for the header's version") {
  const std::string dir = std::string(RECALL_SOURCE_DIR) + "/tests/consumer";
  CHECK(find_in(dir + "/find_package/conanfile.txt", R"re(recall/([^\s]*))re") ==
        recall::version_string);
  CHECK(find_in(dir + "/fetchcontent/CMakeLists.txt", R"re(GIT_TAG v([^\s)]*))re") ==
        recall::version_string);
}
