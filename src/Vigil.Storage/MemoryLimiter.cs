using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vigil.Storage;

/// <summary>What the memory limit lets in at the moment; each level refuses more than the one before.</summary>
public enum MemoryPressure
{
    /// <summary>At or below the soft limit: everything is accepted.</summary>
    Normal = 0,

    /// <summary>
    /// Above the soft limit: a new series is refused when its tenant already holds at least an equal
    /// share of the series (series ÷ tenants), so the tenant that floods is stopped first.
    /// </summary>
    EqualShare = 1,

    /// <summary>Above the middle of the soft and hard limits: no new series or metric at all.</summary>
    NoNewSeries = 2,

    /// <summary>Above the hard limit: every request is refused retryably and a full collection is forced.</summary>
    RefuseAll = 3,
}

/// <summary>
/// The memory limit, after the OpenTelemetry Collector's memory_limiter: a hard limit, a soft limit
/// below it by a spike allowance, memory read on a timer (never per request), a forced collection
/// above the hard limit. Unlike the Collector, which refuses everything above its soft limit, the
/// soft band refuses only what makes memory grow without bound here: new series. Existing series
/// grow by at most their retention and are still accepted, so a flood of new series by one tenant
/// does not stop the other tenants. It recovers by itself: the level follows every reading.
/// See docs/decisions/009-memory-limit.md.
/// </summary>
public sealed class MemoryLimiter : IDisposable
{
    /// <summary>Below the hard limit, a collection after evictions at most this often (the Collector's soft-limit GC interval).</summary>
    public static readonly TimeSpan SoftCollectInterval = TimeSpan.FromSeconds(10);

    private readonly IMemoryGauge _gauge;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITimer _timer;
    private int _checking;
    private int _pressure;
    private long _used;
    private long _collections;
    private long _lastCollect = long.MinValue;
    private int _evicted;

    public MemoryLimiter(long hardLimitBytes, long softLimitBytes, TimeSpan checkInterval, IMemoryGauge gauge, TimeProvider time, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hardLimitBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(softLimitBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(softLimitBytes, hardLimitBytes);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(checkInterval, TimeSpan.Zero);
        HardLimitBytes = hardLimitBytes;
        SoftLimitBytes = softLimitBytes;
        NoNewSeriesBytes = softLimitBytes + ((hardLimitBytes - softLimitBytes) / 2);
        CheckInterval = checkInterval;
        _gauge = gauge;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        Check();
        _timer = time.CreateTimer(_ => Check(), null, checkInterval, checkInterval);
    }

    public long HardLimitBytes { get; }

    public long SoftLimitBytes { get; }

    /// <summary>Past this reading (half-way from soft to hard) no new series is created at all.</summary>
    public long NoNewSeriesBytes { get; }

    public TimeSpan CheckInterval { get; }

    public MemoryPressure Pressure => (MemoryPressure)Volatile.Read(ref _pressure);

    /// <summary>The last reading.</summary>
    public long UsedBytes => Interlocked.Read(ref _used);

    public long ForcedCollections => Interlocked.Read(ref _collections);

    /// <summary>
    /// Series were evicted. The reading only falls once the GC has run, and with ingest held back it
    /// may not run for a long time: the next check above the soft limit collects.
    /// </summary>
    public void SeriesEvicted() => Volatile.Write(ref _evicted, 1);

    /// <summary>Reads memory and sets the level; runs on the timer, callable directly.</summary>
    public MemoryPressure Check()
    {
        // A forced collection can outlast the interval; the timer's next tick then finds this flag.
        if (Interlocked.Exchange(ref _checking, 1) == 1)
        {
            return Pressure;
        }

        try
        {
            var used = _gauge.UsedBytes();
            if (used > SoftLimitBytes && ShouldCollect(used))
            {
                var before = used;
                Volatile.Write(ref _evicted, 0);
                Interlocked.Exchange(ref _lastCollect, _time.GetTimestamp());
                _gauge.Collect();
                Interlocked.Increment(ref _collections);
                used = _gauge.UsedBytes();
                _logger.LogDebug("Forced a full collection: {Before} -> {After} bytes", before, used);
            }

            Interlocked.Exchange(ref _used, used);
            var pressure = Classify(used);
            var previous = (MemoryPressure)Interlocked.Exchange(ref _pressure, (int)pressure);
            if (previous != pressure)
            {
                Log(previous, pressure, used);
            }

            return pressure;
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    public void Dispose() => _timer.Dispose();

    private MemoryPressure Classify(long used) =>
        used > HardLimitBytes ? MemoryPressure.RefuseAll
        : used > NoNewSeriesBytes ? MemoryPressure.NoNewSeries
        : used > SoftLimitBytes ? MemoryPressure.EqualShare
        : MemoryPressure.Normal;

    private bool ShouldCollect(long used)
    {
        if (used > HardLimitBytes)
        {
            return true; // at most once per check: the timer is the rate limit
        }

        var last = Interlocked.Read(ref _lastCollect);
        return Volatile.Read(ref _evicted) == 1 && (last == long.MinValue || _time.GetElapsedTime(last) >= SoftCollectInterval);
    }

    private void Log(MemoryPressure previous, MemoryPressure pressure, long used)
    {
        const long MiB = 1024 * 1024;
        var what = pressure switch
        {
            MemoryPressure.Normal => "everything is accepted again",
            MemoryPressure.EqualShare => "new series of tenants holding an equal share or more are refused",
            MemoryPressure.NoNewSeries => "every new series is refused; existing series are still accepted",
            _ => "every request is refused with 503 / UNAVAILABLE until memory falls",
        };
        var level = LogLevel.Information;
        if (pressure > previous)
        {
            level = pressure == MemoryPressure.RefuseAll ? LogLevel.Error : LogLevel.Warning;
        }

        _logger.Log(
            level,
            "Memory {Used} MiB (soft limit {Soft} MiB, hard limit {Hard} MiB): {Previous} -> {Pressure}, {What}",
            used / MiB,
            SoftLimitBytes / MiB,
            HardLimitBytes / MiB,
            previous,
            pressure,
            what);
    }
}
