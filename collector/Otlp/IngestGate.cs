using Vigil.Collector.Configuration;
using Vigil.Storage;

namespace Vigil.Collector.Otlp;

/// <summary>
/// Admission control in front of decoding: bounds the bytes being decoded at once and, when a memory
/// limit is set, refuses while the heap is above it. A refusal is retryable (429/503,
/// RESOURCE_EXHAUSTED/UNAVAILABLE with a retry delay), never a drop after acknowledging.
/// </summary>
public sealed class IngestGate(IngestOptions options, IMemoryGauge memory)
{
    private long _inflight;

    public IngestOptions Options { get; } = options;

    public long InflightBytes => Interlocked.Read(ref _inflight);

    /// <summary>
    /// Tries to admit a request of <paramref name="bytes"/>: null when admitted, else why not and
    /// whether it is the memory limit (UNAVAILABLE / 503) or throttling (RESOURCE_EXHAUSTED / 429).
    /// </summary>
    public (string Message, bool Memory)? TryEnter(long bytes)
    {
        if (Options.MemoryLimitBytes > 0 && memory.UsedBytes() > Options.MemoryLimitBytes)
        {
            return ($"Vigil is above its memory limit ({Options.MemoryLimitBytes / (1024 * 1024)} MiB); retry later", true);
        }

        var total = Interlocked.Add(ref _inflight, bytes);
        if (total > Options.MaxInflightBytes && total != bytes)
        {
            Interlocked.Add(ref _inflight, -bytes);
            return ($"Vigil is decoding {Options.MaxInflightBytes / (1024 * 1024)} MiB of requests already; retry later", false);
        }

        return null;
    }

    public void Exit(long bytes) => Interlocked.Add(ref _inflight, -bytes);
}
