{
  "targets": [
    {
      "target_name": "zerocopy",
      "sources": [
        "native/addon.cc",
        "native/capture/block_reader.cc",
        "native/capture/classic_filter.cc",
        "native/capture/packet_ring.cc",
        "native/capture/pcap_write.cc",
        "native/capture/xdp_program.cc",
        "native/capture/xdp_socket.cc",
        "native/common/args.cc",
        "native/common/pool.cc",
        "native/fanout/fanout.cc",
        "native/front/http_conditions.cc",
        "native/front/http_request.cc",
        "native/front/access_log.cc",
        "native/front/cache_store.cc",
        "native/front/connection.cc",
        "native/front/disk_reads.cc",
        "native/front/front.cc",
        "native/front/front_uring.cc",
        "native/ipc/channel.cc",
        "native/ipc/event_wake.cc",
        "native/ipc/fd_passing.cc",
        "native/ipc/memory.cc",
        "native/ipc/ring.cc",
        "native/ipc/waiter.cc",
        "native/ipc/wake.cc",
        "native/poller/poller.cc",
        "native/relay/relay.cc",
        "native/syscalls/copy.cc",
        "native/syscalls/fd.cc",
        "native/syscalls/io_uring.cc",
        "native/syscalls/memfd.cc",
        "native/syscalls/mmap.cc",
        "native/syscalls/page_cache.cc",
        "native/syscalls/process_vm.cc",
        "native/syscalls/seek.cc",
        "native/syscalls/sendfile.cc",
        "native/syscalls/socket.cc",
        "native/syscalls/splice.cc",
        "native/uring/probe.cc",
        "native/uring/ring.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "include_dirs": ["native"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
