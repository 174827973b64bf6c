using Vigil.Storage.Wal;

namespace Vigil.Storage.Tests.Wal;

/// <summary>
/// Real segment files whose disk can be made "full": writes (or only the syncs) then throw
/// <c>IOException("No space left on device")</c>, as does closing a file (a close that reports a
/// deferred write error), until <see cref="Heal"/>. A write on the full disk first puts half of its
/// bytes into the file, as a real short write does, so a refused record is left half-present.
/// </summary>
public sealed class FlakyWalFiles : IWalFiles
{
    private volatile bool _full;

    /// <summary>Only the fsync fails (delayed allocation): the write itself goes into the page cache.</summary>
    public bool FailSyncOnly { get; init; }

    /// <summary>Truncating back fails too, so the writer must give up the segment.</summary>
    public bool FailTruncate { get; init; }

    public int Failures => Volatile.Read(ref _failures);

    private int _failures;

    public void Fill() => _full = true;

    public void Heal() => _full = false;

    public IWalFile Open(string path) => new File(this, PhysicalWalFiles.Instance.Open(path));

    private void ThrowIfFull()
    {
        if (_full)
        {
            Interlocked.Increment(ref _failures);
            throw new IOException("No space left on device");
        }
    }

    private sealed class File(FlakyWalFiles disk, IWalFile inner) : IWalFile
    {
        public long Length => inner.Length;

        public void Write(ReadOnlySpan<byte> bytes, long offset)
        {
            if (disk._full && !disk.FailSyncOnly)
            {
                inner.Write(bytes[..(bytes.Length / 2)], offset);
                disk.ThrowIfFull();
            }

            inner.Write(bytes, offset);
        }

        public void FlushToDisk()
        {
            disk.ThrowIfFull();
            inner.FlushToDisk();
        }

        public void SetLength(long length)
        {
            if (disk.FailTruncate)
            {
                disk.ThrowIfFull();
            }

            inner.SetLength(length);
        }

        public void Dispose()
        {
            inner.Dispose();
            disk.ThrowIfFull();
        }
    }
}
