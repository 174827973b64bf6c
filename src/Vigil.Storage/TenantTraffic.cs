using System.Collections.Concurrent;

namespace Vigil.Storage;

/// <summary>One tenant's line of <c>/api/v1/status/tenants</c>: what a shard holds and takes for it.</summary>
/// <param name="Series">Series held now (the count <c>storage.max_series_per_tenant</c> limits).</param>
/// <param name="AcceptedPerSecond">Points accepted per second over the last minute (<see cref="TenantTraffic.RateWindow"/>).</param>
/// <param name="Accepted">Points accepted since start.</param>
/// <param name="Refused">Points refused since start, for any reason.</param>
public sealed record TenantStatus(string Tenant, int Series, double AcceptedPerSecond, long Accepted, long Refused);

/// <summary>
/// Points accepted and refused per tenant, and the accepted rate over the last minute, for rebalancing
/// tenants across shards. The hot path only increments a counter the series (or the resource) already
/// holds; the rate comes from snapshots of that counter taken with the store's clock when the store is
/// swept (once per resolution) and when the status is read, so no point pays for a clock or a lookup.
/// </summary>
public sealed class TenantTraffic
{
    /// <summary>The span the rate is measured over.</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Counter> _tenants = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    internal TenantTraffic(TimeProvider time) => _time = time;

    /// <summary>
    /// Tenants counted for refused points alone, past which a new one is not counted (<see cref="Counter.None"/>):
    /// without ingest keys any resource can name a tenant, and refused points make no series to bound them.
    /// </summary>
    public const int MaxRefusedOnlyTenants = 10_000;

    /// <summary>The counter of a tenant, made on first sight with a zero snapshot at that instant.</summary>
    internal Counter For(string tenant) => _tenants.GetOrAdd(tenant, static (_, now) => new Counter(now), _time.GetUtcNow());

    /// <summary>The counter refused points of <paramref name="tenant"/> go to; <see cref="Counter.None"/> past <see cref="MaxRefusedOnlyTenants"/> new tenants.</summary>
    internal Counter ForRefused(string tenant) =>
        _tenants.TryGetValue(tenant, out var counter) ? counter : _tenants.Count >= MaxRefusedOnlyTenants ? Counter.None : For(tenant);

    /// <summary>Snapshots every tenant's accepted total now; forgets tenants with no series and nothing counted for a minute.</summary>
    internal void Sample(Func<string, int> series)
    {
        var now = _time.GetUtcNow();
        foreach (var (tenant, counter) in _tenants)
        {
            if (counter.Sample(now) && series(tenant) == 0)
            {
                _tenants.TryRemove(new KeyValuePair<string, Counter>(tenant, counter));
            }
        }
    }

    /// <summary>Every tenant seen, sorted by series held, most first (then by name).</summary>
    internal List<TenantStatus> Status(Func<string, int> series, IEnumerable<string> heldTenants)
    {
        foreach (var tenant in heldTenants)
        {
            For(tenant);
        }

        Sample(series);
        var now = _time.GetUtcNow();
        var result = new List<TenantStatus>(_tenants.Count);
        foreach (var (tenant, counter) in _tenants)
        {
            result.Add(new TenantStatus(tenant, series(tenant), counter.Rate(now), counter.Accepted, counter.Refused));
        }

        result.Sort(static (a, b) => a.Series != b.Series ? b.Series.CompareTo(a.Series) : string.CompareOrdinal(a.Tenant, b.Tenant));
        return result;
    }

    /// <summary>One tenant's totals and the snapshots the rate is measured between.</summary>
    internal sealed class Counter
    {
        private const int Snapshots = 16;
        private static readonly TimeSpan Spacing = RateWindow / 12;

        /// <summary>Stands for "no tenant" once a series or resource was looked at; never listed, never counted into.</summary>
        public static readonly Counter None = new(DateTimeOffset.MinValue);

        private readonly Lock _lock = new();
        private readonly DateTimeOffset[] _at = new DateTimeOffset[Snapshots];
        private readonly long[] _value = new long[Snapshots];
        private int _newest;
        private int _count;
        private long _accepted;
        private long _refused;
        private long _refusedSeen;
        private DateTimeOffset _lastActivity;

        public Counter(DateTimeOffset created)
        {
            _at[0] = created;
            _lastActivity = created;
            _count = 1;
        }

        public long Accepted => Interlocked.Read(ref _accepted);

        public long Refused => Interlocked.Read(ref _refused);

        public void AddAccepted(long count) => Interlocked.Add(ref _accepted, count);

        public void AddRefused(long count) => Interlocked.Add(ref _refused, count);

        /// <summary>Records the accepted total at <paramref name="now"/>; true when nothing moved for a whole window.</summary>
        public bool Sample(DateTimeOffset now)
        {
            lock (_lock)
            {
                var accepted = Accepted;
                if (now <= _at[_newest])
                {
                    return false;
                }

                var refused = Refused;
                if (accepted != _value[_newest] || refused != _refusedSeen)
                {
                    _refusedSeen = refused;
                    _lastActivity = now;
                }

                var idle = now - _lastActivity >= RateWindow;

                // Snapshots at least Spacing apart: 16 of them span more than the window, so the one the rate is measured
                // from is never dropped, and it is at most Spacing older than a minute. The rate reads the live total for now.
                if (now - _at[_newest] >= Spacing)
                {
                    _newest = (_newest + 1) % Snapshots;
                    _count = Math.Min(_count + 1, Snapshots);
                    _at[_newest] = now;
                    _value[_newest] = accepted;
                }

                return idle;
            }
        }

        /// <summary>(accepted now − accepted at the newest snapshot at least a window old) ÷ the time between them.</summary>
        public double Rate(DateTimeOffset now)
        {
            lock (_lock)
            {
                var from = Reference(now);
                var seconds = (now - _at[from]).TotalSeconds;
                return seconds <= 0 ? 0 : (Accepted - _value[from]) / seconds;
            }
        }

        private int Oldest() => (_newest - _count + 1 + Snapshots) % Snapshots;

        // The newest snapshot at or before now − window; before a window has passed, the oldest (the tenant's first sight).
        private int Reference(DateTimeOffset now)
        {
            var limit = now - RateWindow;
            for (var i = 0; i < _count; i++)
            {
                var index = (_newest - i + Snapshots) % Snapshots;
                if (_at[index] <= limit)
                {
                    return index;
                }
            }

            return Oldest();
        }
    }
}
