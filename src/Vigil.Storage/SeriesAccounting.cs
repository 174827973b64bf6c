namespace Vigil.Storage;

/// <summary>
/// Series counts per tenant and in all, and the admission of a new series against the store's limit,
/// its tenant's limit and the memory pressure. Touched only when a series is created or evicted, never
/// for a point of a known series, so one lock is enough.
/// </summary>
internal sealed class SeriesAccounting
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _tenants = new(StringComparer.Ordinal);
    private int _untenanted;
    private int _total;

    public int Total
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    public int Held(string tenant)
    {
        lock (_lock)
        {
            return _tenants.GetValueOrDefault(tenant);
        }
    }

    /// <summary>The tenants holding series now.</summary>
    public List<string> Tenants()
    {
        lock (_lock)
        {
            return [.. _tenants.Keys];
        }
    }

    /// <summary>Counts a new series of <paramref name="tenant"/> (null: none) or returns why it is refused.</summary>
    public string? TryAdd(string? tenant, int maxSeries, int maxSeriesPerTenant, MemoryPressure pressure)
    {
        lock (_lock)
        {
            if (maxSeries > 0 && _total >= maxSeries)
            {
                return RefusalReasons.StoreSeriesLimit;
            }

            var held = tenant is null ? _untenanted : _tenants.GetValueOrDefault(tenant);

            // Series without a tenant are not one tenant's: the per-tenant limit leaves them alone.
            if (tenant is not null && maxSeriesPerTenant > 0 && held >= maxSeriesPerTenant)
            {
                return RefusalReasons.TenantSeriesLimit;
            }

            if (pressure >= MemoryPressure.NoNewSeries)
            {
                return RefusalReasons.MemoryLimit;
            }

            // Series without a tenant share one place, as if they were one tenant. held * tenants >= total
            // is "at least the average": the flooding tenant first, and with one tenant every new series.
            var tenants = _tenants.Count + (_untenanted > 0 ? 1 : 0);
            if (pressure == MemoryPressure.EqualShare && held > 0 && (long)held * tenants >= _total)
            {
                return RefusalReasons.MemoryLimit;
            }

            Add(tenant);
            return null;
        }
    }

    /// <summary>Counts a series restored from a checkpoint: it counts against the limits but is never refused.</summary>
    public void AddRestored(string? tenant)
    {
        lock (_lock)
        {
            Add(tenant);
        }
    }

    public void Remove(string? tenant)
    {
        lock (_lock)
        {
            _total--;
            if (tenant is null)
            {
                _untenanted--;
            }
            else if (_tenants.TryGetValue(tenant, out var held))
            {
                // A tenant with no series left is no tenant: it must not lower everyone's equal share.
                if (held <= 1)
                {
                    _tenants.Remove(tenant);
                }
                else
                {
                    _tenants[tenant] = held - 1;
                }
            }
        }
    }

    private void Add(string? tenant)
    {
        _total++;
        if (tenant is null)
        {
            _untenanted++;
        }
        else
        {
            _tenants[tenant] = _tenants.GetValueOrDefault(tenant) + 1;
        }
    }
}
