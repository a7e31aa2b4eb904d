{
  "variables": {
    "with_dpdk%": "<!(test -d native/dpdk && pkg-config --exists libdpdk 2>/dev/null && echo 1 || echo 0)"
  },
  "targets": [
    {
      "target_name": "quiver",
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2", "-O0", "-fno-rtti"],
      "cflags": ["-O3"],
      "cflags_cc": ["-std=gnu++20", "-O3", "-march=native", "-fexceptions", "-Wall", "-Wextra",
                    "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing"],
      "defines": ["NAPI_VERSION=8", "QUIVER_VERSION=\"0.1.0\""],
      "libraries": ["-lpthread"],
      "conditions": [
        ["with_dpdk==1", {
          "sources": ["<!@(node tools/gyp-sources.cjs --dpdk)"],
          "defines": ["QUIVER_HAVE_DPDK", "QUIVER_DPDK_VERSION=\"<!(pkg-config --modversion libdpdk)\""],
          "cflags_cc": ["<!@(pkg-config --cflags libdpdk | sed -e 's/-march=[^ ]*//g')"],
          "libraries": ["<!@(pkg-config --libs libdpdk)"]
        }, {
          "sources": ["<!@(node tools/gyp-sources.cjs)"]
        }]
      ]
    },
    {
      "target_name": "quiver_memif",
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2", "-O0", "-fno-rtti"],
      "cflags": ["-O3"],
      "cflags_cc": ["-std=gnu++20", "-O3", "-march=native", "-fexceptions", "-Wall", "-Wextra",
                    "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing"],
      "defines": ["NAPI_VERSION=8"],
      "sources": ["memif/session.cc", "memif/sock.cc", "memif/lib/native/memif_lib.cpp"]
    }
  ]
}
