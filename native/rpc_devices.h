// The devices a model split across rpc-server processes runs on (ggml's RPC backend, as llama.cpp's
// `--rpc` sets them up), for llama_model_params.devices.
#pragma once

#include <string>
#include <vector>

#include "ggml-backend.h"

namespace stagebeam {

// Connects to each endpoint ("host:port") through the RPC backend and returns its devices, then this
// machine's own GPUs (as llama.cpp's default selection orders them: remote first, so fewer activations
// cross the network), ending with the nullptr llama_model_params.devices needs. The endpoints must
// already answer: ggml aborts the process on a refused connection or a failed handshake, so the
// TypeScript side probes them first (lib/rpc/handshake.ts). Throws NativeError on a build without the
// RPC backend, a malformed endpoint, or a server with no devices. Runs on a worker thread.
std::vector<ggml_backend_dev_t> RpcDevices(const std::vector<std::string> & endpoints);

// Whether an endpoint has the only shape ggml's parser takes without aborting: host, ':', port 1..65535.
bool IsRpcEndpoint(const std::string & endpoint);

}  // namespace stagebeam
