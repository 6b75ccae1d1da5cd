#include "plugin.hpp"

int call_through_plugin(const recall::cached_function<int(int)>& f, int x) { return f(x); }
