using System.Collections.Concurrent;

namespace Vigil.Storage;

/// <summary>Counters behind the self-metrics: points accepted, refused by reason.</summary>
public sealed class IngestStats
{
    private readonly ConcurrentDictionary<string, long> _refused = new(StringComparer.Ordinal);
    private long _accepted;

    public long Accepted => Interlocked.Read(ref _accepted);

    public IReadOnlyDictionary<string, long> RefusedByReason => _refused;

    internal void AddAccepted(long count) => Interlocked.Add(ref _accepted, count);

    internal void AddRefused(string reason, long count) => _refused.AddOrUpdate(reason, count, (_, c) => c + count);
}
