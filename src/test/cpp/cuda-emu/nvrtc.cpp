// NVRTC (libnvrtc) as nemoh calls it. The kernels were compiled into this library ahead of time, from the joined
// source KernelSource.join() gave CudaEmulator.java; compiling checks that the program is that source byte for byte
// (else the log says to rebuild the emulator) and returns a small marker image that cuModuleLoadData accepts.
#include "runtime.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace emu {

const char* imageMarker() {
    static std::string marker = [] {
        unsigned long long h = 1469598103934665603ull; // FNV-1a
        const char* s = builtSource();
        for (size_t i = 0; i < builtSourceLength(); i++) h = (h ^ (unsigned char) s[i]) * 1099511628211ull;
        char b[96];
        snprintf(b, sizeof b, "nemoh CUDA emulator image of kernel source %016llx\n", h);
        return std::string(b);
    }();
    return marker.c_str();
}

} // namespace emu

namespace {

enum {
    NVRTC_SUCCESS = 0, NVRTC_ERROR_OUT_OF_MEMORY = 1, NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
    NVRTC_ERROR_INVALID_INPUT = 3, NVRTC_ERROR_INVALID_PROGRAM = 4, NVRTC_ERROR_INVALID_OPTION = 5,
    NVRTC_ERROR_COMPILATION = 6
};

struct Program {
    std::string source, name, log;
    bool compiled;
};

std::string differenceFromBuilt(const std::string& given) {
    std::string built(emu::builtSource(), emu::builtSourceLength());
    size_t i = 0;
    while (i < given.size() && i < built.size() && given[i] == built[i]) i++;
    size_t lineStart = given.rfind('\n', i == 0 ? 0 : i - 1);
    lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
    int line = 1;
    for (size_t j = 0; j < lineStart; j++) line += given[j] == '\n';
    // the file the #line directives name at that point
    std::string file = "?";
    size_t at = given.rfind("#line 1 \"", lineStart);
    if (at != std::string::npos) {
        size_t q = given.find('"', at + 9);
        file = given.substr(at + 9, q - at - 9);
        line = 0;
        for (size_t j = given.find('\n', at); j != std::string::npos && j < lineStart; j = given.find('\n', j + 1)) line++;
    }
    size_t lineEnd = given.find('\n', lineStart);
    size_t builtEnd = built.find('\n', lineStart);
    return "the CUDA emulator was built from other kernel sources; rebuild it (CudaEmulator.library() does when the"
           " sources change). First difference: " + file + ":" + std::to_string(line) + "\n  given: "
           + given.substr(lineStart, lineEnd == std::string::npos ? std::string::npos : lineEnd - lineStart)
           + "\n  built: " + (lineStart <= built.size()
                                  ? built.substr(lineStart, builtEnd == std::string::npos ? std::string::npos : builtEnd - lineStart)
                                  : std::string("(end)")) + "\n";
}

} // namespace

EMU_API int nvrtcVersion(int* major, int* minor) {
    if (major == nullptr || minor == nullptr) return NVRTC_ERROR_INVALID_INPUT;
    *major = 13;
    *minor = 0;
    return NVRTC_SUCCESS;
}

EMU_API const char* nvrtcGetErrorString(int result) {
    switch (result) {
    case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
    case NVRTC_ERROR_OUT_OF_MEMORY: return "NVRTC_ERROR_OUT_OF_MEMORY";
    case NVRTC_ERROR_PROGRAM_CREATION_FAILURE: return "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
    case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
    case NVRTC_ERROR_INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
    case NVRTC_ERROR_INVALID_OPTION: return "NVRTC_ERROR_INVALID_OPTION";
    case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
    default: return "NVRTC_ERROR unknown";
    }
}

EMU_API int nvrtcCreateProgram(Program** prog, const char* src, const char* name, int numHeaders,
                               const char* const* headers, const char* const* includeNames) {
    if (prog == nullptr || src == nullptr) return NVRTC_ERROR_INVALID_INPUT;
    if (numHeaders < 0 || (numHeaders > 0 && (headers == nullptr || includeNames == nullptr))) return NVRTC_ERROR_INVALID_INPUT;
    *prog = new Program{src, name ? name : "default_program", "", false};
    return NVRTC_SUCCESS;
}

EMU_API int nvrtcCompileProgram(Program* p, int numOptions, const char* const* options) {
    if (p == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
    if (numOptions < 0 || (numOptions > 0 && options == nullptr)) return NVRTC_ERROR_INVALID_INPUT;
    for (int i = 0; i < numOptions; i++) {
        if (options[i] == nullptr || options[i][0] != '-') {
            p->log = std::string("nvrtc: error: invalid option ") + (options[i] ? options[i] : "(null)") + "\n";
            return NVRTC_ERROR_INVALID_OPTION;
        }
    }
    if (p->source.size() != emu::builtSourceLength() || memcmp(p->source.data(), emu::builtSource(), p->source.size()) != 0) {
        p->log = differenceFromBuilt(p->source);
        p->compiled = false;
        return NVRTC_ERROR_COMPILATION;
    }
    p->log.clear();
    p->compiled = true;
    return NVRTC_SUCCESS;
}

EMU_API int nvrtcGetProgramLogSize(Program* p, size_t* size) {
    if (p == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
    if (size == nullptr) return NVRTC_ERROR_INVALID_INPUT;
    *size = p->log.size() + 1;
    return NVRTC_SUCCESS;
}

EMU_API int nvrtcGetProgramLog(Program* p, char* log) {
    if (p == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
    if (log == nullptr) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(log, p->log.c_str(), p->log.size() + 1);
    return NVRTC_SUCCESS;
}

EMU_API int nvrtcGetCUBINSize(Program* p, size_t* size) {
    if (p == nullptr || !p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    if (size == nullptr) return NVRTC_ERROR_INVALID_INPUT;
    *size = strlen(emu::imageMarker()) + 1;
    return NVRTC_SUCCESS;
}

EMU_API int nvrtcGetCUBIN(Program* p, char* image) {
    if (p == nullptr || !p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    if (image == nullptr) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(image, emu::imageMarker(), strlen(emu::imageMarker()) + 1);
    return NVRTC_SUCCESS;
}

EMU_API int nvrtcGetPTXSize(Program* p, size_t* size) { return nvrtcGetCUBINSize(p, size); }
EMU_API int nvrtcGetPTX(Program* p, char* ptx) { return nvrtcGetCUBIN(p, ptx); }

EMU_API int nvrtcDestroyProgram(Program** p) {
    if (p == nullptr || *p == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
    delete *p;
    *p = nullptr;
    return NVRTC_SUCCESS;
}
