# A Conan profile that builds recall against Debian 12's packages instead of
# ConanCenter's: each [platform_requires] entry is a dependency that Conan
# does not install and CMake finds on the system (apt-get install
# libabsl-dev libcereal-dev libfmt-dev libxxhash-dev catch2 libhiredis-dev).
# Used by scripts/check-packaging.sh; the versions are Debian 12's.
include(default)

[settings]
compiler.cppstd=20

[platform_requires]
abseil/20220623.1
cereal/1.3.2
fmt/9.1.0
xxhash/0.8.1
catch2/2.13.10
hiredis/0.14.1
