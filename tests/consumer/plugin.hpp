// A module of the consumer program built as a shared library with hidden
// visibility, as plugins and a program's own libraries often are. It calls a
// cache owned by the executable through its own copy of recall's templates.
#pragma once

#include <recall/cache_data.hpp>

#include "consumer_plugin_export.h"

CONSUMER_PLUGIN_EXPORT int call_through_plugin(const recall::cached_function<int(int)>& f, int x);
