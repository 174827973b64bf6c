using Vigil.Storage;

namespace Vigil.Collector.Tests;

/// <summary>A memory reading the test decides, so a limit can be crossed without allocating gigabytes.</summary>
internal sealed class FakeMemoryGauge : IMemoryGauge
{
    private int _collections;

    /// <summary>What <see cref="UsedBytes"/> answers; typically derived from the store the test drives.</summary>
    public Func<long> Reading { get; set; } = () => 0;

    public int Collections => Volatile.Read(ref _collections);

    public long UsedBytes() => Reading();

    public void Collect() => Interlocked.Increment(ref _collections);
}
