/*
 * A stand-in for Iluvatar's libixml.so on two BI-V100 boards, for tests on machines without CoreX.
 *
 * It exports exactly the functions Iluvatar's own Go binding declares for libixml (go-ixml, "compatible with IX
 * driver version 4.2.0": pkg/ixml/api.h of github.com/Deep-Spark/go-ixml at commit a1a4e06): the NVML names with
 * their versioned suffixes (nvmlInit_v2, nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2,
 * nvmlDeviceGetPciInfo_v3, ...) and four ixml* extensions. Nothing else is exported (built with
 * -fvisibility=hidden): no nvmlInit, nvmlInitWithFlags, nvmlErrorString or nvmlDeviceGetTotalEnergyConsumption.
 *
 * Built with -DIXML_UNVERSIONED it stands in for a library that exports the four entry points under their old
 * unversioned names instead (nvmlInit, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex, nvmlDeviceGetPciInfo with
 * the v1 PCI layout). POWER0_MW / POWER1_MW override the power readings.
 *
 * Readings are fixed (see tests/vendors/data/README.md for where the values come from). Every call but init
 * answers NVML_ERROR_UNINITIALIZED while the library is not initialised, as NVML does, so a test can tell that
 * init and shutdown were balanced. Calls the tests do not exercise answer NVML_ERROR_NOT_SUPPORTED.
 */

#include <string.h>

#define EXPORT __attribute__((visibility("default")))

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25

#define NVML_TEMPERATURE_GPU 0
#define NVML_CLOCK_SM 1
#define NVML_MEMORY_V2 0x02000028u /* sizeof(nvmlMemory_v2_t) | 2 << 24, as nvml.h defines nvmlMemory_v2 */

#ifndef POWER0_MW
#define POWER0_MW 156270u
#endif
#ifndef POWER1_MW
#define POWER1_MW 61020u
#endif

typedef int nvmlReturn_t;

typedef struct {
    unsigned int index;
} board_t;

typedef board_t *nvmlDevice_t;

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_v3_t;

typedef struct {
    char busId[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
} nvmlPciInfo_v1_t;

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

#define BOARDS 2
static board_t boards[BOARDS] = {{0}, {1}};
static const char *names[BOARDS] = {"Iluvatar BI-V100", "Iluvatar BI-V100"};
static const char *uuids[BOARDS] = {
    "GPU-5c2e8a41-9d3b-5f60-8e1a-0b4c7d2f9e31",
    "GPU-7a9d0c62-1e4f-5b83-9c2d-3e6f8a1b4c52",
};
static const char *bus_ids[BOARDS] = {"00000000:13:00.0", "00000000:88:00.0"};
static const unsigned int bus_numbers[BOARDS] = {0x13, 0x88};
static const unsigned long long total_bytes = 34359738368ull; /* 32 GiB */
static const unsigned long long reserved_bytes = 268435456ull; /* 256 MiB held back by the driver */
static const unsigned long long allocated_bytes[BOARDS] = {22649241600ull, 536870912ull};
static const unsigned int power_mw[BOARDS] = {POWER0_MW, POWER1_MW};
static const unsigned int utilization_pct[BOARDS] = {98, 0};
static const unsigned int temperature_c[BOARDS] = {52, 38};
static const unsigned int sm_clock_mhz = 1500;
static const char *driver_version = "4.2.0";

static int initialised = 0;

static nvmlReturn_t copy_text(char *buffer, unsigned int length, const char *text) {
    if (buffer == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(text) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(buffer, text);
    return NVML_SUCCESS;
}

static int known(nvmlDevice_t device) {
    return device == &boards[0] || device == &boards[1];
}

#define CHECK_DEVICE(device)                                       \
    do {                                                           \
        if (!initialised) return NVML_ERROR_UNINITIALIZED;         \
        if (!known(device)) return NVML_ERROR_INVALID_ARGUMENT;    \
    } while (0)

static nvmlReturn_t init(void) {
    initialised += 1;
    return NVML_SUCCESS;
}

static nvmlReturn_t count(unsigned int *device_count) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (device_count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *device_count = BOARDS;
    return NVML_SUCCESS;
}

static nvmlReturn_t handle(unsigned int index, nvmlDevice_t *device) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (index >= BOARDS || device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &boards[index];
    return NVML_SUCCESS;
}

/* The four entry points go-ixml calls by their versioned names. */
#ifdef IXML_UNVERSIONED
EXPORT nvmlReturn_t nvmlInit(void) { return init(); }
EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *device_count) { return count(device_count); }
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    return handle(index, device);
}
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_v1_t *pci) {
    CHECK_DEVICE(device);
    memset(pci, 0, sizeof(*pci));
    strcpy(pci->busId, bus_ids[device->index]);
    pci->bus = bus_numbers[device->index];
    return NVML_SUCCESS;
}
#else
EXPORT nvmlReturn_t nvmlInit_v2(void) { return init(); }
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *device_count) { return count(device_count); }
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    return handle(index, device);
}
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_v3_t *pci) {
    CHECK_DEVICE(device);
    memset(pci, 0, sizeof(*pci));
    strcpy(pci->busIdLegacy, bus_ids[device->index]);
    strcpy(pci->busId, bus_ids[device->index]);
    pci->bus = bus_numbers[device->index];
    return NVML_SUCCESS;
}
#endif

EXPORT nvmlReturn_t nvmlShutdown(void) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    initialised -= 1;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    CHECK_DEVICE(device);
    return copy_text(name, length, names[device->index]);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    CHECK_DEVICE(device);
    return copy_text(uuid, length, uuids[device->index]);
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    return copy_text(version, length, driver_version);
}

/* v1 counts the driver's reserved memory as used; v2 reports it apart, as NVML's nvmlMemory_v2_t does. */
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    CHECK_DEVICE(device);
    memory->total = total_bytes;
    memory->used = reserved_bytes + allocated_bytes[device->index];
    memory->free = total_bytes - memory->used;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    CHECK_DEVICE(device);
    if (memory->version != NVML_MEMORY_V2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memory->total = total_bytes;
    memory->reserved = reserved_bytes;
    memory->used = allocated_bytes[device->index];
    memory->free = total_bytes - reserved_bytes - memory->used;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    CHECK_DEVICE(device);
    *power = power_mw[device->index];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    CHECK_DEVICE(device);
    utilization->gpu = utilization_pct[device->index];
    utilization->memory = 0;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temperature) {
    CHECK_DEVICE(device);
    if (sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_NOT_SUPPORTED;
    *temperature = temperature_c[device->index];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
    CHECK_DEVICE(device);
    if (type != NVML_CLOCK_SM) return NVML_ERROR_NOT_SUPPORTED;
    *clock = sm_clock_mhz;
    return NVML_SUCCESS;
}

/* The rest of go-ixml's declarations: exported so the symbol set is the real one, unsupported here. */
#define NOT_SUPPORTED(name) \
    EXPORT nvmlReturn_t name() { return initialised ? NVML_ERROR_NOT_SUPPORTED : NVML_ERROR_UNINITIALIZED; }

NOT_SUPPORTED(nvmlDeviceGetHandleByUUID)
NOT_SUPPORTED(nvmlDeviceGetHandleByPciBusId_v2)
NOT_SUPPORTED(nvmlDeviceGetMinorNumber)
NOT_SUPPORTED(nvmlSystemGetNVMLVersion)
NOT_SUPPORTED(nvmlSystemGetCudaDriverVersion)
NOT_SUPPORTED(nvmlSystemGetCudaDriverVersion_v2)
NOT_SUPPORTED(nvmlDeviceGetTemperatureThreshold)
NOT_SUPPORTED(nvmlDeviceGetFanSpeed)
NOT_SUPPORTED(nvmlDeviceGetFanSpeed_v2)
NOT_SUPPORTED(nvmlDeviceGetComputeMode)
NOT_SUPPORTED(nvmlDeviceGetCudaComputeCapability)
NOT_SUPPORTED(nvmlDeviceGetEccMode)
NOT_SUPPORTED(nvmlDeviceGetDefaultEccMode)
NOT_SUPPORTED(nvmlDeviceGetBoardId)
NOT_SUPPORTED(nvmlDeviceGetMultiGpuBoard)
NOT_SUPPORTED(nvmlDeviceGetMaxPcieLinkGeneration)
NOT_SUPPORTED(nvmlDeviceGetMaxPcieLinkWidth)
NOT_SUPPORTED(nvmlDeviceGetCurrPcieLinkGeneration)
NOT_SUPPORTED(nvmlDeviceGetCurrPcieLinkWidth)
NOT_SUPPORTED(nvmlDeviceGetPcieThroughput)
NOT_SUPPORTED(nvmlDeviceGetPcieReplayCounter)
NOT_SUPPORTED(nvmlDeviceGetIndex)
NOT_SUPPORTED(nvmlDeviceGetSerial)
NOT_SUPPORTED(nvmlDeviceGetHandleBySerial)
NOT_SUPPORTED(nvmlDeviceGetVbiosVersion)
NOT_SUPPORTED(nvmlDeviceGetBoardPartNumber)
NOT_SUPPORTED(nvmlDeviceSetEccMode)
NOT_SUPPORTED(nvmlDeviceOnSameBoard)
NOT_SUPPORTED(nvmlDeviceGetComputeRunningProcesses)
NOT_SUPPORTED(nvmlGpmMetricsGet)
NOT_SUPPORTED(nvmlGpmQueryDeviceSupport)
NOT_SUPPORTED(nvmlGpmSampleFree)
NOT_SUPPORTED(nvmlGpmSampleAlloc)
NOT_SUPPORTED(nvmlGpmSampleGet)
NOT_SUPPORTED(nvmlDeviceGetPowerManagementLimit)
NOT_SUPPORTED(nvmlDeviceGetPowerManagementLimitConstraints)
NOT_SUPPORTED(nvmlDeviceGetPowerManagementDefaultLimit)
NOT_SUPPORTED(nvmlDeviceGetCurrentClocksThrottleReasons)
NOT_SUPPORTED(nvmlDeviceGetSupportedClocksThrottleReasons)
NOT_SUPPORTED(nvmlDeviceGetTopologyCommonAncestor)
NOT_SUPPORTED(nvmlEventSetCreate)
NOT_SUPPORTED(nvmlDeviceRegisterEvents)
NOT_SUPPORTED(nvmlDeviceGetSupportedEventTypes)
NOT_SUPPORTED(nvmlEventSetWait_v2)
NOT_SUPPORTED(nvmlEventSetFree)
NOT_SUPPORTED(ixmlDeviceGetBoardPosition)
NOT_SUPPORTED(ixmlDeviceGetGPUVoltage)
NOT_SUPPORTED(ixmlDeviceGetEccErros)
NOT_SUPPORTED(ixmlDeviceGetHealth)
