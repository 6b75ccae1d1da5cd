#include <recall/redis.hpp>

int main() {
  try {
    recall::redis_client refused({.pool_size = 0});
    return 1;
  } catch (const recall::config_error&) {
  }
  const recall::redis_client lazy({.port = 1});  // connects on first use only
  const recall::redis_script script("return 1");
  return script.sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db" && lazy.prefix() == "recall:"
             ? 0
             : 1;
}
