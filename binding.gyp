{
  "targets": [
    {
      "target_name": "zerocopy",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/pool.cc",
        "native/sendfile.cc",
        "native/splice.cc",
        "native/copy.cc",
        "native/mmap.cc",
        "native/memfd.cc",
        "native/process_vm.cc",
        "native/socket.cc",
        "native/fd.cc",
        "native/io_uring.cc",
        "native/poller.cc",
        "native/page_cache.cc",
        "native/seek.cc",
        "native/http_request.cc",
        "native/http_conditions.cc",
        "native/responder.cc",
        "native/relay.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
