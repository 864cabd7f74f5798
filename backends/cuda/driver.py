"""The CUDA driver API as the host runtime uses it: looked up with dlopen/dlsym at create
time, so the library links nothing of CUDA, loads on machines without a GPU, and fails there
with one clear message instead of a missing-symbol error from the dynamic loader.

Only entry points whose signatures are stable across CUDA 11-13 are used (no cuCtxCreate,
whose signature CUDA 13 changed): the device's primary context is retained and made current.
"""

DRIVER_C = r"""
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef unsigned long long CUdeviceptr;

#define AOTC_CU_ATTRIBUTE_CC_MAJOR 75
#define AOTC_CU_ATTRIBUTE_CC_MINOR 76

typedef struct {
    void* library;
    CUresult (*Init)(unsigned int);
    CUresult (*DeviceGet)(CUdevice*, int);
    CUresult (*DeviceGetAttribute)(int*, int, CUdevice);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext*, CUdevice);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxSynchronize)(void);
    CUresult (*ModuleLoadData)(CUmodule*, const void*);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction*, CUmodule, const char*);
    CUresult (*MemAlloc)(CUdeviceptr*, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void*, size_t);
    CUresult (*MemcpyDtoH)(void*, CUdeviceptr, size_t);
    CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, CUstream, void**, void**);
    CUresult (*GetErrorString)(CUresult, const char**);
} aotc_driver;

static int aotc_driver_open(aotc_driver* cu) {
    memset(cu, 0, sizeof *cu);
    cu->library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cu->library)
        return aotc_fail(AOTC_ERR_DEVICE, "no CUDA driver (libcuda.so.1) on this machine: this artifact needs an NVIDIA GPU and its driver");
#define AOTC_SYMBOL(field, name) \
    if (!(*(void**)&cu->field = dlsym(cu->library, name))) { \
        dlclose(cu->library); cu->library = NULL; \
        return aotc_fail(AOTC_ERR_DEVICE, "the CUDA driver lacks %s (too old a driver?)", name); }
    AOTC_SYMBOL(Init, "cuInit")
    AOTC_SYMBOL(DeviceGet, "cuDeviceGet")
    AOTC_SYMBOL(DeviceGetAttribute, "cuDeviceGetAttribute")
    AOTC_SYMBOL(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
    AOTC_SYMBOL(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")
    AOTC_SYMBOL(CtxSetCurrent, "cuCtxSetCurrent")
    AOTC_SYMBOL(CtxSynchronize, "cuCtxSynchronize")
    AOTC_SYMBOL(ModuleLoadData, "cuModuleLoadData")
    AOTC_SYMBOL(ModuleUnload, "cuModuleUnload")
    AOTC_SYMBOL(ModuleGetFunction, "cuModuleGetFunction")
    AOTC_SYMBOL(MemAlloc, "cuMemAlloc_v2")
    AOTC_SYMBOL(MemFree, "cuMemFree_v2")
    AOTC_SYMBOL(MemcpyHtoD, "cuMemcpyHtoD_v2")
    AOTC_SYMBOL(MemcpyDtoH, "cuMemcpyDtoH_v2")
    AOTC_SYMBOL(MemcpyDtoD, "cuMemcpyDtoD_v2")
    AOTC_SYMBOL(LaunchKernel, "cuLaunchKernel")
    AOTC_SYMBOL(GetErrorString, "cuGetErrorString")
#undef AOTC_SYMBOL
    return AOTC_OK;
}

static int aotc_cu_fail(const aotc_driver* cu, CUresult status, const char* what) {
    const char* text = NULL;
    if (cu->GetErrorString(status, &text) != 0 || !text) text = "unknown error";
    return aotc_fail(AOTC_ERR_DEVICE, "%s failed: %s (CUDA error %d)", what, text, (int)status);
}

/* Evaluate a driver call; on failure return the error from the enclosing function. */
#define AOTC_CU(cu, call, what) do { CUresult aotc_status = (cu)->call; \
    if (aotc_status != 0) return aotc_cu_fail((cu), aotc_status, (what)); } while (0)
"""
