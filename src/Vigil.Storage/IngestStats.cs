using System.Collections.Concurrent;

namespace Vigil.Storage;

/// <summary>Counters behind the self-metrics: points accepted, refused by reason.</summary>
public sealed class IngestStats
{
    private readonly ConcurrentDictionary<string, long> _refused = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _tenantMismatch = new(StringComparer.Ordinal);
    public const int MaxMismatchTenants = 1000;
    public const string OtherTenants = "(other)";

    private long _accepted;

    public long Accepted => Interlocked.Read(ref _accepted);

    public IReadOnlyDictionary<string, long> RefusedByReason => _refused;

    /// <summary>Points refused as tenant_mismatch, by the tenant that was written to (the key's, or the resource's).</summary>
    public IReadOnlyDictionary<string, long> TenantMismatchByTenant => _tenantMismatch;

    internal void AddAccepted(long count) => Interlocked.Add(ref _accepted, count);

    internal void AddRefused(string reason, long count) => _refused.AddOrUpdate(reason, count, (_, c) => c + count);

    /// <summary>
    /// Without ingest keys the tenant is whatever a resource says, so the tenants counted are bounded:
    /// past <see cref="MaxMismatchTenants"/> the rest share <see cref="OtherTenants"/>.
    /// </summary>
    internal void AddTenantMismatch(string tenant, long count)
    {
        if (_tenantMismatch.Count >= MaxMismatchTenants && !_tenantMismatch.ContainsKey(tenant))
        {
            tenant = OtherTenants;
        }

        _tenantMismatch.AddOrUpdate(tenant, count, (_, c) => c + count);
    }
}
