// Test helper: wraps any payload in a valid envelope for T (magic, version,
// type fingerprint, length and checksum all right), so that decode() reaches
// the payload parser with bytes that no encoder wrote.
#pragma once

#include <string>
#include <string_view>

#include "recall/codec.hpp"

namespace recall_test {

template <class T>
std::string in_envelope(std::string_view payload) {
  std::string out(recall::envelope_size, '\0');
  out.append(payload);
  recall::detail::write_envelope(out, recall::detail::type_fingerprint<T>, 0);
  return out;
}

}  // namespace recall_test
