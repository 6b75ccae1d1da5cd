#include <recall/recall.hpp>

int main() {
  const recall::key a = recall::make_key("consumer", "1", 42);
  const recall::key b = recall::make_key("consumer", "1", 43);
  const auto back = recall::decode<int>(recall::encode(42));
  return a != b && back && *back == 42 ? 0 : 1;
}
