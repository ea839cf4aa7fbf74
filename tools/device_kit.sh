#!/usr/bin/env bash
# Collects the build kit for a GPU machine: the headers, libraries and CMake package files that
# win's build needs and that a bare CUDA machine lacks (that machine has cmake, g++, nvcc with
# cuBLAS/cuDNN/NCCL and PyTorch, but none of Debian's -dev packages and no package registry).
# tools/device_check.sh builds there against this kit; carry the kit folder next to the tree.
#
#   tools/device_kit.sh [KITDIR]   (default build-devkit, which /build*/ in .gitignore covers;
#                                  a relative KITDIR is taken from the repository root)
#
# What goes in, and why:
#   HDF5 (C)            headers + the STATIC libhdf5 with its static szip/libaec and zlib. The
#                       shared libhdf5_serial.so needs libcurl and libcrypto (read-only S3 driver)
#                       and ~30 more libraries behind them; the static archive links without them
#                       because win never pulls in the S3 driver. The kit's own cmake/FindHDF5.cmake
#                       turns these into hdf5::hdf5 (CMake's FindHDF5 cannot add szip to a static
#                       library).
#   oneDNN              headers, libdnnl.so.* and its CMake package, plus libOpenCL.so.1 and the
#                       OpenCL C headers, which libdnnl and its package file need. The CMake
#                       packages (oneDNN, toml++, GTest) find their prefix from their own location
#                       once the blocks that switch to /usr (for the /lib -> /usr/lib link) are cut.
#   toml++              headers + Debian's compiled libtomlplusplus.so.3 + its CMake package.
#   GoogleTest/GMock    headers, static libraries, CMake package (for test_cuda).
#   libjpeg, libpng,    headers + static libraries: the machine may have another soname of each
#   zlib                (Ubuntu's libjpeg.so.8) or none, and no headers.
#   Open MPI          headers, libmpi and PMIx, mpiexec (orterun), the plugins that load without
#                       network-fabric libraries, help texts and MCA settings; KITDIR/mpi_env.sh
#                       relocates it (OPAL_*/PMIX_* variables), so that the GPU machine can run
#                       the multi-rank tests (several ranks on one GPU).
#   Shared libraries' own runtime dependencies (ldd) outside a minimal glibc + gcc base are copied
#   too. Google Benchmark is not carried: kit.cmake sets WIN_BENCHMARKS=OFF.
#
# Also writes KITDIR/kit.cmake, a CMake initial cache that points every find_package at the kit:
#   cmake -S . -B build-gpu -C build-devkit/kit.cmake -DWIN_CUDA=ON
# and KITDIR/MANIFEST.txt (sources, Debian package versions, the glibc the libraries need).
# Executables built against the kit find its shared libraries through their RPATH (kit.cmake links
# with --disable-new-dtags so that the RPATH also serves libdnnl's own libOpenCL.so.1);
# LD_LIBRARY_PATH=KITDIR/lib/x86_64-linux-gnu does the same for anything else.
#
# Also packs the kit as KITDIR.tar.xz, which is what travels: the tree, the packed kit and the
# small datasets go to the GPU machine together, 64 MiB at most. Prints both sizes; exits 1 if a
# source file is missing or the archive exceeds 40 MiB (DEVICE_KIT_LIMIT_MIB).
set -euo pipefail
cd "$(dirname "$0")/.."

kit=${1:-build-devkit}
triplet=x86_64-linux-gnu
sysinc=${DEVICE_KIT_SYSINC:-/usr/include}
syslib=${DEVICE_KIT_SYSLIB:-/usr/lib/$triplet}
limit_mib=${DEVICE_KIT_LIMIT_MIB:-40}

die() {
  echo "device_kit: $*" >&2
  exit 1
}
[[ $(uname -m) == x86_64 ]] || die "this machine is $(uname -m); the GPU machines are x86_64"

# Replaces an earlier kit; refuses to delete anything else.
if [[ -e $kit && ! -f $kit/kit.cmake ]] && [[ -n $(ls -A -- "$kit" 2>/dev/null) || ! -d $kit ]]; then
  die "$kit exists and is not a kit (no kit.cmake): remove it or choose another KITDIR"
fi
rm -rf -- "$kit"
mkdir -p -- "$kit/include" "$kit/lib/$triplet/cmake" "$kit/cmake"
kit=$(cd -- "$kit" && pwd)
klib=$kit/lib/$triplet
kinc=$kit/include
sources=() # files copied, for MANIFEST.txt's package list

need() { # PATH...: fail with a hint when a source is missing
  local p
  for p in "$@"; do
    [[ -e $p ]] || die "missing $p (install the -dev packages: tools/setup.sh)"
    sources+=("$p")
  done
}
copy_dir() { # SRC DEST: a directory's contents, symlinks dereferenced
  need "$1"
  mkdir -p -- "$2"
  cp -rL -- "$1/." "$2/"
}
copy_file() { # SRC DESTDIR [NAME]
  need "$1"
  cp -L -- "$1" "$2/${3:-$(basename -- "$1")}"
}
copy_so() { # SRC (the real file or any link to it): the file plus soname and dev links
  local real soname base
  need "$1"
  real=$(readlink -f -- "$1")
  base=$(basename -- "$real")
  cp -- "$real" "$klib/$base"
  soname=$(objdump -p "$real" | awk '$1 == "SONAME" {print $2}')
  [[ -n $soname && $soname != "$base" ]] && ln -sf -- "$base" "$klib/$soname"
  local dev=${base%%.so*}.so
  [[ $dev != "$base" && ! -e $klib/$dev ]] && ln -sf -- "${soname:-$base}" "$klib/$dev"
  return 0
}

# ---- headers ------------------------------------------------------------------------------------
copy_dir "$sysinc/hdf5/serial" "$kinc/hdf5"
copy_dir "$sysinc/toml++" "$kinc/toml++"
copy_dir "$sysinc/oneapi" "$kinc/oneapi"
for h in "$sysinc"/dnnl*.h "$sysinc"/dnnl*.hpp; do copy_file "$h" "$kinc"; done
copy_dir "$sysinc/gtest" "$kinc/gtest"
copy_dir "$sysinc/gmock" "$kinc/gmock"
for h in jpeglib.h jerror.h jmorecfg.h png.h pngconf.h pnglibconf.h zlib.h zconf.h; do
  copy_file "$sysinc/$h" "$kinc"
done
copy_file "$sysinc/$triplet/jconfig.h" "$kinc" # Debian keeps it in the multiarch folder
mkdir -p -- "$kinc/CL"
for h in "$sysinc"/CL/*.h; do copy_file "$h" "$kinc/CL"; done # C headers; not the C++ wrappers

# ---- static libraries ---------------------------------------------------------------------------
copy_file "$syslib/libhdf5_serial.a" "$klib" libhdf5.a
for a in libsz.a libaec.a libz.a libjpeg.a libpng16.a libgtest.a libgtest_main.a libgmock.a \
  libgmock_main.a; do
  copy_file "$syslib/$a" "$klib"
done

# ---- shared libraries and their runtime dependencies --------------------------------------------
copy_so "$syslib/libdnnl.so"
copy_so "$syslib/libtomlplusplus.so"
# Open MPI: the library and PMIx here (their dependencies follow in the loop below), the launcher,
# plugins, help texts and settings further down.
ompi=$syslib/openmpi
copy_so "$ompi/lib/libmpi.so"
copy_so "$syslib/pmix2/lib/libpmix.so"
# A minimal glibc + libstdc++ system (any machine that has g++) provides these; zlib1g is in every
# Debian/Ubuntu base. Everything else a carried library needs is carried.
base_re='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libgomp|libz)\.so'
for so in "$klib"/*.so.*; do
  [[ -L $so ]] && continue
  while read -r name _ path _; do
    [[ $name =~ $base_re || -z ${path:-} || ! -e $path ]] && continue
    [[ -e $klib/$name ]] || copy_so "$path"
  done < <(ldd "$so")
done
[[ -e $klib/libOpenCL.so.1 ]] || copy_so "$syslib/libOpenCL.so.1" # dnnl's package links OpenCL
ln -sf libOpenCL.so.1 "$klib/libOpenCL.so"

# ---- Open MPI's runtime -------------------------------------------------------------------------
# mpiexec (orterun), its plugins (MCA components, dlopen'ed from the package library folder) and
# PMIx's, help texts and the system-wide MCA settings, relocated by the OPAL_*/PMIX_* variables of
# KITDIR/mpi_env.sh. Plugins whose libraries are neither in the kit nor in the base system
# (InfiniBand verbs, UCX, libfabric, PSM: network transports a one-node check does not use) are
# left out; a plugin is only loaded if present, so Open MPI picks among the rest.
copy_dir "$ompi/include" "$kinc/openmpi"
mkdir -p -- "$kit/bin" "$klib/openmpi3" "$klib/pmix" "$kit/etc/openmpi"
copy_file /usr/bin/orterun "$kit/bin"
ln -sf orterun "$kit/bin/mpiexec"
copy_dir /usr/share/openmpi "$kit/share/openmpi"
copy_file /etc/openmpi/openmpi-mca-params.conf "$kit/etc/openmpi"
for f in "$syslib"/libmca_common_*.so.*; do [[ -L $f ]] || copy_so "$f"; done
for f in "$ompi"/lib/openmpi3/*.so; do copy_file "$f" "$klib/openmpi3"; done
for f in "$syslib"/pmix2/lib/pmix/*.so; do copy_file "$f" "$klib/pmix"; done
for lib in libnuma.so.1 libmunge.so.2; do # small, and wanted by common plugins
  [[ -e $klib/$lib || ! -e $syslib/$lib ]] || copy_so "$syslib/$lib"
done
# Drop what cannot load (repeated: dropping a common library can strand a plugin).
mpi_left_out=()
while :; do
  dropped=0
  for f in "$klib"/libmca_common_*.so.* "$klib"/openmpi3/*.so "$klib"/pmix/*.so; do
    [[ -f $f && ! -L $f ]] || continue
    missing=$(LD_LIBRARY_PATH=$klib ldd "$f" 2>/dev/null | while read -r name _ path _; do
      [[ $name =~ $base_re || $name == linux-vdso* || $name == /* ]] && continue
      [[ $path == "$klib"/* ]] || echo "$name"
    done)
    if [[ -n $missing ]]; then
      mpi_left_out+=("$(basename -- "$f") (needs $(tr '\n' ' ' <<<"$missing" | sed 's/ $//'))")
      rm -f -- "$f"
      dropped=1
    fi
  done
  ((dropped)) || break
done
for f in "$klib"/libmca_common_*.so*; do # links left behind by a dropped library
  [[ -L $f && ! -e $f ]] && rm -f -- "$f"
done
cat >"$kit/mpi_env.sh" <<'EOF'
# Open MPI from the device kit (written by tools/device_kit.sh): source this before running
# KITDIR/bin/mpiexec or anything linked against the kit's libmpi. Open MPI and PMIx find their
# plugins, help texts and settings through these variables instead of their build-time /usr paths.
_win_kit=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
_win_lib=$_win_kit/lib/x86_64-linux-gnu
export OPAL_PREFIX=$_win_kit OPAL_EXEC_PREFIX=$_win_kit OPAL_BINDIR=$_win_kit/bin
export OPAL_LIBDIR=$_win_lib OPAL_PKGLIBDIR=$_win_lib/openmpi3 OPAL_INCLUDEDIR=$_win_kit/include/openmpi
export OPAL_DATAROOTDIR=$_win_kit/share OPAL_DATADIR=$_win_kit/share
export OPAL_PKGDATADIR=$_win_kit/share/openmpi OPAL_SYSCONFDIR=$_win_kit/etc/openmpi
export PMIX_INSTALL_PREFIX=$_win_kit PMIX_MCA_mca_base_component_path=$_win_lib/pmix
export PATH=$_win_kit/bin:$PATH
export LD_LIBRARY_PATH=$_win_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset _win_kit _win_lib
EOF

# ---- CMake packages -----------------------------------------------------------------------------
for pkg in dnnl GTest tomlplusplus; do
  copy_dir "$syslib/cmake/$pkg" "$klib/cmake/$pkg"
done
# The package files find their prefix from their own path (lib/<triplet>/cmake/<pkg> -> ../../../..),
# except for one block each that switches to the absolute /usr prefix when loaded through the
# /lib -> /usr/lib link: delete those blocks, then check that no absolute /usr path is left.
for f in "$klib"/cmake/*/*.cmake; do
  sed -i '/^get_filename_component(_realCurr /,/^unset(_realCurr)/d' "$f"
done
if grep -rn '/usr' "$klib/cmake" | grep -v '^[^:]*:[0-9]*:[[:space:]]*#' >&2; then
  die "a CMake package file in the kit still names an absolute /usr path (above)"
fi

cat >"$kit/cmake/FindHDF5.cmake" <<'EOF'
# FindHDF5 of the device kit (written by tools/device_kit.sh; kit.cmake puts this folder first on
# CMAKE_MODULE_PATH): HDF5's C library as the kit's static libhdf5.a, which needs the kit's static
# szip (libsz + libaec) and zlib after it. Defines hdf5::hdf5, HDF5_FOUND, HDF5_C_FOUND,
# HDF5_INCLUDE_DIRS, HDF5_LIBRARIES and HDF5_VERSION, as CMake's FindHDF5 does.
get_filename_component(_win_kit "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(_win_kit_lib "${_win_kit}/lib/x86_64-linux-gnu")
find_path(HDF5_INCLUDE_DIR hdf5.h PATHS "${_win_kit}/include/hdf5" NO_DEFAULT_PATH)
find_library(HDF5_C_LIBRARY NAMES libhdf5.a PATHS "${_win_kit_lib}" NO_DEFAULT_PATH)
set(HDF5_VERSION "")
if(HDF5_INCLUDE_DIR AND EXISTS "${HDF5_INCLUDE_DIR}/H5pubconf.h")
  file(STRINGS "${HDF5_INCLUDE_DIR}/H5pubconf.h" _win_h5v REGEX "^#define H5_VERSION ")
  string(REGEX REPLACE "^.*\"([0-9.]+).*\".*$" "\\1" HDF5_VERSION "${_win_h5v}")
endif()
set(HDF5_C_FOUND FALSE)
if(HDF5_INCLUDE_DIR AND HDF5_C_LIBRARY)
  set(HDF5_C_FOUND TRUE)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(HDF5 REQUIRED_VARS HDF5_C_LIBRARY HDF5_INCLUDE_DIR
                                  VERSION_VAR HDF5_VERSION HANDLE_COMPONENTS)
if(HDF5_FOUND)
  set(HDF5_INCLUDE_DIRS "${HDF5_INCLUDE_DIR}")
  set(HDF5_C_INCLUDE_DIRS "${HDF5_INCLUDE_DIR}")
  set(_win_h5deps "${_win_kit_lib}/libsz.a" "${_win_kit_lib}/libaec.a" "${_win_kit_lib}/libz.a" m dl)
  set(HDF5_LIBRARIES "${HDF5_C_LIBRARY}" ${_win_h5deps})
  set(HDF5_C_LIBRARIES ${HDF5_LIBRARIES})
  if(NOT TARGET hdf5::hdf5)
    add_library(hdf5::hdf5 STATIC IMPORTED)
    set_target_properties(hdf5::hdf5 PROPERTIES
      IMPORTED_LOCATION "${HDF5_C_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${HDF5_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS H5_BUILT_AS_STATIC_LIB
      INTERFACE_LINK_LIBRARIES "${_win_h5deps}")
  endif()
endif()
mark_as_advanced(HDF5_INCLUDE_DIR HDF5_C_LIBRARY)
EOF

cat >"$kit/kit.cmake" <<'EOF'
# CMake initial cache of the device kit (written by tools/device_kit.sh): every dependency of win
# that a bare CUDA machine lacks comes from this folder. Relocatable: paths are taken from where
# this file lies. Use: cmake -S . -B build-gpu -C build-devkit/kit.cmake -DWIN_CUDA=ON
get_filename_component(_kit "${CMAKE_CURRENT_LIST_DIR}" ABSOLUTE)
set(_lib "${_kit}/lib/x86_64-linux-gnu")
set(WIN_KIT_DIR "${_kit}" CACHE PATH "device kit folder (tools/device_kit.sh)" FORCE)

# Open MPI from the kit (its runtime needs the variables of mpi_env.sh); FindMPI is given the
# header folder and library instead of a compiler wrapper. Not carried: Google Benchmark.
set(WIN_MPI ON CACHE BOOL "")
set(MPI_SKIP_COMPILER_WRAPPER TRUE CACHE BOOL "")
set(MPI_C_HEADER_DIR "${_kit}/include/openmpi" CACHE PATH "")
set(MPI_C_LIB_NAMES "mpi" CACHE STRING "")
set(MPI_mpi_LIBRARY "${_lib}/libmpi.so" CACHE FILEPATH "")
set(MPIEXEC_EXECUTABLE "${_kit}/bin/mpiexec" CACHE FILEPATH "")
set(WIN_BENCHMARKS OFF CACHE BOOL "")

set(CMAKE_PREFIX_PATH "${_kit}" CACHE STRING "")
set(CMAKE_MODULE_PATH "${_kit}/cmake" CACHE STRING "") # the kit's FindHDF5.cmake
set(HDF5_ROOT "${_kit}" CACHE PATH "")
set(dnnl_DIR "${_lib}/cmake/dnnl" CACHE PATH "")
set(GTest_DIR "${_lib}/cmake/GTest" CACHE PATH "")
set(tomlplusplus_DIR "${_lib}/cmake/tomlplusplus" CACHE PATH "")
set(OpenCL_INCLUDE_DIR "${_kit}/include" CACHE PATH "")
set(OpenCL_LIBRARY "${_lib}/libOpenCL.so.1" CACHE FILEPATH "")
set(JPEG_INCLUDE_DIR "${_kit}/include" CACHE PATH "")
set(JPEG_LIBRARY_RELEASE "${_lib}/libjpeg.a" CACHE FILEPATH "")
set(PNG_PNG_INCLUDE_DIR "${_kit}/include" CACHE PATH "")
set(PNG_LIBRARY_RELEASE "${_lib}/libpng16.a" CACHE FILEPATH "")
set(ZLIB_ROOT "${_kit}" CACHE PATH "")
set(ZLIB_INCLUDE_DIR "${_kit}/include" CACHE PATH "")
set(ZLIB_LIBRARY_RELEASE "${_lib}/libz.a" CACHE FILEPATH "")

# DT_RPATH rather than DT_RUNPATH: the executables' RPATH (the kit's lib folder) then also serves
# the libraries' own dependencies (libdnnl.so.2 -> libOpenCL.so.1), with no LD_LIBRARY_PATH.
set(CMAKE_EXE_LINKER_FLAGS "-Wl,--disable-new-dtags" CACHE STRING "")
# The kit's package files are CMake 3.2x-era; CMake 4 refuses packages older than 3.5 without this.
set(CMAKE_POLICY_VERSION_MINIMUM 3.5 CACHE STRING "")
unset(_kit)
unset(_lib)
EOF

# ---- manifest -----------------------------------------------------------------------------------
{
  echo "win device kit, made $(date -u +%Y-%m-%dT%H:%MZ) on $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"') by tools/device_kit.sh"
  echo
  echo "Debian packages the files came from:"
  if command -v dpkg-query >/dev/null; then
    for p in "${sources[@]}"; do dpkg -S "$(readlink -f -- "$p")" 2>/dev/null | cut -d: -f1 || true; done |
      sort -u | while read -r pkg; do
        echo "  $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)"
      done
  fi
  echo
  echo "Newest symbol versions the shared libraries need (the GPU machine's glibc/libstdc++ must have them):"
  for so in "$klib"/*.so.*; do
    [[ -L $so ]] && continue
    echo "  $(basename -- "$so"): $(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)" \
      "$(objdump -T "$so" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)"
  done
  echo
  echo "Open MPI plugins left out (their libraries are not carried):"
  for m in "${mpi_left_out[@]}"; do echo "  $m"; done
  echo
  echo "Files:"
  (cd -- "$kit" && find . -type f -o -type l | sort | sed 's/^\.\//  /')
} >"$kit/MANIFEST.txt"

# The archive is what travels (xz: oneDNN alone is 38 MiB unpacked, a quarter of that packed);
# tools/device_check.sh unpacks it when the folder is not there.
rm -f -- "$kit.tar.xz"
XZ_OPT="-6 -T0" tar -C "$(dirname -- "$kit")" -cJf "$kit.tar.xz" "$(basename -- "$kit")"
mib_of() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
bytes=$(du -sb -- "$kit" | cut -f1)
packed=$(stat -c %s -- "$kit.tar.xz")
echo "device_kit: $kit: $(mib_of "$bytes") MiB in $(find "$kit" -type f | wc -l) files;" \
  "$kit.tar.xz: $(mib_of "$packed") MiB (limit $limit_mib MiB)"
if ((packed > limit_mib * 1048576)); then
  die "the packed kit is $(mib_of "$packed") MiB, over the $limit_mib MiB limit"
fi
