using System.Collections.Concurrent;
using System.Globalization;
using Vigil.Collector.Configuration;
using Vigil.Storage;

namespace Vigil.Collector.Otlp;

/// <summary>What a tenant over its data-point rate is told: the message and when its bucket will hold enough.</summary>
public readonly record struct RateRefusal(string Message, TimeSpan RetryAfter);

/// <summary>
/// The per-tenant data-point rate limit (<c>ingest.tenant_rate_limit</c>, decision 016): a token bucket per
/// tenant, refilled from <see cref="TimeProvider"/> when it is used (no timer). A request takes the points
/// of every tenant it carries, or nothing: when one tenant is over its budget the whole request is refused
/// retryably and no tenant's bucket changes, so the sender can retry it whole and a noisy tenant spends
/// only its own budget.
/// </summary>
public sealed class TenantRateLimiter
{
    /// <summary>Tenants whose refused points are counted by name; past it they share <see cref="IngestStats.OtherTenants"/>.</summary>
    public const int MaxCountedTenants = IngestStats.MaxMismatchTenants;

    private const int MinSweepAt = 10_000;

    private readonly IngestOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Bucket>.AlternateLookup<ReadOnlySpan<char>> _byName;
    private readonly ConcurrentDictionary<string, long> _refusedPoints = new(StringComparer.Ordinal);
    private Bucket?[] _found = new Bucket?[4];
    private double[] _waits = new double[4];
    private int _sweepAt = MinSweepAt;
    private long _refusedRequests;

    public TenantRateLimiter(IngestOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _byName = _buckets.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Requests refused because a tenant of theirs was over its rate.</summary>
    public long RefusedRequests => Interlocked.Read(ref _refusedRequests);

    /// <summary>Points refused because their tenant was over its rate, by tenant (untenanted points under "").</summary>
    public IReadOnlyDictionary<string, long> RefusedPointsByTenant => _refusedPoints;

    /// <summary>Buckets held: tenants seen whose bucket was not yet found full again by a sweep.</summary>
    internal int Buckets
    {
        get
        {
            lock (_lock)
            {
                return _buckets.Count;
            }
        }
    }

    /// <summary>Takes the points of every tenant in <paramref name="counts"/>, or none of them and says why.</summary>
    public RateRefusal? TryTake(TenantPointCounts counts)
    {
        var now = _time.GetTimestamp();
        Bucket? worst = null;
        double worstWait = 0;
        lock (_lock)
        {
            if (_buckets.Count >= _sweepAt)
            {
                Sweep(now);
            }

            if (_found.Length < counts.Count)
            {
                _found = new Bucket?[counts.Count * 2];
                _waits = new double[counts.Count * 2];
            }

            for (var i = 0; i < counts.Count; i++)
            {
                var bucket = _found[i] = Find(counts.Name(i), now);
                bucket.Refill(now, _time);
                var wait = _waits[i] = bucket.SecondsUntil(counts.Points(i));
                if (wait > worstWait)
                {
                    (worst, worstWait) = (bucket, wait);
                }
            }

            for (var i = 0; i < counts.Count; i++)
            {
                if (worst is null)
                {
                    _found[i]!.Take(counts.Points(i));
                }
                else if (_waits[i] > 0)
                {
                    CountRefused(_found[i]!.Name, counts.Points(i));
                }
            }

            Array.Clear(_found, 0, counts.Count);
        }

        if (worst is null)
        {
            return null;
        }

        Interlocked.Increment(ref _refusedRequests);

        // Whole seconds, as Retry-After carries them: rounded up, so the bucket holds enough by then.
        var seconds = Math.Max(1, (long)Math.Ceiling(worstWait));
        return new RateRefusal(Describe(worst, seconds), TimeSpan.FromSeconds(seconds));
    }

    private string Describe(Bucket bucket, long seconds)
    {
        var setting = bucket.FromOverride ? $"ingest.tenant_rate_limits.{bucket.Name}" : "ingest.tenant_rate_limit";
        var who = bucket.Name.Length == 0 ? "points without a tenant are" : $"tenant \"{bucket.Name}\" is";
        return string.Create(CultureInfo.InvariantCulture, $"{who} over its data-point rate ({setting} = {bucket.Rate}/s, burst {bucket.Burst}); retry after {seconds} s");
    }

    private void CountRefused(string tenant, long points)
    {
        if (_refusedPoints.Count >= MaxCountedTenants && !_refusedPoints.ContainsKey(tenant))
        {
            tenant = IngestStats.OtherTenants;
        }

        _refusedPoints.AddOrUpdate(tenant, points, (_, c) => c + points);
    }

    private Bucket Find(ReadOnlySpan<char> name, long now)
    {
        if (_byName.TryGetValue(name, out var bucket))
        {
            return bucket;
        }

        // A tenant's first request: its name becomes a string once, for the life of its bucket.
        var tenant = name.ToString();
        var fromOverride = _options.TenantRateLimits.TryGetValue(tenant, out var rate);
        rate = fromOverride ? rate : _options.TenantRateLimit;
        long burst = _options.TenantRateBurst > 0 ? _options.TenantRateBurst : 2L * rate;
        bucket = new Bucket(tenant, rate, burst, fromOverride, now);
        _buckets.Add(tenant, bucket);
        return bucket;
    }

    /// <summary>
    /// A full bucket is the same as no bucket, so buckets that refilled are dropped: tenant names come from
    /// requests, and without keys anyone may send a new one.
    /// </summary>
    private void Sweep(long now)
    {
        List<string>? full = null;
        foreach (var (name, bucket) in _buckets)
        {
            if (bucket.IsFullAt(now, _time))
            {
                (full ??= []).Add(name);
            }
        }

        foreach (var name in full ?? [])
        {
            _buckets.Remove(name);
        }

        _sweepAt = Math.Max(MinSweepAt, _buckets.Count * 2);
    }

    /// <summary>A token bucket: <see cref="Rate"/> tokens a second up to <see cref="Burst"/>, one token per data point.</summary>
    private sealed class Bucket(string name, int rate, long burst, bool fromOverride, long now)
    {
        private double _tokens = burst;
        private long _updated = now;

        public string Name { get; } = name;

        public int Rate { get; } = rate;

        public long Burst { get; } = burst;

        public bool FromOverride { get; } = fromOverride;

        private bool Unlimited => Rate == 0;

        public void Refill(long now, TimeProvider time)
        {
            if (Unlimited)
            {
                return;
            }

            _tokens = Math.Min(Burst, _tokens + (time.GetElapsedTime(_updated, now).TotalSeconds * Rate));
            _updated = now;
        }

        public bool IsFullAt(long now, TimeProvider time) => Unlimited || _tokens + (time.GetElapsedTime(_updated, now).TotalSeconds * Rate) >= Burst;

        /// <summary>
        /// Seconds until the bucket holds <paramref name="points"/> tokens; 0 = now. A request larger than
        /// the burst needs a full bucket, and then takes the bucket below zero: it is never refused
        /// forever, and the tenant's long-run rate still holds.
        /// </summary>
        public double SecondsUntil(long points)
        {
            var needed = Math.Min(points, Burst);
            return Unlimited || _tokens >= needed ? 0 : (needed - _tokens) / Rate;
        }

        public void Take(long points)
        {
            if (!Unlimited)
            {
                _tokens -= points;
            }
        }
    }
}
