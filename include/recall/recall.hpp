// recall/recall.hpp: the whole public API in one include.
#pragma once

#include "recall/cache_data.hpp"
#include "recall/cache_resource.hpp"
#include "recall/clock.hpp"
#include "recall/codec.hpp"
#include "recall/cookie.hpp"
#include "recall/disk_store.hpp"
#include "recall/error.hpp"
#include "recall/identity.hpp"
#include "recall/key.hpp"
#include "recall/policy.hpp"
#include "recall/registry.hpp"
#include "recall/roles.hpp"
#include "recall/session.hpp"
#include "recall/session_id.hpp"
#include "recall/stats.hpp"
#include "recall/trusted_proxy.hpp"
