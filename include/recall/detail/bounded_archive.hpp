// The cereal archive that decode() reads payloads through. The bytes may come
// from another machine, so it trusts none of them:
//   - it never reads past the end of its span;
//   - a bool is the byte 0 or 1, nothing else (any other value loaded into a
//     bool is undefined behaviour);
//   - a container's element count must fit in the bytes that remain, at the
//     fewest bytes one element can be encoded in (decode_bounds.hpp), and
//     what the container will allocate for it is charged to the decode's
//     allocation budget, both before the container allocates.
// A refusal throws cereal::Exception, which decode() reports as
// codec_errc::malformed_payload.
//
// The count check needs to know which container a size tag belongs to.
// cereal calls prologue(archive, value) before it loads any value, and every
// container's loader reads its size tag first, so the prologue leaves the
// container's bounds where its size tag will find them.
#pragma once

#include <cereal/cereal.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "recall/detail/decode_bounds.hpp"
#include "recall/export.hpp"

namespace recall::detail {

[[noreturn]] RECALL_EXPORT void throw_payload_ends_early(std::size_t wanted, std::size_t remaining);
[[noreturn]] RECALL_EXPORT void throw_not_a_bool(unsigned char byte);
[[noreturn]] RECALL_EXPORT void throw_count_exceeds_bytes(std::uint64_t count,
                                                          std::size_t remaining,
                                                          std::size_t min_element_bytes);
[[noreturn]] RECALL_EXPORT void throw_count_exceeds_budget(std::uint64_t count,
                                                           std::size_t bytes_per_element,
                                                           std::size_t budget_left);

class bounded_input_archive
    : public cereal::InputArchive<bounded_input_archive, cereal::AllowEmptyClassElision> {
 public:
  bounded_input_archive(std::string_view in, std::size_t allocation_budget)
      : cereal::InputArchive<bounded_input_archive, cereal::AllowEmptyClassElision>(this),
        in_(in),
        budget_(allocation_budget) {}

  void loadBinary(void* data, std::size_t size) {
    if (size > in_.size()) throw_payload_ends_early(size, in_.size());
    if (size == 0) return;  // `data` may be null: an empty vector's data()
    std::memcpy(data, in_.data(), size);
    in_.remove_prefix(size);
  }
  // Bools read as a block (std::array<bool, N>): every byte checked first.
  void load_bools(void* data, std::size_t size) {
    if (size > in_.size()) throw_payload_ends_early(size, in_.size());
    for (std::size_t i = 0; i < size; ++i) {
      const auto byte = static_cast<unsigned char>(in_[i]);
      if (byte > 1) throw_not_a_bool(byte);
    }
    loadBinary(data, size);
  }
  std::size_t remaining() const noexcept { return in_.size(); }

  // The bounds of the value cereal is about to load (see prologue below).
  void expect(const container_bounds& next) noexcept { next_ = &next; }

  // A size tag: the element count of the container being loaded, refused if
  // the remaining bytes cannot hold that many elements or if allocating for
  // them would exceed what is left of the budget.
  std::uint64_t load_count() {
    std::uint64_t count = 0;
    loadBinary(&count, sizeof(count));
    const container_bounds& b = *next_;
    next_ = &bounds_of_v<void>;
    if (b.min_element_bytes != 0 && count > in_.size() / b.min_element_bytes) {
      throw_count_exceeds_bytes(count, in_.size(), b.min_element_bytes);
    }
    if (b.bytes_per_element != 0) {
      if (count > budget_ / b.bytes_per_element) {
        throw_count_exceeds_budget(count, b.bytes_per_element, budget_);
      }
      budget_ -= static_cast<std::size_t>(count) * b.bytes_per_element;
    }
    return count;
  }

 private:
  std::string_view in_;
  std::size_t budget_;
  const container_bounds* next_ = &bounds_of_v<void>;
};

template <class T>
void prologue(bounded_input_archive& ar, const T&) noexcept {
  ar.expect(bounds_of_v<T>);
}
// A size tag is what reads the bounds: it must not replace them.
template <class T>
void prologue(bounded_input_archive&, const cereal::SizeTag<T>&) noexcept {}

template <class T>
requires std::is_arithmetic_v<T>
void load(bounded_input_archive& ar, T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    unsigned char byte = 0;
    ar.loadBinary(&byte, 1);
    if (byte > 1) throw_not_a_bool(byte);
    value = byte == 1;
  } else {
    ar.loadBinary(&value, sizeof(value));
  }
}
template <class T>
void load(bounded_input_archive& ar, cereal::BinaryData<T>& data) {
  // T is a pointer (std::array's data()) or a reference to a C array.
  using element = std::remove_cv_t<
      std::remove_all_extents_t<std::remove_pointer_t<std::remove_reference_t<T>>>>;
  static_assert(sizeof(bool) == 1, "recall's payload format stores a bool in one byte");
  if constexpr (std::is_same_v<element, bool>) {
    ar.load_bools(data.data, static_cast<std::size_t>(data.size));
  } else {
    ar.loadBinary(data.data, static_cast<std::size_t>(data.size));
  }
}
template <class T>
void serialize(bounded_input_archive& ar, cereal::NameValuePair<T>& nvp) {
  ar(nvp.value);
}
template <class T>
void serialize(bounded_input_archive& ar, cereal::SizeTag<T>& tag) {
  tag.size = static_cast<std::remove_reference_t<T>>(ar.load_count());
}

}  // namespace recall::detail
