import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir
from conan.tools.gnu import PkgConfig
from conan.tools.scm import Version

required_conan_version = ">=2.0"


class RecallConan(ConanFile):
    name = "recall"
    description = ("Caching and session state for C++ web services: memoized data, shared "
                   "resources and bounded, expiring sessions")
    license = "Apache-2.0"
    url = "https://github.com/recall-cpp/recall"
    homepage = "https://github.com/recall-cpp/recall"
    topics = ("cache", "memoization", "session", "web")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "with_redis": [True, False],
    }
    default_options = {
        "shared": False,
        "fPIC": True,
        "with_redis": False,
    }
    exports_sources = "CMakeLists.txt", "LICENSE", "cmake/*", "include/*", "src/*"

    _min_cppstd = 20
    # Concepts, designated initializers, <ranges> and std::type_identity.
    _compilers_minimum_version = {
        "gcc": "11",
        "clang": "14",
        "apple-clang": "14",
        "msvc": "193",
    }

    def set_version(self):
        # The version lives in one place: the project() call of CMakeLists.txt.
        cmakelists = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        self.version = re.search(r"project\(recall VERSION ([0-9.]+)", cmakelists).group(1)

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        # recall's public headers include all four (templates over them).
        self.requires("abseil/[>=20220623.1]", transitive_headers=True)
        self.requires("cereal/[>=1.3.2 <2]", transitive_headers=True)
        self.requires("fmt/[>=9.1.0 <12]", transitive_headers=True)
        self.requires("xxhash/[>=0.8.1 <0.9]", transitive_headers=True)
        if self.options.with_redis:
            self.requires("hiredis/[>=0.14.1 <2]")

    def validate(self):
        check_min_cppstd(self, self._min_cppstd)
        minimum = self._compilers_minimum_version.get(str(self.settings.compiler))
        if minimum and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs C++{self._min_cppstd}: {self.settings.compiler} "
                f"{minimum} or later, not {self.settings.compiler.version}")

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["RECALL_BUILD_TESTS"] = False
        tc.cache_variables["RECALL_BUILD_BENCHMARKS"] = False
        tc.cache_variables["RECALL_BUILD_EXAMPLES"] = False
        tc.cache_variables["RECALL_INSTALL"] = True
        tc.cache_variables["RECALL_WITH_REDIS"] = bool(self.options.with_redis)
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        cmake = CMake(self)
        cmake.install()
        # Conan's generators write these from package_info().
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))

    # Conan package -> (its components recall needs, their pkg-config modules).
    _core_dependencies = {
        "abseil": (["absl_flat_hash_map", "absl_btree"], ["absl_flat_hash_map", "absl_btree"]),
        "cereal": (["cereal"], []),  # header-only
        "fmt": (["fmt"], ["fmt"]),
        "xxhash": (["xxhash"], ["libxxhash"]),
    }
    _redis_dependencies = {"hiredis": (["hiredis"], ["hiredis"])}

    def _require(self, component, dependencies):
        for package, (components, modules) in dependencies.items():
            if package in self.dependencies:
                component.requires += [f"{package}::{c}" for c in components]
                continue
            # A profile's [platform_requires] (as in scripts/packaging/debian12.profile)
            # leaves Conan knowing nothing of the package: its flags come from the
            # system's pkg-config files instead.
            for module in modules:
                system = self.cpp_info.components[f"platform_{module}"]
                PkgConfig(self, module).fill_cpp_info(system, is_system=True)
                component.requires.append(f"platform_{module}")

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "recall")

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "recall::recall")
        core.set_property("pkg_config_name", "recall")
        core.libs = ["recall"]
        self._require(core, self._core_dependencies)
        if self.settings.os in ["Linux", "FreeBSD"]:
            core.system_libs = ["pthread"]

        if self.options.with_redis:
            redis = self.cpp_info.components["redis"]
            redis.set_property("cmake_target_name", "recall::redis")
            redis.set_property("pkg_config_name", "recall-redis")
            redis.libs = ["recall_redis"]
            redis.requires = ["core"]
            self._require(redis, self._redis_dependencies)

        # The package-wide target and module would clash with the core's
        # names: give them names nobody uses.
        self.cpp_info.set_property("cmake_target_name", "recall::recall_all_unofficial")
        self.cpp_info.set_property("pkg_config_name", "recall_all_unofficial")
