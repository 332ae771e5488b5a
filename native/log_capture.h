// Routes llama.cpp / ggml logging. llama.cpp explains most failures only in its log (the load functions
// return NULL), so errors logged on a thread are kept per thread and attached to the typed error that
// thread raises. Everything is silent unless STAGEBEAM_LOG=debug|info|warn is set.
#pragma once

#include <string>

namespace stagebeam {

void InstallLogCapture();
// Clears this thread's captured errors; call before an operation whose failure you want to explain.
void ClearCapturedErrors();
// The error lines llama.cpp logged on this thread since the last clear, joined; empty if none.
std::string CapturedErrors();

}  // namespace stagebeam
