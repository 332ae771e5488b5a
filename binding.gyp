{
  # The thin N-API addon. llama.cpp itself is built by cmake-js first (scripts/prepare-native.mjs, the
  # pre-command of the "install" script); this links against its shared libraries in build-llama/bin
  # and copies them beside the .node file, where the $ORIGIN rpath and ggml's backend loader find them.
  "targets": [
    {
      "target_name": "stagebeam",
      "sources": [
        "native/addon.cpp",
        "native/allocator_tuning.cpp",
        "native/cancellation.cpp",
        "native/chunks.cpp",
        "native/context.cpp",
        "native/decode_request.cpp",
        "native/decode_run.cpp",
        "native/decode_worker.cpp",
        "native/encode_rows.cpp",
        "native/image.cpp",
        "native/image_channels.cpp",
        "native/image_eval_worker.cpp",
        "native/log_capture.cpp",
        "native/mllama/cross_store.cpp",
        "native/mllama/hparams.cpp",
        "native/mllama/kv_cache.cpp",
        "native/mllama/text_context.cpp",
        "native/mllama/text_graph.cpp",
        "native/mllama/vision_context.cpp",
        "native/mllama/vision_graph.cpp",
        "native/mllama/vision_weights.cpp",
        "native/mllama/weights.cpp",
        "native/mllama/weights_file.cpp",
        "native/mllama_context.cpp",
        "native/mllama_decode_worker.cpp",
        "native/mllama_image_worker.cpp",
        "native/mllama_model.cpp",
        "native/mllama_vision.cpp",
        "native/model.cpp",
        "native/output_reader.cpp",
        "native/projector.cpp",
        "native/quantize.cpp",
        "native/rpc_devices.cpp",
        "native/sampler.cpp",
        "native/spm_split_points.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "llama.cpp/include",
        "llama.cpp/ggml/include",
        "llama.cpp/tools/mtmd",
        "llama.cpp/vendor"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wno-unused-parameter"],
      "libraries": [
        "-L<(module_root_dir)/build-llama/bin",
        "-lllama",
        "-lmtmd",
        "-lggml",
        "-lggml-base"
      ],
      "conditions": [
        ["OS=='linux'", { "ldflags": ["-Wl,-rpath,'$$ORIGIN'"] }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "13.3",
            "OTHER_LDFLAGS": ["-Wl,-rpath,@loader_path"]
          }
        }]
      ],
      "copies": [
        {
          "destination": "<(PRODUCT_DIR)",
          "files": ["<!@(node scripts/native-libs.mjs)"]
        }
      ]
    }
  ]
}
