using Vigil.Collector.Configuration;
using Vigil.Storage;

namespace Vigil.Collector.Otlp;

/// <summary>
/// Admission control in front of decoding: bounds the requests and the bytes being decoded at once and,
/// with a memory limit, refuses every request while memory is above its hard limit (below it the store
/// refuses only new series; see <see cref="MemoryLimiter"/>). After the check pass, <see cref="Rates"/>
/// holds each tenant to its data-point rate. A refusal is retryable (429/503,
/// RESOURCE_EXHAUSTED/UNAVAILABLE with a retry delay), never a drop after acknowledging.
/// </summary>
public sealed class IngestGate(IngestOptions options, MemoryLimiter? memory, TenantRateLimiter? rates = null)
{
    private const long MiB = 1024 * 1024;
    private long _inflight;
    private long _requests;
    private long _refusedMemory;
    private long _refusedInflight;
    private long _refusedRequests;

    public IngestOptions Options { get; } = options;

    public MemoryLimiter? Memory { get; } = memory;

    /// <summary>The per-tenant data-point rate limit; null when no tenant has one.</summary>
    public TenantRateLimiter? Rates { get; } = rates;

    public long InflightBytes => Interlocked.Read(ref _inflight);

    /// <summary>
    /// Requests refused, by reason: memory_limit (503 / UNAVAILABLE), inflight_limit (bytes) and
    /// inflight_requests (count), tenant_rate (all 429 / RESOURCE_EXHAUSTED).
    /// </summary>
    public IEnumerable<(string Reason, long Count)> RefusedRequests =>
    [
        ("memory_limit", Interlocked.Read(ref _refusedMemory)),
        ("inflight_limit", Interlocked.Read(ref _refusedInflight)),
        ("inflight_requests", Interlocked.Read(ref _refusedRequests)),
        ("tenant_rate", Rates?.RefusedRequests ?? 0),
    ];

    /// <summary>
    /// Tries to admit a request of <paramref name="bytes"/>: null when admitted (then call <see cref="Exit"/>),
    /// else why not and whether it is the memory limit (UNAVAILABLE / 503) or throttling (RESOURCE_EXHAUSTED / 429).
    /// </summary>
    public (string Message, bool Memory)? TryEnter(long bytes)
    {
        // The level from the last reading: no request pays for measuring memory.
        if (Memory is { Pressure: MemoryPressure.RefuseAll } limiter)
        {
            Interlocked.Increment(ref _refusedMemory);
            return ($"Vigil is above its memory limit ({limiter.UsedBytes / MiB} MiB in use, hard limit {limiter.HardLimitBytes / MiB} MiB); retry later", true);
        }

        var requests = Interlocked.Increment(ref _requests);
        if (Options.MaxRequestsInFlight > 0 && requests > Options.MaxRequestsInFlight)
        {
            Interlocked.Decrement(ref _requests);
            Interlocked.Increment(ref _refusedRequests);
            return ($"Vigil is handling {Options.MaxRequestsInFlight} requests already (ingest.max_requests_in_flight); retry later", false);
        }

        var total = Interlocked.Add(ref _inflight, bytes);
        if (total > Options.MaxInflightBytes && total != bytes)
        {
            Interlocked.Add(ref _inflight, -bytes);
            Interlocked.Decrement(ref _requests);
            Interlocked.Increment(ref _refusedInflight);
            return ($"Vigil is decoding {Options.MaxInflightBytes / MiB} MiB of requests already (ingest.max_inflight_size); retry later", false);
        }

        return null;
    }

    public void Exit(long bytes)
    {
        Interlocked.Add(ref _inflight, -bytes);
        Interlocked.Decrement(ref _requests);
    }
}
