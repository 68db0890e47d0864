{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["src/link/native/tun.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
