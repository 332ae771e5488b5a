#include "log_capture.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "llama.h"
#include "mtmd-helper.h"

namespace stagebeam {

namespace {

thread_local std::string captured;
thread_local ggml_log_level last_level = GGML_LOG_LEVEL_NONE;
int threshold = GGML_LOG_LEVEL_NONE + 100;  // print nothing by default

void OnLog(ggml_log_level level, const char * text, void *) {
    // GGML_LOG_LEVEL_CONT continues the previous line at that line's level.
    ggml_log_level effective = level == GGML_LOG_LEVEL_CONT ? last_level : level;
    if (level != GGML_LOG_LEVEL_CONT) last_level = level;
    if (effective == GGML_LOG_LEVEL_ERROR && captured.size() < 4096) captured += text;
    if (static_cast<int>(effective) >= threshold) fputs(text, stderr);
}

}  // namespace

void InstallLogCapture() {
    const char * env = std::getenv("STAGEBEAM_LOG");
    if (env) {
        if (!strcmp(env, "debug")) threshold = GGML_LOG_LEVEL_DEBUG;
        else if (!strcmp(env, "info")) threshold = GGML_LOG_LEVEL_INFO;
        else if (!strcmp(env, "warn")) threshold = GGML_LOG_LEVEL_WARN;
        else if (!strcmp(env, "error")) threshold = GGML_LOG_LEVEL_ERROR;
    }
    llama_log_set(OnLog, nullptr);
    mtmd_helper_log_set(OnLog, nullptr);  // libmtmd and its CLIP encoder explain failures the same way
}

void ClearCapturedErrors() { captured.clear(); }

std::string CapturedErrors() {
    std::string out = captured;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    for (auto & c : out) {
        if (c == '\n') c = ';';
    }
    return out;
}

}  // namespace stagebeam
