// expect-first-error: static[ _]assert(ion)? failed.*recall: this value type cannot be stored
// A result type cereal cannot serialize: recall's own message must come first,
// before any error of the caller's (GCC used to report "'void f' has incomplete
// type" first) or of cereal's.
#include <chrono>
#include <recall/cache_data.hpp>

struct not_serializable {
  int x = 0;
};

int use() {
  auto f = recall::cache_data([](int i) { return not_serializable{i}; },
                              {.ttl = std::chrono::seconds(1)});
  return f(1).x;
}
