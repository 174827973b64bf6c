using System.Runtime;

namespace Vigil.Storage;

/// <summary>
/// How much memory Vigil holds, and a way to hand garbage back. The memory limit reads it; tests
/// put a fake behind it instead of allocating gigabytes.
/// </summary>
public interface IMemoryGauge
{
    /// <summary>Bytes in use now. Cheap (no collection): it is read once per check interval.</summary>
    long UsedBytes();

    /// <summary>A full, blocking, compacting collection; only called above a limit.</summary>
    void Collect();
}

/// <summary>The managed heap, as the GC counts it.</summary>
public sealed class GcMemoryGauge : IMemoryGauge
{
    public static GcMemoryGauge Instance { get; } = new();

    /// <summary>
    /// Memory the GC may use: the machine's, or the container's limit (of which .NET takes 75% by
    /// default), or GCHeapHardLimit when set.
    /// </summary>
    public static long AvailableBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    // Allocated bytes, garbage not yet collected included: what a collection could bring down. Under
    // the regions GC it can under-count gen0 and even come out negative right after a collection
    // (dotnet/runtime#106712), so never less than what the last collection left alive.
    public long UsedBytes()
    {
        var last = GC.GetGCMemoryInfo();
        return Math.Max(GC.GetTotalMemory(forceFullCollection: false), last.HeapSizeBytes - last.FragmentedBytes);
    }

    public void Collect()
    {
        // The stripe maps of many series live on the large object heap, which is only compacted on request.
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }
}
