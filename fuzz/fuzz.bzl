"""fuzz_target: one libFuzzer target, built two ways (envoy's model).

`<name>` is the real fuzzer, a cc_binary linked with -fsanitize=fuzzer; only
clang can link it, so it is tagged manual and built with --config=fuzz.
`<name>_corpus_test` links the same code with replay_main.cc and runs every
file of corpus/<name>/ through it, so `bazel test //...` (gcc) replays each
corpus on every change.
"""

def fuzz_target(name, srcs, deps = []):
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps + [":fuzz_util"],
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        testonly = True,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        deps = [":" + name + "_lib"],
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        args = ["fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/*"]),
        deps = [
            ":" + name + "_lib",
            ":replay_main",
        ],
    )
