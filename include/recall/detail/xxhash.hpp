// xxHash, inlined: keys are short, and an inlined XXH3 on a short buffer is
// several times faster than a call into the shared library.
#pragma once

#if !defined(XXH_INLINE_ALL)
#define XXH_INLINE_ALL
#define RECALL_DEFINED_XXH_INLINE_ALL
#endif
#include <xxhash.h>
#if defined(RECALL_DEFINED_XXH_INLINE_ALL)
#undef XXH_INLINE_ALL
#undef RECALL_DEFINED_XXH_INLINE_ALL
#endif
