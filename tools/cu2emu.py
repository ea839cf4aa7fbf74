#!/usr/bin/env python3
"""Translate a kernels/*.cu file into C++ that runs on the CPU stand-in for CUDA
(tests/cuda_emu/shim/cuda_runtime.h), for test_cuda_emu: the kernels stay as written, only the
two pieces of CUDA syntax C++ has no spelling for are rewritten, each on its own line so that
diagnostics keep the .cu file's line numbers (#line):

  kernel<T, K><<<grid, block, smem, stream>>>(args)
      -> emu::launch([&] { kernel<T, K>(args); }, grid, block, smem, stream)
  extern __shared__ [__align__(N)] T name[];
                                   -> T* name = emu::dynamic_shared<T>();  (128-byte aligned)
  __shared__ T name[A][B];         -> auto& name = emu::static_shared<T[A][B]>(ID);

and the launchers are defined in namespace win::kernels_emu instead of win::kernels, unless the
translation is compiled with WIN_EMU_KERNELS_AS_REAL (test_cuda_host_emu).

Usage: cu2emu.py IN.cu OUT.cpp. Exits non-zero, naming the file and line, on a launch or shared
declaration it cannot parse, rather than writing code that would not run as the .cu does.
"""
import os
import re
import sys


def fail(path, src, pos, why):
    line = src.count("\n", 0, pos) + 1
    sys.exit(f"cu2emu: {path}:{line}: {why}")


def matching(src, start, open_ch, close_ch):
    depth = 0
    for k in range(start, len(src)):
        if src[k] == open_ch:
            depth += 1
        elif src[k] == close_ch:
            depth -= 1
            if depth == 0:
                return k
    return -1


def callee_start(src, k):
    """Start of the launched expression that ends right before position k (the '<<<')."""
    j = k
    while j > 0 and src[j - 1].isspace():  # clang-format may break the line before '<<<'
        j -= 1
    if src[j - 1] == ">":  # template arguments: walk back to their '<'
        depth = 0
        j -= 1
        while j >= 0:
            if src[j] == ">":
                depth += 1
            elif src[j] == "<":
                depth -= 1
                if depth == 0:
                    break
            j -= 1
    while j > 0 and (src[j - 1].isalnum() or src[j - 1] in "_:"):
        j -= 1
    return j


def translate_launches(path, src):
    out, pos = [], 0
    while True:
        k = src.find("<<<", pos)
        if k < 0:
            out.append(src[pos:])
            return "".join(out)
        start = callee_start(src, k)
        callee = src[start:k]
        if not re.match(r"[A-Za-z_]", callee):
            fail(path, src, k, "a launch whose kernel name cannot be read")
        end_cfg = src.find(">>>", k)
        if end_cfg < 0:
            fail(path, src, k, "a launch without its '>>>'")
        cfg = src[k + 3:end_cfg]
        p0 = end_cfg + 3
        while p0 < len(src) and src[p0].isspace():
            p0 += 1
        if p0 >= len(src) or src[p0] != "(":
            fail(path, src, k, "a launch without an argument list")
        p1 = matching(src, p0, "(", ")")
        if p1 < 0:
            fail(path, src, p0, "unbalanced parentheses in a launch")
        whole = src[start:p1 + 1]
        in_macro = "\\\n" in whole  # a launch inside a #define: its line breaks are escaped
        args, cfg = (t.replace("\\\n", " ") for t in (src[p0:p1 + 1], cfg))
        # Line breaks inside the launch are kept (at its end) so later lines keep their numbers.
        out.append(src[pos:start])
        out.append(f"emu::launch([&] {{ {callee.strip()}{' '.join(args.split())}; }}, "
                   f"{' '.join(cfg.split())})")
        out.append(("\\\n" if in_macro else "\n") * whole.count("\n"))
        pos = p1 + 1


DYNAMIC = re.compile(
    r"extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([\w:<>, ]+?)\s+(\w+)\s*\[\s*\]\s*;")
STATIC = re.compile(r"__shared__\s+([\w:<>, ]+?)\s+(\w+)\s*((?:\[[^\]]+\])*)\s*;")


def translate_shared(path, src):
    src = DYNAMIC.sub(lambda m: f"{m.group(1)}* {m.group(2)} = emu::dynamic_shared<{m.group(1)}>();", src)
    counter = [0]

    def static(m):
        counter[0] += 1
        return f"auto& {m.group(2)} = emu::static_shared<{m.group(1)}{m.group(3)}>({counter[0]});"

    src = STATIC.sub(static, src)
    left = src.find("__shared__")
    if left >= 0:
        fail(path, src, left, "a __shared__ declaration this tool does not know")
    return src


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cu2emu.py IN.cu OUT.cpp")
    path, target = sys.argv[1], sys.argv[2]
    with open(path) as f:
        src = f.read()
    src = translate_shared(path, translate_launches(path, src))
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w") as f:
        # The launchers go to namespace win::kernels_emu (tests/cuda_emu/emu_kernels.hpp), so a
        # CUDA build can link them next to the real ones; test_cuda_host_emu, which runs win's
        # CUDA host code on them, keeps them in win::kernels (WIN_EMU_KERNELS_AS_REAL).
        f.write('#ifndef WIN_EMU_KERNELS_AS_REAL\n#define kernels kernels_emu\n#endif\n'
                f'#line 1 "{path}"\n' + src)


if __name__ == "__main__":
    main()
