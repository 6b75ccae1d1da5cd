// recall/recall.hpp: the whole public API in one include.
#pragma once

#include "recall/cache_data.hpp"
#include "recall/clock.hpp"
#include "recall/codec.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"
#include "recall/policy.hpp"
#include "recall/registry.hpp"
#include "recall/stats.hpp"
