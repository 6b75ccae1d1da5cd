// The parameter and result types of a callable, so cache_data(fn) can offer
// exactly fn's parameters.
#pragma once

#include <type_traits>

namespace recall::detail {

template <class Signature>
struct signature_traits;

template <class R, class... Args>
struct signature_traits<R(Args...)> {
  using result = R;
  using signature = R(Args...);
};

template <class F>
struct callable_traits : callable_traits<decltype(&std::remove_cvref_t<F>::operator())> {};

template <class R, class... Args>
struct callable_traits<R (*)(Args...)> : signature_traits<R(Args...)> {};
template <class R, class... Args>
struct callable_traits<R (*)(Args...) noexcept> : signature_traits<R(Args...)> {};
template <class R, class... Args>
struct callable_traits<R(Args...)> : signature_traits<R(Args...)> {};

#define RECALL_MEMBER_CALL_TRAITS(qualifiers)                               \
  template <class C, class R, class... Args>                                \
  struct callable_traits<R (C::*)(Args...) qualifiers> : signature_traits<R(Args...)> {};
RECALL_MEMBER_CALL_TRAITS()
RECALL_MEMBER_CALL_TRAITS(const)
RECALL_MEMBER_CALL_TRAITS(noexcept)
RECALL_MEMBER_CALL_TRAITS(const noexcept)
RECALL_MEMBER_CALL_TRAITS(&)
RECALL_MEMBER_CALL_TRAITS(const&)
#undef RECALL_MEMBER_CALL_TRAITS

}  // namespace recall::detail
