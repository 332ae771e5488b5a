#include "rpc_devices.h"

#include "errors.h"
#include "ggml-rpc.h"

namespace stagebeam {

bool IsRpcEndpoint(const std::string & endpoint) {
    const size_t colon = endpoint.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    const std::string port = endpoint.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
    }
    const int value = std::stoi(port);
    return value >= 1 && value <= 65535;
}

std::vector<ggml_backend_dev_t> RpcDevices(const std::vector<std::string> & endpoints) {
    // With GGML_BACKEND_DL the backend is a module (libggml-rpc) loaded beside the CPU variants;
    // without, it is linked into libggml. Either way it registers as "RPC", with no devices of its own:
    // each server's come from ggml_backend_rpc_add_server, reached through the registry so the addon
    // does not link the module.
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    if (!rpc) throw NativeError("RPC_UNSUPPORTED", "this build has no RPC backend: rebuild llama.cpp with -DGGML_RPC=ON (npm run build:native)");
    using add_server_t = ggml_backend_reg_t (*)(const char *);
    auto add_server = reinterpret_cast<add_server_t>(ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server"));
    if (!add_server) throw NativeError("RPC_UNSUPPORTED", "the RPC backend of this build has no ggml_backend_rpc_add_server");

    std::vector<ggml_backend_dev_t> devices;
    for (const std::string & endpoint : endpoints) {
        if (!IsRpcEndpoint(endpoint)) throw NativeError("INVALID_RPC_ENDPOINT", "not an RPC endpoint (host:port): " + endpoint);
        // Not registered globally (llama.cpp's CLI does, for its one model): a model loaded later
        // without `rpc` must stay on this machine.
        ggml_backend_reg_t server = add_server(endpoint.c_str());
        if (!server || ggml_backend_reg_dev_count(server) == 0) {
            throw NativeError("RPC_UNREACHABLE", "the rpc-server at " + endpoint + " offers no devices");
        }
        for (size_t i = 0; i < ggml_backend_reg_dev_count(server); ++i) devices.push_back(ggml_backend_reg_dev_get(server, i));
    }
    // This machine's GPUs after the servers', integrated ones only when there is no discrete one, as
    // llama.cpp's default selection does (without its de-duplication of one GPU seen by two backends:
    // builds here carry one GPU backend at most).
    std::vector<ggml_backend_dev_t> gpus;
    std::vector<ggml_backend_dev_t> igpus;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU) gpus.push_back(dev);
        if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_IGPU) igpus.push_back(dev);
    }
    devices.insert(devices.end(), gpus.begin(), gpus.end());
    if (gpus.empty()) devices.insert(devices.end(), igpus.begin(), igpus.end());
    devices.push_back(nullptr);
    return devices;
}

}  // namespace stagebeam
