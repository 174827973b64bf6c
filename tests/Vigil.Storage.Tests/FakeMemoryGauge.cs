namespace Vigil.Storage.Tests;

/// <summary>A memory reading the test decides, so a limit can be crossed without allocating gigabytes.</summary>
internal sealed class FakeMemoryGauge : IMemoryGauge
{
    public Func<long> Reading { get; set; } = () => 0;

    /// <summary>What a collection reclaims, in the test's model.</summary>
    public Action OnCollect { get; set; } = () => { };

    public long UsedBytes() => Reading();

    public void Collect() => OnCollect();
}
